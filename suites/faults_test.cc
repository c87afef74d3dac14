// Faults injected on purpose: the SLO matchers must catch them and say so.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <migtest/fixtures.hpp>
#include <migtest/matchers.hpp>

namespace {

using namespace std::chrono_literals;
using namespace migtest;
using ::testing::HasSubstr;
using ::testing::Lt;
using ::testing::Not;

class Faults : public MigrationTest {};

// A 300 ms stall injected into iteration 2's dirty-bitmap sync: NoIterationStallAbove(100ms) must
// fail, and its explanation must name the iteration and the stall. Iteration 2 is a precopy round
// or, when precopy converges after one round, the stop-and-copy round (whose sync the engine also
// times as an iteration; the stall then adds to the downtime): the matcher must catch it either
// way.
TEST_F(Faults, InjectedSyncStallIsCaught) {
  const Scenario s = {.memory = 128_MiB,
                      .dirty = {.rate = 50_MiBps},
                      .mode = Mode::Precopy,
                      .downtime_limit = 1ms,
                      .max_iterations = 6,
                      .inject_stall = StallInjection{.iteration = 2, .duration = 300ms},
                      .probe = {.interval = 10ms}};
  MIGTEST_SKIP_IF_UNSUPPORTED(s);  // the engine's own fault knobs
  RunResult run = Migrate(s);
  ASSERT_TRUE(run.migration);
  EXPECT_THAT(run.migration, Not(NoIterationStallAbove(100ms)));
  testing::StringMatchResultListener why;
  EXPECT_FALSE(testing::ExplainMatchResult(NoIterationStallAbove(100ms), run.migration, &why));
  EXPECT_THAT(why.str(), HasSubstr("iteration 2"));
  EXPECT_THAT(run.migration, MemoryVerified()) << "a stall must not corrupt memory";
}

// The migration connection breaks after 64 MiB (about 0.6 s in, the link capped at 100 MiB/s): the
// migration fails with a reason, and the guest keeps running on the source all along (the prober
// never loses it for long).
TEST_F(Faults, DroppedConnectionFailsClearlyAndTheSourceKeepsRunning) {
  const Scenario s = {.memory = 256_MiB,
                      .dirty = {.rate = 50_MiBps},
                      .mode = Mode::Precopy,
                      .max_bandwidth = 100_MiBps,
                      .inject_drop_after = 64_MiB,
                      .probe = {.interval = 5ms}};
  MIGTEST_SKIP_IF_UNSUPPORTED(s);  // QEMU: suites/qemu_test.cc breaks the link with fault
  RunResult run = Migrate(s);
  ASSERT_TRUE(run.migration);
  EXPECT_EQ(ToString(run.migration->status), "failed");
  ASSERT_TRUE(run.migration->error);
  EXPECT_FALSE(run.migration->error->empty());
  // The SLO matchers report the failed migration instead of passing on missing numbers.
  EXPECT_THAT(run.migration, Not(MemoryVerified()));
  ASSERT_TRUE(run.probe);
  EXPECT_THAT(run.probe, GuestBlackout(Lt(500ms)))
      << "the guest should have kept answering on the source";
  EXPECT_GT(run.probe->received.value_or(0), 0u);
}

// The destination killed 1 s into a precopy (SIGKILL: an OOM kill, a crashed VMM): the migration
// fails with the reason, and the guest, which never left the source, keeps running there: it
// answers the prober and its memory verifies, page by page as the writers rewrite it and all of it
// at the end (QEMU: suites/qemu_test.cc has the same fault on a real VMM).
TEST_F(Faults, KilledDestinationLeavesTheGuestWholeOnTheSource) {
  const Scenario s = {
      .memory = 256_MiB,
      .dirty = {.rate = 50_MiBps, .pattern = Pattern::Random},
      .mode = Mode::Precopy,
      .max_bandwidth = 50_MiBps,
      .fault = FaultInjection{.kind = FaultInjection::Kind::kKillDestination, .after = 1s},
      .probe = {.interval = 5ms}};
  MIGTEST_SKIP_IF_UNSUPPORTED(s);
  RunResult run = Migrate(s);
  ASSERT_TRUE(run.migration);
  EXPECT_EQ(run.migration->status, Status::kFailed);
  EXPECT_TRUE(run.migration->error) << "a failed migration says why";
  EXPECT_THAT(run, GuestHealthy(3s)) << "the guest must keep running, whole, on the source";
  ASSERT_TRUE(run.guest);
  EXPECT_EQ(run.guest->answered, true) << "the source's guest must still answer the prober";
  EXPECT_THAT(run.probe, GuestBlackout(Lt(1s))) << "the guest never left the source";
}

}  // namespace
