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

// A field of the run's extra record (`pointer`: "/fault/fired"), or `otherwise` when absent.
template <typename T>
T Extra(const RunResult& run, const char* pointer, T otherwise) {
  const nlohmann::json::json_pointer p(pointer);
  return run.extra.contains(p) ? run.extra.at(p).get<T>() : otherwise;
}

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

// The source killed (SIGKILL) 1.5 s into a postcopy: the guest already runs on the destination,
// but part of its memory was still on the source. The destination must say so (the source is
// gone, during postcopy, how many pages never arrived) and exit non-zero, promptly: its vCPUs
// blocked on missing pages must not hang it. The same migration without the kill completes, so
// the failure is the kill's.
TEST_F(Faults, KilledSourceMidPostcopyFailsOnTheDestination) {
  Scenario s = {.memory = 128_MiB,
                .dirty = {.rate = 50_MiBps, .pattern = Pattern::Random},
                .mode = Mode::Postcopy,
                .max_bandwidth = 25_MiBps,  // the push takes ~5 s: the kill lands inside it
                .probe = {.enabled = false}};
  MIGTEST_SKIP_IF_UNSUPPORTED(s);
  RunResult control = Migrate(s);
  ASSERT_TRUE(control.migration);
  EXPECT_EQ(control.migration->status, Status::kCompleted);
  EXPECT_THAT(control.migration, MemoryVerified());

  s.fault = FaultInjection{.kind = FaultInjection::Kind::kKillSource, .after = 1500ms};
  MIGTEST_SKIP_IF_UNSUPPORTED(s);  // QEMU: the engine's fault
  RunResult run = Migrate(s);
  ASSERT_TRUE(run.migration);
  EXPECT_EQ(Extra(run, "/fault/fired", false), true) << run.extra.dump();
  EXPECT_EQ(run.migration->status, Status::kFailed);
  ASSERT_TRUE(run.migration->error);
  EXPECT_THAT(*run.migration->error, HasSubstr("from the source"));
  EXPECT_THAT(*run.migration->error, HasSubstr("(during postcopy"));
  EXPECT_THAT(*run.migration->error, HasSubstr("pages never arrived: the guest is lost"));
  EXPECT_EQ(Extra<std::string>(run, "/exit/destination", ""), "exited with code 1")
      << "the destination must end by itself, with a failure";
  EXPECT_TRUE(run.migration->downtime) << "the guest did pause and resume: that was measured";
  EXPECT_THAT(run.migration, Not(MemoryVerified()));
}

// The destination's link goes down (`ip link set … down` inside its network namespace) 1 s into a
// precopy: no reset reaches either side, the stream just stops. The fixture cancels the migration
// at the scenario's timeout (SIGUSR1: the engine's migrate_cancel); the result says so and names
// the phase it was stuck in, and the guest, which never left, runs on whole on the source. The
// same migration with the link up finishes within the timeout, so the stop is the link's.
TEST_F(Faults, LinkDownMidPrecopyIsCancelledAtTheTimeoutNamingThePhase) {
  Scenario s = {.memory = 128_MiB,
                .dirty = {.rate = 5_MiBps, .pattern = Pattern::Random},
                .mode = Mode::Precopy,
                .max_bandwidth = 50_MiBps,  // the first pass takes ~2.6 s: the fault lands in it
                .probe = {.interval = 5ms},
                .timeout = 8s};
  s.fault = FaultInjection{.kind = FaultInjection::Kind::kBreakLink, .after = 1s};
  MIGTEST_SKIP_IF_UNSUPPORTED(s);  // root; QEMU: suites/qemu_test.cc breaks its link its own way
  s.fault->after = 60s;            // the control: the same namespace, the link never goes down
  RunResult control = Migrate(s);
  ASSERT_TRUE(control.migration);
  EXPECT_EQ(control.migration->status, Status::kCompleted);
  EXPECT_EQ(Extra(control, "/fault/fired", true), false);
  EXPECT_FALSE(control.probe) << "the prober cannot reach the guest in the destination's "
                                 "namespace: its blackout would be the harness's, not measured";

  s.fault->after = 1s;
  RunResult run = Migrate(s);
  ASSERT_TRUE(run.migration);
  EXPECT_EQ(Extra(run, "/fault/fired", false), true) << run.extra.dump();
  EXPECT_EQ(run.migration->status, Status::kCancelled);
  ASSERT_TRUE(run.migration->error);
  EXPECT_THAT(*run.migration->error, HasSubstr("not finished within the scenario's timeout (8 s)"));
  EXPECT_THAT(*run.migration->error, HasSubstr("(during precopy iteration "));
  EXPECT_THAT(run, GuestHealthy(3s)) << "the guest must keep running, whole, on the source";
  ASSERT_TRUE(run.guest);
  EXPECT_EQ(run.guest->answered, true) << "the source's guest must still answer the prober";
  EXPECT_THAT(run.probe, GuestBlackout(Lt(1s))) << "the guest never left the source";
}

}  // namespace
