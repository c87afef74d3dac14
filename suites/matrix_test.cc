// A small matrix (size × dirty rate × mode) with TEST_P: every combination completes, verifies,
// and keeps the guest's blackout bounded. Test names read as 64MiB_idle_precopy, …
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <migtest/fixtures.hpp>
#include <migtest/matchers.hpp>

namespace {

using namespace std::chrono_literals;
using namespace migtest;
using ::testing::Lt;

class Matrix : public MigrationTestWithParam<Scenario> {};

TEST_P(Matrix, CompletesAndVerifies) {
  MIGTEST_SKIP_IF_UNSUPPORTED(GetParam());  // 64 MiB: too small a guest for QEMU
  RunResult run = Migrate(GetParam());
  ASSERT_TRUE(run.migration);
  EXPECT_EQ(ToString(run.migration->status), "completed") << run.migration->error.value_or("");
  if (Measures(Figure::kMemoryVerified, GetParam())) {
    EXPECT_THAT(run.migration, MemoryVerified());
  }
  EXPECT_THAT(run.migration, MaxDowntime(Lt(1s)));
  EXPECT_THAT(run.probe, GuestBlackout(Lt(2s)));
}

INSTANTIATE_TEST_SUITE_P(
    SizeRateMode, Matrix,
    testing::Values(Scenario{.memory = 64_MiB, .mode = Mode::Precopy, .probe = {.interval = 10ms}},
                    Scenario{.memory = 64_MiB,
                             .dirty = {.rate = 50_MiBps},
                             .mode = Mode::Postcopy,
                             .postcopy_after = 1,
                             .probe = {.interval = 10ms}},
                    Scenario{.memory = 256_MiB,
                             .dirty = {.rate = 50_MiBps},
                             .mode = Mode::Precopy,
                             .probe = {.interval = 10ms}},
                    Scenario{
                        .memory = 256_MiB, .mode = Mode::Postcopy, .probe = {.interval = 10ms}}),
    ScenarioName());

}  // namespace
