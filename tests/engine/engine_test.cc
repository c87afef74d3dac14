// migmon migrate end to end: a destination and a source process over loopback, their result.json
// read back through the result model. Behaviour only: nothing here asserts speed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "child.hpp"
#include "migtest/results.hpp"

namespace migtest {
namespace {

using namespace std::chrono_literals;
using ::testing::Ge;
using ::testing::HasSubstr;
using ::testing::Optional;
using ::testing::SizeIs;
using testing_support::Child;

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
  ASSERT_EQ(m.downtime_breakdown.size(), 4u);
  EXPECT_EQ(m.downtime_breakdown[0].name, "final_iter");
  EXPECT_EQ(m.downtime_breakdown[3].name, "resume");
  Duration sum{};
  for (const Phase& p : m.downtime_breakdown) sum += p.duration;
  EXPECT_LE(sum, *m.downtime + 1ms);  // the phases add up to the downtime
  EXPECT_GE(sum, *m.downtime - 1ms);
  // The destination measured the same downtime on the same clock.
  ASSERT_TRUE(o.destination.migration);
  EXPECT_THAT(o.destination.migration->verified, Optional(true));
  EXPECT_EQ(o.destination.migration->downtime, m.downtime);
}

TEST(EngineTest, BusyGuestTakesMoreIterationsThanIdle) {
  // The same 200 MiB/s link for both: the full pass takes ~640 ms, long enough for even a
  // writer starved by a loaded machine to leave more dirty pages than a 2 ms downtime allows.
  Outcome idle = Migrate({"-m", "128M", "--max-bandwidth", "200M", "--downtime-limit", "2"});
  Outcome busy = Migrate({"-m", "128M", "--max-bandwidth", "200M", "--dirty-rate", "50M",
                          "--vcpus", "2", "--pattern", "random", "--downtime-limit", "2",
                          "--max-iterations", "12"});
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
  }
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
  // Nobody listens on port 1: a runtime error, quickly.
  EXPECT_EQ(code({"-s", "-H", "127.0.0.1", "-p", "1", "-m", "4M"}), 1);
}

}  // namespace
}  // namespace migtest
