// The qemu backend's harness failures: each says what went wrong, and nothing is left running
// (the fixture's leak checker fails a test whose children outlive it). The migrations themselves
// are the QEMU suite's business (suites/qemu_test.cc).
#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <fstream>
#include <migtest/fixtures.hpp>

namespace migtest {
namespace {

using namespace std::chrono_literals;

class QemuBackendTest : public MigrationTest {
 protected:
  QemuBackendTest() : MigrationTest("qemu") {}
};

TEST_F(QemuBackendTest, AMissingBinaryIsNamed) {
  EXPECT_NONFATAL_FAILURE(Migrate({.qemu = {.binary = "/nonexistent/qemu-system-x86_64"}}),
                          "/nonexistent/qemu-system-x86_64");
}

TEST_F(QemuBackendTest, AQemuThatRefusesItsCommandLineIsQuoted) {
  EXPECT_NONFATAL_FAILURE(Migrate({.qemu = {.extra_args = {"-no-such-option"}}}),
                          "no QMP from the source QEMU");
  // QEMU's own words are in the message: its last line names the option.
  EXPECT_NONFATAL_FAILURE(Migrate({.qemu = {.extra_args = {"-no-such-option"}}}),
                          "-no-such-option");
}

// A capability or parameter QEMU does not know fails the run before anything migrates, with
// QEMU's own error and the side that refused it.
TEST_F(QemuBackendTest, AnUnknownCapabilityIsRefusedInQemusWords) {
  EXPECT_NONFATAL_FAILURE(Migrate({.qemu = {.capabilities = {{"no-such-capability", true}}}}),
                          "the source refused capabilities");
  EXPECT_NONFATAL_FAILURE(Migrate({.qemu = {.capabilities = {{"no-such-capability", true}}}}),
                          "no-such-capability");
}

TEST_F(QemuBackendTest, AnUnknownParameterIsRefusedInQemusWords) {
  EXPECT_NONFATAL_FAILURE(Migrate({.qemu = {.parameters = {{"no-such-parameter", 1}}}}),
                          "the source refused parameters");
  EXPECT_NONFATAL_FAILURE(Migrate({.qemu = {.parameters = {{"multifd-channels", "four"}}}}),
                          "multifd-channels");
}

// A QEMU that never boots the guest (seen: KVM failing with "KVM internal error", the vCPU stopped
// and QEMU still running) fails within the scenario's timeout, not the boot's own 120 s, and
// quotes what the VMM said last on stderr. Here: the real QEMU started with -S (vCPUs never run)
// behind a wrapper that first says what a failing KVM says.
TEST_F(QemuBackendTest, AGuestThatNeverBootsFailsWithinTheTimeoutQuotingTheVmm) {
  std::string why;
  auto qemu = FindQemu({}, &why);
  ASSERT_TRUE(qemu) << why;
  const std::filesystem::path wrapper = artifacts() / "stuck-qemu";
  std::ofstream(wrapper) << "#!/bin/sh\necho 'KVM internal error. Suberror: 1' >&2\nexec "
                         << qemu->exe.string() << " \"$@\" -S\n";
  std::filesystem::permissions(wrapper, std::filesystem::perms::owner_all);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_NONFATAL_FAILURE(Migrate({.timeout = 8s, .qemu = {.binary = wrapper}}),
                          "the guest did not boot on the source (the scenario's timeout is 8 s)");
  const auto took = std::chrono::steady_clock::now() - started;
  // 8 s (scaled) and the time to start and stop two QEMUs; the boot's own limit is 120 s.
  EXPECT_LT(took, Scaled(8s) + 30s);
  EXPECT_NONFATAL_FAILURE(Migrate({.timeout = 8s, .qemu = {.binary = wrapper}}),
                          "its last stderr line: 'KVM internal error. Suberror: 1'");
}

TEST_F(QemuBackendTest, FindQemuListsItsTracePoints) {
  std::string why;
  auto q = FindQemu({}, &why);
  ASSERT_TRUE(q) << why;
  if (q->major < 10 && !InCi()) GTEST_SKIP() << q->version << ": the suite wants QEMU 10";
  for (const char* event : {"migration_bitmap_sync_start", "vmstate_downtime_checkpoint",
                            "vmstate_downtime_load", "savevm_section_end"}) {
    EXPECT_TRUE(q->trace_events.contains(event)) << event;
  }
}

TEST_F(QemuBackendTest, FindQemuReportsTheVersion) {
  std::string why;
  auto q = FindQemu({}, &why);
  ASSERT_TRUE(q) << why;
  EXPECT_THAT(q->version, ::testing::StartsWith("QEMU emulator version "));
  if (q->major < 10 && !InCi())
    GTEST_SKIP() << q->version << ": the suite wants QEMU 10 (ci/install-qemu)";
  EXPECT_GE(q->major, 10) << "ci/install-qemu installs QEMU 10 from bookworm-backports";
}

}  // namespace
}  // namespace migtest
