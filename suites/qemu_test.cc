// Live migration of a real QEMU (10.0 from bookworm-backports, TCG on CI machines) with migtest's
// own guest: Debian's kernel, busybox and a static migmon that dirties and verifies its memory and
// answers UDP probes. One VM pair at a time, 512 MiB guests, sized for 2 cores under TCG.
//
// Bounds come from repeated runs on the CI machine kind (2 cores, TCG); see the closing note of
// issue 7 for the table. TCG is slow and noisy, so the bounds are loose; each says what it would
// still catch.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <migtest/fixtures.hpp>
#include <migtest/matchers.hpp>

namespace {

using namespace std::chrono_literals;
using namespace migtest;
using ::testing::Ge;
using ::testing::Le;
using ::testing::Lt;
using ::testing::Not;

class QemuSlo : public MigrationTest {
 protected:
  QemuSlo() : MigrationTest("qemu") {}
};

TEST_F(QemuSlo, IdleGuestPrecopy) {
  RunResult run = Migrate({.memory = 512_MiB, .mode = Mode::Precopy});
  EXPECT_THAT(run.migration, Converged());
  EXPECT_THAT(run.migration, MaxDowntime(Lt(1s)));
  EXPECT_THAT(run.migration, TotalMigrationTime(Lt(30s)));
  EXPECT_THAT(run.probe, GuestBlackout(Lt(2s)));
}

}  // namespace
