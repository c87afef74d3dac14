// The guest console reader. The data files are real serial consoles of migtest's guest:
//   guest_console_boot.log                  a full (not quiet) boot on QEMU 10.0.2/TCG with the
//                                           dirtier running: nothing in it is a problem;
//   guest_console_qemu72_*.log              destination consoles after Debian 12's QEMU 7.2
//                                           migrated the busy guest under TCG (2 vCPUs), one file
//                                           per way it broke: the kernel's list corruption and
//                                           panic, "Bad page state", and the dirtier's own check.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "migtest/results.hpp"

namespace migtest {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::filesystem::path Data(const char* name) {
  return std::filesystem::path(MIGTEST_TEST_DATA) / name;
}

// The table ParseGuestConsole quotes from is the one a backend's early exit uses.
TEST(GuestConsoleTest, ProblemLinesAreTheConsoleParsersTable) {
  EXPECT_TRUE(IsGuestProblemLine("[   12.3] Kernel panic - not syncing: Fatal exception"));
  EXPECT_TRUE(IsGuestProblemLine("[    5.1] watchdog: BUG: soft lockup - CPU#0 stuck for 22s!"));
  EXPECT_TRUE(IsGuestProblemLine("MIGTEST-GUEST-ERROR: the dirtier ended (status 1)"));
  EXPECT_FALSE(IsGuestProblemLine("dirty-rate: 50.0 MiB/s"));
  std::istringstream console("ok\nrcu: INFO: rcu_preempt self-detected stall on CPU\n");
  GuestResult g = ParseGuestConsole(console, "console");
  ASSERT_EQ(g.problems.size(), 1u);
  EXPECT_TRUE(IsGuestProblemLine(g.problems[0].text));
}

TEST(GuestConsoleTest, AFullBootWithTheDirtierIsClean) {
  GuestResult g = ParseGuestConsoleFile(Data("guest_console_boot.log"));
  EXPECT_THAT(g.problems, ::testing::IsEmpty());
  EXPECT_GT(g.lines, 300u);
  EXPECT_EQ(g.dirtier_seconds, 20u);
  EXPECT_EQ(g.verify_errors, 0u);
  EXPECT_FALSE(g.answered);  // the fixture's to set
}

TEST(GuestConsoleTest, AKernelPanicIsQuotedWithLineNumbers) {
  GuestResult g = ParseGuestConsoleFile(Data("guest_console_qemu72_list_corruption.log"));
  ASSERT_GE(g.problems.size(), 5u);
  EXPECT_EQ(g.problems[0].line, 1u);
  EXPECT_EQ(g.problems[0].text,
            "[    4.227030] list_del corruption, ffffea00007f2a08->next is NULL");
  EXPECT_EQ(g.problems[1].text, "[    4.230345] kernel BUG at lib/list_debug.c:49!");
  EXPECT_THAT(g.problems,
              ::testing::Contains(
                  Field(&ConsoleLine::text,
                        HasSubstr("Kernel panic - not syncing: Fatal exception in interrupt"))));
  EXPECT_FALSE(g.dirtier_seconds);  // the kernel died before the dirtier's first second
}

TEST(GuestConsoleTest, BadPageStateAfterSecondsOfHealthyDirtying) {
  GuestResult g = ParseGuestConsoleFile(Data("guest_console_qemu72_bad_page.log"));
  ASSERT_EQ(g.problems.size(), 3u);
  EXPECT_EQ(g.problems[0].line, 6u);
  EXPECT_THAT(g.problems[0].text, HasSubstr("BUG: Bad page state in process swapper/1"));
  EXPECT_EQ(g.dirtier_seconds, 6u);
  EXPECT_EQ(g.verify_errors, 0u);
}

TEST(GuestConsoleTest, TheDirtiersCorruptionReportCounts) {
  GuestResult g = ParseGuestConsoleFile(Data("guest_console_qemu72_lost_write.log"));
  EXPECT_EQ(g.verify_errors, 1u);
  ASSERT_EQ(g.problems.size(), 2u);
  EXPECT_EQ(g.problems[0].text,
            "migmon mm_dirty: memory corrupted: page 8580: generation 3 but 4 was written last (a "
            "lost write)");
  EXPECT_EQ(g.problems[1].text, "MIGTEST-GUEST-ERROR dirtier exited with code 3");
}

TEST(GuestConsoleTest, GarbageControlBytesAndLongLinesAreReadNotThrown) {
  std::string text = "\x1b[31mKernel panic - not syncing: \x1b[0mboom\r\n";
  text += std::string("\0\x01\x02\xff\xfe", 5) + "\n";
  text += "BUG: " + std::string(500, 'x') + "\n";
  text += "half a line at the kill: Oops";  // no newline
  std::istringstream in(text);
  GuestResult g = ParseGuestConsole(in, "serial.log");
  EXPECT_EQ(g.console, "serial.log");
  EXPECT_EQ(g.lines, 4u);
  ASSERT_EQ(g.problems.size(), 3u);
  EXPECT_EQ(g.problems[0].text, "Kernel panic - not syncing: boom");
  EXPECT_EQ(g.problems[1].line, 3u);
  EXPECT_EQ(g.problems[1].text.substr(0, 8), "BUG: xxx");
  EXPECT_THAT(g.problems[1].text, ::testing::EndsWith("…"));
  EXPECT_LE(g.problems[1].text.size(), 210u);
  EXPECT_EQ(g.problems[2].line, 4u);
  EXPECT_FALSE(g.verify_errors);  // no dirtier output at all
}

TEST(GuestConsoleTest, AFloodOfProblemsKeepsTheFirstTwenty) {
  std::string text;
  for (int i = 0; i < 100; ++i) text += "BUG: soft lockup - CPU#0 stuck for 22s!\n";
  std::istringstream in(text);
  GuestResult g = ParseGuestConsole(in, "x");
  EXPECT_EQ(g.problems.size(), 20u);
  EXPECT_EQ(g.problems.front().line, 1u);
  EXPECT_EQ(g.lines, 100u);
}

TEST(GuestConsoleTest, AnUnreadableFileIsAParseErrorNamingIt) {
  try {
    ParseGuestConsoleFile("/nonexistent/serial.log");
    FAIL() << "no ParseError";
  } catch (const ParseError& e) {
    EXPECT_EQ(e.file(), "/nonexistent/serial.log");
    EXPECT_THAT(e.what(), HasSubstr("cannot be opened"));
  }
}

// The dirtier's sweep (mm_dirty --sweep-port): the coverage is the sweep's last count, and only a
// sweep whose start this console shows counts (a count whose start is not here began elsewhere).
GuestResult Sweeps(const std::string& text) {
  std::istringstream console(text);
  return ParseGuestConsole(console, "destination.stdout.log");
}

TEST(GuestConsoleTest, ASweepsCoverageIsItsLastCount) {
  GuestResult g = Sweeps(
      "dirty-rate: 50 (MB/s), time (ms): 1000, load: 3.00%\n"
      "verify-sweep 1: started, 16384 pages in the working set\n"
      "verify-sweep 1: checked 11300 of 16384 pages\n");
  EXPECT_EQ(g.pages_checked, 11300u);
  EXPECT_EQ(g.working_set_pages, 16384u);
  g = Sweeps(
      "verify-sweep 1: started, 16384 pages in the working set\n"
      "verify-sweep 1: checked 11300 of 16384 pages\n"
      "[   9.1] random: crng init done verify-sweep 1: checked 16384 of 16384 pages in 812 ms\n");
  EXPECT_EQ(g.pages_checked, 16384u);
  EXPECT_EQ(g.working_set_pages, 16384u);
}

TEST(GuestConsoleTest, ASweepThatDidNotStartHereOrMakesNoSenseIsNoCoverage) {
  EXPECT_FALSE(Sweeps("verify-sweep 1: checked 16384 of 16384 pages in 812 ms\n").pages_checked);
  EXPECT_FALSE(Sweeps("verify-sweep 1: started, 4 pages in the working set\n"
                      "verify-sweep 1: checked 5 of 4 pages\n"
                      "verify-sweep 1: checked 0 of 0 pages\n"
                      "verify-sweep 1: checked 99999999999999999999 of 4 pages\n")
                   .pages_checked);
  GuestResult none = Sweeps("dirty-rate: 50 (MB/s), time (ms): 1000, load: 3.00%\n");
  EXPECT_FALSE(none.pages_checked);
  EXPECT_FALSE(none.working_set_pages);
}

TEST(GuestConsoleTest, RoundTripsThroughResultJson) {
  RunResult run;
  run.guest = GuestResult{.console = "/a/destination.stdout.log",
                          .lines = 51,
                          .problems = {{1, "list_del corruption"}, {49, "Kernel panic - x"}},
                          .dirtier_seconds = 3,
                          .verify_errors = 0,
                          .pages_checked = 11300,
                          .working_set_pages = 16384,
                          .answered = false};
  nlohmann::json j = run;
  EXPECT_EQ(j["guest"]["problems"][1]["line"], 49);
  EXPECT_EQ(j["guest"]["pages_checked"], 11300);
  EXPECT_EQ(j["guest"]["working_set_pages"], 16384);
  EXPECT_EQ(j["guest"]["answered"], false);
  EXPECT_EQ(j.get<RunResult>(), run);
  RunResult empty;
  EXPECT_FALSE(nlohmann::json(empty).contains("guest"));
  RunResult merged;
  Merge(merged, run);
  EXPECT_EQ(merged.guest, run.guest);
}

}  // namespace
}  // namespace migtest
