// Precopy SLOs on the embedded engine: an idle guest, a busy guest, one that dirties faster than
// any downtime limit allows, and one that auto-converge brings home.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <migtest/fixtures.hpp>
#include <migtest/matchers.hpp>

namespace {

using namespace std::chrono_literals;
using namespace migtest;
using ::testing::DoubleEq;
using ::testing::Gt;
using ::testing::Le;
using ::testing::Lt;
using ::testing::Not;

class PrecopySlo : public MigrationTest {};

// Nothing to re-send: one pass and a stop-and-copy of almost nothing. On loopback the idle downtime
// is a few ms (at most 9 ms in 10 runs under stress-ng --cpu 2); 100 ms leaves room for a loaded
// runner and still catches a stop-and-copy that re-sends all memory (256 MiB at loopback's
// ~1.4 GiB/s is ~180 ms).
TEST_F(PrecopySlo, IdleGuestMigratesWithShortDowntime) {
  const Scenario s = {.memory = 256_MiB,
                      .mode = Mode::Precopy,
                      .downtime_limit = 100ms,
                      .probe = {.interval = 5ms}};
  RunResult run = Migrate(s);
  EXPECT_THAT(run.migration, Converged());
  if (Measures(Figure::kMemoryVerified, s)) {
    EXPECT_THAT(run.migration, MemoryVerified());
  }
  EXPECT_THAT(run.migration, MaxDowntime(Lt(100ms)));
  EXPECT_THAT(run.migration, Iterations(Le(5u)));
  // The engine's idle guest writes nothing at all (a QEMU guest's idle kernel still does).
  if (BackendName(s) == "engine") {
    EXPECT_THAT(run.migration, PagesResent(0u));
  }
  EXPECT_THAT(run.migration, TotalMigrationTime(Lt(60s)));
  EXPECT_THAT(run.probe, GuestBlackout(Lt(1s)));
}

// A guest writing 50 MiB/s (random pages) over loopback (GiB/s): the pages it dirtied during
// precopy are sent again, and precopy still converges by itself within a few iterations; the
// downtime stays under the limit it was given plus the estimate's error (at most 49 ms in 10 runs
// under stress-ng --cpu 2, for a 200 ms limit).
TEST_F(PrecopySlo, BusyGuestMeetsDowntime) {
  RunResult run = Migrate({.memory = 256_MiB,
                           .vcpus = 2,
                           .dirty = {.rate = 50_MiBps, .pattern = Pattern::Random},
                           .mode = Mode::Precopy,
                           .downtime_limit = 200ms,
                           .probe = {.interval = 5ms}});
  EXPECT_THAT(run.migration, Converged());
  EXPECT_THAT(run.migration, MemoryVerified());
  EXPECT_THAT(run.migration, MaxDowntime(Lt(400ms)));
  // What makes it busy: the pages it dirtied during precopy were sent again (every run has a
  // second round, the stop-and-copy, so counting rounds would not tell).
  EXPECT_THAT(run.migration, PagesResent(Gt(0u)));
  EXPECT_THAT(run.migration, Iterations(Le(5u)));
  EXPECT_THAT(run.migration, TotalMigrationTime(Lt(90s)));
  EXPECT_THAT(run.probe, GuestBlackout(Lt(2s)));
}

// A guest dirtying 4x faster than the (capped) link carries: every iteration finds as much to
// re-send as the last, so precopy gives up at its iteration cap and says it did not converge (the
// engine then stops and copies anyway; memory still verifies).
TEST_F(PrecopySlo, OverDirtyingGuestDoesNotConverge) {
  const Scenario s = {.memory = 64_MiB,
                      .vcpus = 2,
                      .dirty = {.rate = 200_MiBps, .pattern = Pattern::Random},
                      .mode = Mode::Precopy,
                      .downtime_limit = 1ms,
                      .max_bandwidth = 50_MiBps,
                      .max_iterations = 4,
                      .probe = {.interval = 10ms}};
  MIGTEST_SKIP_IF_UNSUPPORTED(s);  // QEMU has no iteration cap, and its guest needs 128 MiB
  RunResult run = Migrate(s);
  EXPECT_THAT(run.migration, Not(Converged()));
  EXPECT_THAT(run.migration, Iterations(Le(5u)));
  EXPECT_THAT(run.migration, MemoryVerified());
}

// Auto-converge: a guest dirtying its 64 MiB at random as fast as the capped link carries them
// does not get under a 100 ms downtime on its own; throttled as QEMU throttles (20 %, then 10 %
// more after every two rounds that dirtied over half of what they sent) it converges, and each
// throttled iteration says by how much. The same guest without auto-converge (the break-it) has
// no throttled iteration and needs more iterations (or never converges within the cap).
TEST_F(PrecopySlo, AutoConvergeThrottlesAnOverDirtyingGuestUntilItConverges) {
  Scenario s = {.memory = 64_MiB,
                .dirty = {.rate = 100_MiBps, .pattern = Pattern::Random},
                .mode = Mode::Precopy,
                .downtime_limit = 100ms,
                .max_bandwidth = 100_MiBps,
                .max_iterations = 12,
                .auto_converge = true,
                .probe = {.interval = 10ms}};
  MIGTEST_SKIP_IF_UNSUPPORTED(s);  // the iteration cap is the engine's
  const RunResult run = Migrate(s);
  EXPECT_THAT(run.migration, Converged());
  EXPECT_THAT(run.migration, FirstCpuThrottle(DoubleEq(20)));
  EXPECT_THAT(run.migration, MaxCpuThrottle(Le(99)));
  EXPECT_THAT(run.migration, MemoryVerified());
  ASSERT_TRUE(run.migration.has_value());

  s.auto_converge = false;
  const RunResult unthrottled = Migrate(s);
  EXPECT_THAT(unthrottled.migration, Not(MaxCpuThrottle(Le(99))));
  EXPECT_THAT(unthrottled.migration, Iterations(Gt(run.migration->iterations.size())));
}

}  // namespace
