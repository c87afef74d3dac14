// Postcopy SLOs: the destination runs before all pages are there; page requests are answered fast
// enough, the migration completes, and memory verifies.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <migtest/fixtures.hpp>
#include <migtest/matchers.hpp>

namespace {

using namespace std::chrono_literals;
using namespace migtest;
using ::testing::Gt;
using ::testing::Lt;

class PostcopySlo : public MigrationTest {};

// A page request over loopback takes well under a millisecond; the p99 bound of 100 ms is for a
// loaded 2-core runner and still catches requests queued behind the background stream.
TEST_F(PostcopySlo, BusyGuestCompletesWithFastPageRequests) {
  RunResult run = Migrate({.memory = 256_MiB,
                           .vcpus = 2,
                           .dirty = {.rate = 200_MiBps, .pattern = Pattern::Random},
                           .mode = Mode::Postcopy,
                           .postcopy_after = 1,
                           .probe = {.interval = 5ms}});
  ASSERT_TRUE(run.migration);
  EXPECT_EQ(ToString(run.migration->status), "completed") << run.migration->error.value_or("");
  EXPECT_THAT(run.migration, MemoryVerified());
  EXPECT_THAT(run.migration, PostcopyLatency(Percentile(99), Lt(100ms)));
  EXPECT_THAT(run.migration, MaxDowntime(Lt(1s)));
  EXPECT_THAT(run.probe, GuestBlackout(Lt(2s)));
}

// Straight to postcopy, no precopy pass, the background push capped at 64 MiB/s: every page the
// guest touches before the push brings it is a request. (A sequential writer trails the
// sequential push and never faults: the guest touches pages at random here.)
TEST_F(PostcopySlo, ImmediatePostcopyCompletesAndVerifies) {
  const Scenario s = {.memory = 128_MiB,
                      .dirty = {.rate = 100_MiBps, .pattern = Pattern::Random},
                      .mode = Mode::Postcopy,
                      .max_bandwidth = 64_MiBps,
                      .probe = {.interval = 10ms}};
  MIGTEST_SKIP_IF_UNSUPPORTED(s);  // 128 MiB: too small a guest for QEMU
  RunResult run = Migrate(s);
  ASSERT_TRUE(run.migration);
  EXPECT_EQ(ToString(run.migration->status), "completed") << run.migration->error.value_or("");
  EXPECT_THAT(run.migration, MemoryVerified());
  ASSERT_TRUE(run.migration->postcopy_latency);
  EXPECT_GT(run.migration->postcopy_latency->Count(), 0u) << "no page request was recorded";
  EXPECT_THAT(run.migration, PostcopyLatency(Percentile(99), Lt(100ms)));
}

}  // namespace
