// The smallest migtest suite a VMM repository writes: one migration on the embedded engine (the
// migmon of the migtest package this was built against), judged by matchers.
#include <migtest/fixtures.hpp>
#include <migtest/matchers.hpp>

namespace {

using namespace std::chrono_literals;
using namespace migtest;
using ::testing::Ge;
using ::testing::Lt;

class ConsumerSlo : public MigrationTest {};

TEST_F(ConsumerSlo, BusyGuestMigratesAndVerifies) {
  RunResult run = Migrate({.memory = 64_MiB, .dirty = {.rate = 20_MiBps}, .timeout = 60s});
  EXPECT_THAT(run.migration, MemoryVerified());
  EXPECT_THAT(run.migration, MaxDowntime(Lt(5s)));
  EXPECT_THAT(run.migration, Iterations(Ge(1u)));
  RecordProperty("migmon", MigmonPath().string());
}

}  // namespace
