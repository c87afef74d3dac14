// The qemu backend's harness failures: each says what went wrong, and nothing is left running
// (the fixture's leak checker fails a test whose children outlive it). The migrations themselves
// are the QEMU suite's business (suites/qemu_test.cc).
#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <migtest/fixtures.hpp>
#include <migtest/fixtures/qemu.hpp>
#include <migtest/matchers.hpp>
#include <migtest/results/parse.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "failures.hpp"

namespace migtest {
namespace {

using namespace std::chrono_literals;
using test::Failures;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;

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
  EXPECT_THAT(Failures([&] {
                Migrate({.qemu = {.capabilities = {{"no-such-capability", true}}}});
              }),
              Contains(AllOf(HasSubstr("the source refused capabilities"),
                             HasSubstr("no-such-capability"))));
}

TEST_F(QemuBackendTest, AnUnknownParameterIsRefusedInQemusWords) {
  EXPECT_NONFATAL_FAILURE(Migrate({.qemu = {.parameters = {{"no-such-parameter", 1}}}}),
                          "the source refused parameters");
  EXPECT_NONFATAL_FAILURE(Migrate({.qemu = {.parameters = {{"multifd-channels", "four"}}}}),
                          "multifd-channels");
}

// QemuSpec::converge_at_throttle reads a throttle only auto-converge makes: without it the run
// fails before QEMU starts, naming the knob (it would wait for a throttle that never comes).
TEST_F(QemuBackendTest, ConvergeAtThrottleWithoutAutoConvergeIsRefused) {
  EXPECT_NONFATAL_FAILURE(Migrate({.qemu = {.converge_at_throttle = 50}}),
                          "qemu.converge_at_throttle needs auto_converge");
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
  // One run, both phrases in one failure: a second run would wait out a second timeout.
  EXPECT_THAT(Failures([&] { Migrate({.timeout = 4s, .qemu = {.binary = wrapper}}); }),
              Contains(AllOf(
                  HasSubstr("the guest did not boot on the source (the scenario's timeout is 4 s)"),
                  HasSubstr("its last stderr line: 'KVM internal error. Suberror: 1'"))));
  const auto took = std::chrono::steady_clock::now() - started;
  // 4 s (scaled) and the time to start and stop two QEMUs; the boot's own limit is 120 s.
  EXPECT_LT(took, Scaled(4s) + 30s);
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

// The pieces that judge a run, on results made by hand (no QEMU needed).

// A guest console after a completed migration: the dirtier's lines, its sweep as far as `checked`.
RunResult GuestRun(const std::string& sweep) {
  RunResult run;
  run.migration.emplace();
  run.migration->format = Format::kQemuQmp;
  run.migration->status = Status::kCompleted;
  std::istringstream console(
      "dirty-rate: 100 (MB/s), time (ms): 1000, load: 9.00%\n"
      "verify-sweep 1: started, 65536 pages in the working set\n" +
      sweep + "dirty-rate: 100 (MB/s), time (ms): 1000, load: 9.00%\n");
  run.guest = ParseGuestConsole(console, "destination.stdout.log");
  VerifiedByGuest(run, 256);
  return run;
}

std::string Explain(const RunResult& run, bool* matched) {
  testing::StringMatchResultListener why;
  *matched = testing::ExplainMatchResult(MemoryVerified(), run.migration, &why);
  return why.str();
}

TEST(VerifiedByGuestTest, APartialSweepIsNoVerificationAndSaysItsCoverage) {
  RunResult run = GuestRun("verify-sweep 1: checked 45219 of 65536 pages\n");
  EXPECT_FALSE(run.migration->verified) << "69 % checked: not verified (absent), not true";
  bool matched = true;
  const std::string why = Explain(run, &matched);
  EXPECT_FALSE(matched);
  EXPECT_THAT(why, HasSubstr("not verified in full"));
  EXPECT_THAT(why, HasSubstr("45219 of 65536 pages (68.9 %) checked after the migration"));
  EXPECT_THAT(why, HasSubstr("256 MiB working set"));
}

TEST(VerifiedByGuestTest, AFullSweepVerifies) {
  RunResult run = GuestRun("verify-sweep 1: checked 65536 of 65536 pages in 2210 ms\n");
  EXPECT_EQ(run.migration->verified, true);
  bool matched = false;
  EXPECT_THAT(Explain(run, &matched), HasSubstr("65536 of 65536 pages (100.0 %)"));
  EXPECT_TRUE(matched);
}

TEST(VerifiedByGuestTest, NoSweepIsNoVerification) {
  RunResult run = GuestRun("");
  run.guest->pages_checked.reset();  // a console with no sweep at all
  run.guest->working_set_pages.reset();
  VerifiedByGuest(run, 256);
  EXPECT_FALSE(run.migration->verified);
  bool matched = true;
  EXPECT_THAT(Explain(run, &matched), HasSubstr("reported no sweep"));
  EXPECT_FALSE(matched);
}

TEST(VerifiedByGuestTest, ACorruptedPageFailsWhateverTheCoverage) {
  RunResult run = GuestRun(
      "verify-sweep 1: checked 100 of 65536 pages\n"
      "migmon mm_dirty: memory corrupted: page 4000: generation 3 but 4 was written last\n");
  EXPECT_EQ(run.migration->verified, false);
  EXPECT_THAT(*run.migration->error, HasSubstr("destination.stdout.log:4: migmon mm_dirty"));
}

// break-link: `ss -K` exits 0 when it kills nothing; its output is the proof.
TEST(KilledSocketsTest, CountsTheSocketsSsListed) {
  std::istringstream out(
      "Netid State Recv-Q Send-Q Local Address:Port  Peer Address:Port Process\n"
      "tcp   ESTAB 0      0          127.0.0.1:4444     127.0.0.1:35482       \n"
      "tcp   ESTAB 0      0          127.0.0.1:35470    127.0.0.1:4444        \n");
  const nlohmann::json record = KilledSockets(out, "ss -K ( sport = :4444 )");
  EXPECT_EQ(record["sockets_killed"], 2);
  EXPECT_EQ(record["sockets"][1],
            "tcp   ESTAB 0      0          127.0.0.1:35470    127.0.0.1:4444");
  EXPECT_EQ(record["filter"], "ss -K ( sport = :4444 )");
}

TEST(KilledSocketsTest, NoneKilledIsAnErrorNamingTheFilter) {
  std::istringstream header_only(
      "Netid State Recv-Q Send-Q Local Address:Port Peer Address:PortProcess\n");
  try {
    (void)KilledSockets(header_only, "ss -K ( dport = :4444 or sport = :4444 )");
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("'ss -K ( dport = :4444 or sport = :4444 )' killed no socket"));
  }
  std::istringstream nothing("");
  EXPECT_THROW((void)KilledSockets(nothing, "ss -K x"), std::runtime_error);
}

}  // namespace
}  // namespace migtest
