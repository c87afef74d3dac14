// migmon migrate end to end: a destination and a source process over loopback, their result.json
// read back through the result model. Behaviour only: nothing here asserts speed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "child.hpp"
#include "migtest/matchers.hpp"
#include "migtest/results.hpp"

namespace migtest {
namespace {

using namespace std::chrono_literals;
using ::testing::Ge;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;
using ::testing::SizeIs;
using testing_support::Child;

using ::testing::ElementsAre;

std::vector<std::string> PhaseNames(const MigrationResult& m) {
  std::vector<std::string> names;
  for (const Phase& p : m.downtime_breakdown) names.push_back(p.name);
  return names;
}

bool NoWriteProtect(int code, const std::string& stderr_text) {
  return code == 1 && stderr_text.find("no write-protect mode") != std::string::npos &&
         std::getenv("CI") == nullptr;
}

struct Outcome {
  int source_code = -1;
  int destination_code = -1;
  RunResult source;       // the source's result.json
  RunResult destination;  // the destination's
  std::string source_stdout, source_stderr;
};

// Runs one migration with the source arguments `args` (after -s -H -p).
Outcome Migrate(const std::vector<std::string>& args,
                const std::vector<std::string>& destination_args = {}) {
  Outcome o;
  const std::string dir = testing_support::TempDir();
  std::vector<std::string> dargs = {MIGMON_PATH, "migrate",        "-d", "-p", "0",
                                    "--json",    dir + "/dst.json"};
  dargs.insert(dargs.end(), destination_args.begin(), destination_args.end());
  Child dst(dargs, dir);
  auto port = dst.WaitForLine(R"(ready port=(\d+))", 10s);
  if (!port) return o;
  std::vector<std::string> sargs = {
      MIGMON_PATH, "migrate", "-s", "-H", "127.0.0.1", "-p", *port, "--json", dir + "/src.json"};
  sargs.insert(sargs.end(), args.begin(), args.end());
  Child src(sargs, dir);
  o.source_code = src.Wait(120s).value_or(-1);
  o.destination_code = dst.Wait(30s).value_or(-1);
  o.source_stdout = src.Stdout();
  o.source_stderr = src.Stderr();
  try {
    o.source = ParseFile(dir + "/src.json", Format::kMigtest);
    o.destination = ParseFile(dir + "/dst.json", Format::kMigtest);
  } catch (const ParseError& e) {
    ADD_FAILURE() << e.what() << "\nsource stderr:\n" << o.source_stderr;
  }
  return o;
}

TEST(EngineTest, IdleGuestMigratesAndVerifies) {
  Outcome o = Migrate({"-m", "64M"});
  ASSERT_EQ(o.source_code, 0) << o.source_stderr;
  EXPECT_EQ(o.destination_code, 0);
  ASSERT_TRUE(o.source.migration);
  const MigrationResult& m = *o.source.migration;
  EXPECT_EQ(m.status, Status::kCompleted);
  EXPECT_THAT(m.verified, Optional(true));
  EXPECT_THAT(m.converged, Optional(true));
  ASSERT_TRUE(m.downtime);
  ASSERT_TRUE(m.total_time);
  EXPECT_LE(*m.downtime, *m.total_time);
  EXPECT_TRUE(m.setup_time);
  // A full pass of every page, then the final round with nothing dirty.
  ASSERT_THAT(m.iterations, SizeIs(Ge(2u)));
  EXPECT_THAT(m.iterations[0].pages_sent, Optional(16384u));
  // What each phase is worth is SlowPhaseGrowsThatPhaseAndTheDowntime's business.
  EXPECT_THAT(PhaseNames(m),
              ElementsAre("final_sync", "final_pages", "send_state", "check", "resume"));
  ASSERT_TRUE(o.destination.migration);
  EXPECT_THAT(o.destination.migration->verified, Optional(true));
  EXPECT_FALSE(m.pages.contains("test_lost_dirty_pages"));
}

TEST(EngineTest, BusyGuestTakesMoreIterationsThanIdle) {
  // The same 200 MiB/s link for both: the full pass takes ~640 ms, long enough for even a
  // writer starved by a loaded machine to leave more dirty pages than a 2 ms downtime allows.
  Outcome idle = Migrate({"-m", "128M", "--max-bandwidth", "200M", "--downtime-limit", "2"});
  Outcome busy =
      Migrate({"-m", "128M", "--max-bandwidth", "200M", "--dirty-rate", "50M", "--vcpus", "2",
               "--pattern", "random", "--downtime-limit", "2", "--max-iterations", "12"});
  ASSERT_EQ(busy.source_code, 0) << busy.source_stderr;
  const MigrationResult& b = *busy.source.migration;
  const MigrationResult& i = *idle.source.migration;
  EXPECT_EQ(b.status, Status::kCompleted);
  EXPECT_THAT(b.verified, Optional(true));
  EXPECT_GT(b.iterations.size(), i.iterations.size());
  uint64_t busy_dirtied = 0, idle_dirtied = 0;
  for (const auto& it : b.iterations) busy_dirtied += it.pages_dirtied.value_or(0);
  for (const auto& it : i.iterations) idle_dirtied += it.pages_dirtied.value_or(0);
  EXPECT_GT(busy_dirtied, idle_dirtied);
  EXPECT_EQ(idle_dirtied, 0u);
}

TEST(EngineTest, OverDirtyingGuestDoesNotConvergeButPostcopyCompletes) {
  // A 50 MiB/s link under a 200 MiB/s dirtier: precopy cannot catch up.
  Outcome pre = Migrate({"-m", "32M", "--dirty-rate", "200M", "--max-bandwidth", "50M",
                         "--downtime-limit", "20", "--max-iterations", "3"});
  ASSERT_EQ(pre.source_code, 0) << pre.source_stderr;
  EXPECT_THAT(pre.source.migration->converged, Optional(false));
  EXPECT_THAT(pre.source.migration->iterations, SizeIs(4u));  // 3 + the forced final round
  EXPECT_THAT(pre.source.migration->verified, Optional(true));

  Outcome post = Migrate(
      {"-m", "32M", "--dirty-rate", "200M", "--max-bandwidth", "50M", "--postcopy-after", "1"});
  ASSERT_EQ(post.source_code, 0) << post.source_stderr;
  const MigrationResult& m = *post.source.migration;
  EXPECT_EQ(m.status, Status::kCompleted);
  EXPECT_THAT(m.verified, Optional(true)) << m.error.value_or("");
  ASSERT_TRUE(m.postcopy_latency);
  EXPECT_GT(m.postcopy_latency->samples.size(), 0u) << "the running destination faulted pages in";
  // Every latency is a request's; a request can turn out redundant when the background push
  // places the page between the fault and the request (then it has no latency of its own).
  EXPECT_LE(m.postcopy_latency->samples.size(), m.pages.at("postcopy_requests"));
  EXPECT_TRUE(m.postcopy_latency->Percentile(99));
}

TEST(EngineTest, InjectedStallShowsInIteration2InJsonAndTlmz) {
  Outcome o = Migrate({"-m", "64M", "--dirty-rate", "100M", "--downtime-limit", "1",
                       "--max-iterations", "4", "--inject-stall", "2:200", "--tlmz"});
  ASSERT_EQ(o.source_code, 0) << o.source_stderr;
  const MigrationResult& m = *o.source.migration;
  ASSERT_GE(m.iterations.size(), 3u);
  ASSERT_TRUE(m.iterations[1].sync_time);
  EXPECT_GE(*m.iterations[1].sync_time, 200ms);
  EXPECT_LT(m.iterations[2].sync_time.value_or(Duration{}), 200ms);
  // The TLMZ lines say the same.
  std::istringstream tlmz(o.source_stdout);
  RunResult back = Parse(tlmz, Format::kTlmz, "engine stdout");
  const MigrationResult& t = *back.migration;
  EXPECT_EQ(t.status, Status::kCompleted);
  ASSERT_EQ(t.iterations.size(), m.iterations.size());
  EXPECT_GE(*t.iterations[1].sync_time, 200ms);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(*t.downtime),
            std::chrono::duration_cast<std::chrono::milliseconds>(*m.downtime));
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(*t.total_time),
            std::chrono::duration_cast<std::chrono::milliseconds>(*m.total_time));
  for (size_t i = 0; i < m.iterations.size(); ++i) {
    EXPECT_EQ(t.iterations[i].pages_sent, m.iterations[i].pages_sent) << i;
    // The engine counts no I/O: the TLMZ lines say "-", read back as absent, not 0.
    EXPECT_EQ(t.iterations[i].io_count, std::nullopt) << i;
  }
  EXPECT_EQ(t.iterations[0].sync_time, std::nullopt);  // the full pass has no sync
  EXPECT_EQ(m.iterations[0].sync_time, std::nullopt);
  EXPECT_FALSE(t.config.contains("all_io_cnt"));
  EXPECT_FALSE(t.config.contains("ps_wait"));
  EXPECT_TRUE(t.config.contains("s2s3gap"));  // measured: last round's end → stop
}

TEST(EngineTest, DroppedConnectionFailsAndTheSourceKeepsRunning) {
  Outcome o = Migrate({"-m", "64M", "--dirty-rate", "50M", "--inject-drop-after", "8388608"});
  EXPECT_EQ(o.source_code, 1);
  const MigrationResult& m = *o.source.migration;
  EXPECT_EQ(m.status, Status::kFailed);
  EXPECT_THAT(m.error, Optional(HasSubstr("dropped after 8388608 bytes")));
  EXPECT_THAT(o.source_stderr, HasSubstr("migration failed"));
  EXPECT_EQ(m.downtime, std::nullopt);  // the guest never stopped
  // The destination noticed and ended by itself, with a reason.
  EXPECT_EQ(o.destination_code, 1);
  EXPECT_EQ(o.destination.migration->status, Status::kFailed);
}

// A failed precopy leaves the guest on the source, which runs on (--run-after-failure) with its
// writers verifying each page before they rewrite it, and checks all of memory at the end: the
// result's `guest` part. The same run with one page corrupted after the failure must say so.
TEST(EngineTest, TheGuestAFailureLeavesOnTheSourceIsVerified) {
  for (const bool corrupt : {false, true}) {
    std::vector<std::string> args = {
        "-m", "64M", "--dirty-rate", "50M", "--inject-drop-after", "8388608", "--run-after-failure",
        "500"};
    if (corrupt) args.insert(args.end(), {"--test-corrupt-page", "9"});
    Outcome o = Migrate(args);
    EXPECT_EQ(o.source_code, 1) << corrupt;
    ASSERT_TRUE(o.source.migration);
    EXPECT_EQ(o.source.migration->status, Status::kFailed);
    ASSERT_TRUE(o.source.guest) << "the source must report on the guest it kept";
    const GuestResult& g = *o.source.guest;
    EXPECT_TRUE(g.dirtier_seconds) << "its writers ran on";
    if (!corrupt) {
      EXPECT_THAT(g.verify_errors, Optional(0u));
      EXPECT_TRUE(g.problems.empty());
    } else {
      EXPECT_THAT(g.verify_errors, Optional(1u));
      ASSERT_EQ(g.problems.size(), 1u);
      EXPECT_THAT(g.problems[0].text, HasSubstr("memory corrupted: page 9"));
    }
  }
}

// How long the guest ran after the failure is measured by its writers (first to last verified
// rewrite since the failure), not taken from --run-after-failure: writers that stop 1 s into a
// 3 s run (the guest still up) must fail GuestHealthy(3s), the same run without the knob pass it.
TEST(EngineTest, TheGuestsRunAfterAFailureIsMeasuredByItsWriters) {
  for (const bool stop_early : {false, true}) {
    SCOPED_TRACE(stop_early ? "writers stopped after 1 s" : "writers ran on");
    std::vector<std::string> args = {"-m",
                                     "32M",
                                     "--dirty-rate",
                                     "50M",
                                     "--inject-drop-after",
                                     "4194304",
                                     "--run-after-failure",
                                     "3000"};
    if (stop_early) args.insert(args.end(), {"--test-stop-writers-after", "1000"});
    Outcome o = Migrate(args);
    EXPECT_EQ(o.source_code, 1);
    ASSERT_TRUE(o.source.guest) << o.source_stderr;
    const GuestResult& g = *o.source.guest;
    EXPECT_EQ(g.lines, 0u) << "the engine's guest has no console: no line is read";
    EXPECT_THAT(g.verify_errors, Optional(0u));
    if (!stop_early) {
      EXPECT_THAT(g.dirtier_seconds, Optional(3u)) << o.source_stderr;
      EXPECT_THAT(o.source, GuestHealthy(3s));
    } else {
      EXPECT_THAT(g.dirtier_seconds, Optional(1u)) << o.source_stderr;
      EXPECT_THAT(o.source, Not(GuestHealthy(3s)));
      testing::StringMatchResultListener why;
      EXPECT_FALSE(testing::ExplainMatchResult(GuestHealthy(3s), o.source, &why));
      EXPECT_THAT(why.str(), HasSubstr("ran 1 s"));
    }
  }
}

// A header damaged after its page arrived, as a copy torn mid-write leaves it (the generation the
// arrival check recorded stays right), must fail verification naming the page: in an idle guest
// (the final check reads it) and in a busy one, whose writers would make the header whole again
// by rewriting it (one sequential writer over 16 MiB at 200 MiB/s reaches page 5 in its first
// slice and rewrites every page about six times in the destination's 500 ms run).
TEST(EngineTest, ADamagedHeaderIsCaughtEvenWhenTheGuestRewritesThePage) {
  for (const std::string rate : {"0", "200M"}) {
    SCOPED_TRACE("dirty rate " + rate);
    Outcome o = Migrate({"-m", "16M", "--dirty-rate", rate}, {"--test-corrupt-header", "5"});
    ASSERT_EQ(o.source_code, 0) << o.source_stderr;  // the migration itself completed…
    const MigrationResult& m = *o.source.migration;
    EXPECT_EQ(m.status, Status::kCompleted);
    EXPECT_THAT(m.verified, Optional(false));  // …into a damaged guest
    EXPECT_THAT(m.error, Optional(HasSubstr("page 5: header checksum mismatch")));
    if (rate != "0") {
      EXPECT_THAT(m.error, Optional(HasSubstr("before it rewrote the page")));
    }
    EXPECT_THAT(o.destination.migration->verified, Optional(false));
  }
}

TEST(EngineTest, VerificationCatchesACorruptedPage) {
  Outcome o = Migrate({"-m", "32M"}, {"--test-corrupt-page", "7"});
  ASSERT_EQ(o.source_code, 0);  // the migration itself completed…
  const MigrationResult& m = *o.source.migration;
  EXPECT_EQ(m.status, Status::kCompleted);
  EXPECT_THAT(m.verified, Optional(false));  // …into a corrupted guest
  EXPECT_THAT(m.error, Optional(HasSubstr("page 7")));
}

TEST(EngineTest, WriteProtectDirtyTrackingTrapsAndVerifies) {
  Outcome o =
      Migrate({"-m", "64M", "--dirty-rate", "100M", "--pattern", "random", "--dirty-tracking",
               "uffd-wp", "--downtime-limit", "2", "--max-iterations", "5"});
  if (o.source_code == 1 && o.source_stderr.find("no write-protect mode") != std::string::npos &&
      std::getenv("CI") == nullptr) {
    GTEST_SKIP() << "this kernel has no userfaultfd write-protection";
  }
  ASSERT_EQ(o.source_code, 0) << o.source_stderr;
  const MigrationResult& m = *o.source.migration;
  EXPECT_EQ(m.status, Status::kCompleted);
  EXPECT_THAT(m.verified, Optional(true));
  ASSERT_TRUE(m.pages.contains("write_protect_traps"));
  EXPECT_GT(m.pages.at("write_protect_traps"), 0u);
  EXPECT_EQ(m.config.at("dirty_tracking"), "uffd-wp");
}

// A phase made slow on purpose: exactly that phase grows, and the downtime with it (in the
// source's result and in the destination's, which has the same two clock readings). Catches a
// checkpoint in the wrong place, a phase left out of the downtime, phases swapped (moving the
// destination's check checkpoint after the resume sleep fails Precopy_resume).
struct SlowPhaseCase {
  std::vector<std::string> args;
  std::string phase;
  friend void PrintTo(const SlowPhaseCase& c, std::ostream* os) { *os << c.phase; }
};

class SlowPhaseTest : public ::testing::TestWithParam<SlowPhaseCase> {};

TEST_P(SlowPhaseTest, SlowPhaseGrowsThatPhaseAndTheDowntime) {
  constexpr auto kSlow = 400ms;
  std::vector<std::string> args = GetParam().args;
  args.insert(args.end(), {"--test-slow-phase", GetParam().phase + ":400"});
  Outcome o = Migrate(args);
  ASSERT_EQ(o.source_code, 0) << o.source_stderr;
  const MigrationResult& m = *o.source.migration;
  EXPECT_THAT(m.verified, Optional(true)) << m.error.value_or("");
  ASSERT_TRUE(m.downtime);
  EXPECT_GE(*m.downtime, kSlow);
  ASSERT_TRUE(o.destination.migration && o.destination.migration->downtime);
  EXPECT_GE(*o.destination.migration->downtime, kSlow);
  bool seen = false;
  for (const Phase& p : m.downtime_breakdown) {
    if (p.name == GetParam().phase) {
      seen = true;
      EXPECT_GE(p.duration, kSlow) << p.name;
    } else {
      EXPECT_LT(p.duration, kSlow) << p.name << " grew, not " << GetParam().phase;
    }
  }
  EXPECT_TRUE(seen) << "no phase " << GetParam().phase;
}

const std::vector<std::string> kPrecopyArgs = {"-m", "32M", "--dirty-rate", "50M"};
const std::vector<std::string> kPostcopyArgs = {
    "-m", "32M", "--dirty-rate", "50M", "--postcopy-after", "2"};
INSTANTIATE_TEST_SUITE_P(
    Phases, SlowPhaseTest,
    ::testing::Values(
        SlowPhaseCase{kPrecopyArgs, "final_sync"}, SlowPhaseCase{kPrecopyArgs, "final_pages"},
        SlowPhaseCase{kPrecopyArgs, "send_state"}, SlowPhaseCase{kPrecopyArgs, "check"},
        SlowPhaseCase{kPrecopyArgs, "resume"}, SlowPhaseCase{kPostcopyArgs, "sync"},
        SlowPhaseCase{kPostcopyArgs, "send_state"}, SlowPhaseCase{kPostcopyArgs, "urgent_channel"},
        SlowPhaseCase{kPostcopyArgs, "discard"}, SlowPhaseCase{kPostcopyArgs, "resume"}),
    [](const ::testing::TestParamInfo<SlowPhaseCase>& param) {
      std::string name =
          (param.param.args.size() > 4 ? "Postcopy_" : "Precopy_") + param.param.phase;
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

// Dirty tracking broken on purpose (--test-lose-dirty): 4 pages of 64 MiB lose their dirty bit
// at the end of iteration 2, after every page was sent, and stay untracked, so their last sent
// copy is stale for certain. The run must not verify, and must name the first such page
// (16384 / (2 × 4) = 2048); the same run without the knob verifies.
struct LostDirtyCase {
  std::string tracking;  // bitmap | uffd-wp
  std::vector<std::string> mode;
  friend void PrintTo(const LostDirtyCase& c, std::ostream* os) {
    *os << c.tracking << " " << c.mode[0] << " " << c.mode[1];
  }
};

class LostDirtyTest : public ::testing::TestWithParam<LostDirtyCase> {
 protected:
  std::vector<std::string> Args() const {
    std::vector<std::string> a = {"-m",        "64M",    "--dirty-rate",     "100M",
                                  "--pattern", "random", "--dirty-tracking", GetParam().tracking};
    a.insert(a.end(), GetParam().mode.begin(), GetParam().mode.end());
    return a;
  }
};

TEST_P(LostDirtyTest, ALostDirtyBitFailsVerificationAndNamesThePage) {
  std::vector<std::string> args = Args();
  args.insert(args.end(), {"--test-lose-dirty", "4"});
  Outcome o = Migrate(args);
  if (NoWriteProtect(o.source_code, o.source_stderr)) GTEST_SKIP() << "no uffd-wp here";
  ASSERT_EQ(o.source_code, 0) << o.source_stderr;
  const MigrationResult& m = *o.source.migration;
  EXPECT_EQ(m.status, Status::kCompleted);
  // The loss happened (the engine says so)…
  EXPECT_EQ(m.pages.at("test_lost_dirty_pages"), 4u);
  EXPECT_GE(m.pages.at("test_lost_dirty_writes"), 4u);
  // …and was caught, on the page it was put on.
  EXPECT_THAT(m.verified, Optional(false));
  EXPECT_THAT(m.error, Optional(HasSubstr("page 2048: generation")));
  EXPECT_THAT(m.error, Optional(HasSubstr("a lost update")));
  EXPECT_THAT(o.destination.migration->verified, Optional(false));
}

TEST_P(LostDirtyTest, TheSameRunWithoutTheKnobVerifies) {
  Outcome o = Migrate(Args());
  if (NoWriteProtect(o.source_code, o.source_stderr)) GTEST_SKIP() << "no uffd-wp here";
  ASSERT_EQ(o.source_code, 0) << o.source_stderr;
  const MigrationResult& m = *o.source.migration;
  EXPECT_EQ(m.status, Status::kCompleted);
  EXPECT_THAT(m.verified, Optional(true)) << m.error.value_or("");
  EXPECT_FALSE(m.pages.contains("test_lost_dirty_writes"));
  EXPECT_GE(m.iterations.size(), 2u);
}

const std::vector<std::string> kPrecopyMode = {"--downtime-limit", "1", "--max-iterations", "4"};
INSTANTIATE_TEST_SUITE_P(Tracking, LostDirtyTest,
                         ::testing::Values(LostDirtyCase{"bitmap", kPrecopyMode},
                                           LostDirtyCase{"uffd-wp", kPrecopyMode},
                                           LostDirtyCase{"bitmap", {"--postcopy-after", "2"}},
                                           LostDirtyCase{"uffd-wp", {"--postcopy-after", "3"}}),
                         [](const ::testing::TestParamInfo<LostDirtyCase>& param) {
                           std::string name = param.param.tracking +
                                              (param.param.mode[0] == "--postcopy-after"
                                                   ? "_postcopy_after_" + param.param.mode[1]
                                                   : "_precopy");
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(EngineTest, BadCommandLines) {
  const std::string dir = testing_support::TempDir();
  auto code = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {MIGMON_PATH, "migrate"});
    Child c(args, dir);
    return c.Wait(20s).value_or(-1);
  };
  EXPECT_EQ(code({}), 2);                         // neither -d nor -s
  EXPECT_EQ(code({"-s", "-p", "1"}), 2);          // no host
  EXPECT_EQ(code({"-s", "-H", "127.0.0.1"}), 2);  // no port
  EXPECT_EQ(code({"-s", "-H", "127.0.0.1", "-p", "1", "-m", "12Q"}), 2);
  EXPECT_EQ(code({"-s", "-H", "127.0.0.1", "-p", "1", "--inject-stall", "x"}), 2);
  const std::vector<std::string> src = {"-s", "-H", "127.0.0.1", "-p", "1", "-m", "4M"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = src;
    a.insert(a.end(), extra.begin(), extra.end());
    return code(a);
  };
  EXPECT_EQ(with({"--test-slow-phase", "check"}), 2);       // no MS
  EXPECT_EQ(with({"--test-slow-phase", "nosuch:10"}), 2);   // no such phase
  EXPECT_EQ(with({"--test-slow-phase", "discard:10"}), 2);  // a postcopy phase, in precopy
  EXPECT_EQ(with({"--test-slow-phase", "check:10x"}), 2);
  EXPECT_EQ(with({"--test-slow-phase", "check:0"}), 2);
  EXPECT_EQ(with({"--test-lose-dirty", "0"}), 2);
  EXPECT_EQ(with({"--test-lose-dirty", "2000"}), 2);  // 4M has 1024 pages
  EXPECT_EQ(with({"--test-lose-dirty", "2", "--postcopy-after", "1"}), 2);
  EXPECT_EQ(with({"--test-lose-dirty", "2", "--max-iterations", "1"}), 2);
  EXPECT_EQ(with({"--test-stop-writers-after", "100"}), 2);        // no --run-after-failure
  EXPECT_EQ(with({"--test-corrupt-header", "1"}), 2);              // a destination knob
  EXPECT_EQ(code({"-d", "--test-stop-writers-after", "100"}), 2);  // a source knob
  {
    Child help({MIGMON_PATH, "migrate", "--help"}, dir);
    EXPECT_EQ(help.Wait(20s).value_or(-1), 0);
    EXPECT_THAT(help.Stdout(), HasSubstr("--test-lose-dirty"));
    EXPECT_THAT(help.Stdout(), HasSubstr("--test-slow-phase"));
  }
  // Nobody listens on port 1: a runtime error, quickly.
  EXPECT_EQ(code({"-s", "-H", "127.0.0.1", "-p", "1", "-m", "4M"}), 1);
}

}  // namespace
}  // namespace migtest
