// GuestHealthy(): verdicts and explanations word for word, on real consoles (tests/results/data).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "explain.hpp"
#include "migtest/matchers.hpp"
#include "migtest/results.hpp"

namespace migtest {
namespace {

using namespace std::chrono_literals;
using ::testing::DescribeMatcher;
using ::testing::Not;

using test::Explain;

GuestResult Console(const char* name) {
  GuestResult g = ParseGuestConsoleFile(std::filesystem::path(MIGTEST_TEST_DATA) / name);
  g.console = std::string("dst/") + name;  // stable text for the assertions
  return g;
}

TEST(GuestHealthyTest, ACleanGuestMatchesAndSaysWhy) {
  RunResult run;
  run.guest = Console("guest_console_boot.log");
  run.guest->answered = true;
  EXPECT_THAT(run, GuestHealthy());
  EXPECT_THAT(run, GuestHealthy(20s));
  EXPECT_THAT(run.guest, GuestHealthy(3s));
  EXPECT_THAT(*run.guest, GuestHealthy());
  EXPECT_EQ(Explain(GuestHealthy(3s), run),
            "whose guest console dst/guest_console_boot.log shows no problem in " +
                std::to_string(run.guest->lines) +
                " lines, the dirtier verifying for 20 s, answering the prober");
}

TEST(GuestHealthyTest, APanicIsQuotedFileColonLine) {
  RunResult run;
  run.guest = Console("guest_console_qemu72_list_corruption.log");
  EXPECT_THAT(run, Not(GuestHealthy()));
  const std::string why = Explain(GuestHealthy(), run);
  EXPECT_THAT(why, testing::StartsWith(
                       "whose guest console dst/guest_console_qemu72_list_corruption.log shows "));
  EXPECT_THAT(why, testing::HasSubstr(
                       "\n  guest_console_qemu72_list_corruption.log:1: [    4.227030] "
                       "list_del corruption, ffffea00007f2a08->next is NULL\n  "
                       "guest_console_qemu72_list_corruption.log:2: [    4.230345] kernel BUG at "
                       "lib/list_debug.c:49!"));
  EXPECT_THAT(
      why, testing::HasSubstr(":49: [    4.245040] Kernel panic - not syncing: Fatal exception in "
                              "interrupt"));
}

TEST(GuestHealthyTest, CorruptionReportedByTheDirtier) {
  GuestResult g = Console("guest_console_qemu72_lost_write.log");
  EXPECT_EQ(Explain(GuestHealthy(), g),
            "whose guest console dst/guest_console_qemu72_lost_write.log shows 2 problem lines:\n"
            "  guest_console_qemu72_lost_write.log:2: migmon mm_dirty: memory corrupted: page "
            "8580: generation 3 but 4 was written last (a lost write)\n"
            "  guest_console_qemu72_lost_write.log:3: MIGTEST-GUEST-ERROR dirtier exited with "
            "code 3");
  g.problems.clear();  // the count alone still fails
  EXPECT_EQ(
      Explain(GuestHealthy(), g),
      "whose guest dirtier reported 1 corrupted page (dst/guest_console_qemu72_lost_write.log)");
}

TEST(GuestHealthyTest, TooShortARunOrNoAnswerOrNoConsoleFail) {
  GuestResult g{.console = "c.log", .lines = 2, .dirtier_seconds = 1, .verify_errors = 0};
  EXPECT_THAT(g, GuestHealthy());
  EXPECT_EQ(Explain(GuestHealthy(3s), g),
            "whose guest dirtier ran 1 s on the destination (wanted at least 3 s; 2 lines on "
            "c.log)");
  g.dirtier_seconds.reset();
  EXPECT_THAT(g, Not(GuestHealthy(1s)));  // no dirtier output at all
  g.answered = false;
  EXPECT_EQ(Explain(GuestHealthy(), g), "whose guest never answered the prober after resume");
  RunResult none;
  EXPECT_EQ(Explain(GuestHealthy(), none),
            "which has no guest result (the backend read no guest console)");
  EXPECT_THAT(std::optional<GuestResult>(), Not(GuestHealthy()));
}

TEST(GuestHealthyTest, Descriptions) {
  EXPECT_EQ(DescribeMatcher<RunResult>(GuestHealthy(3s)),
            "has a healthy guest (no panic, oops or corruption on its console, its dirtier "
            "verifying for at least 3 s)");
  EXPECT_EQ(DescribeMatcher<RunResult>(GuestHealthy(), /*negation=*/true),
            "has a guest that panicked, reported corruption, stopped answering");
}

}  // namespace
}  // namespace migtest
