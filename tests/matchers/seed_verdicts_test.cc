// SLO verdicts a migration engineer expects on the seed documents, through the parsers.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "../results/test_data.hpp"
#include "explain.hpp"
#include "migtest/matchers.hpp"
#include "migtest/results.hpp"

namespace migtest {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Le;
using ::testing::Lt;
using ::testing::Matcher;
using ::testing::Not;

using testing_data::Data;

using test::Explain;

TEST(SeedVerdictsTest, TlmzRunBreaksA100msDowntimeSlo) {
  RunResult run = ParseFile(Data("tlmz_seed.log"));
  EXPECT_THAT(run.migration, Not(MaxDowntime(Lt(100ms))));
  EXPECT_EQ(Explain(MaxDowntime(Lt(100ms)), run.migration), "whose downtime is 1m05s");
  EXPECT_THAT(run.migration, Not(TotalMigrationTime(Le(30s))));
  EXPECT_EQ(Explain(NoIterationStallAbove(50ms), run.migration),
            "iteration 3 of 6 stalled 491ms in dirty-bitmap sync (limit 50ms)");
  ASSERT_TRUE(run.migration.has_value());
  EXPECT_THAT(testing::PrintToString(*run.migration),
              HasSubstr("completed in 3m00s, downtime 1m05s, 6 iterations, worst sync 491ms"));
}

TEST(SeedVerdictsTest, QemuDebugFirstRunStalls) {
  RunResult run = ParseFile(Data("qemu_debug_seed.txt"));
  EXPECT_THAT(run.migration, Not(NoIterationStallAbove(50ms)));
  EXPECT_THAT(Explain(NoIterationStallAbove(50ms), run.migration), HasSubstr("3266ms"));
  EXPECT_EQ(Explain(NoIterationStallAbove(50ms), run.migration),
            "section ram (id 3) stalled 3266ms, 46 times (limit 50ms)");
  // The last run of the series, "with all patches applied", has one 109ms mini-stall.
  auto runs = ParseFileRuns(Data("qemu_debug_seed.txt"));
  EXPECT_THAT(runs.back().migration, NoIterationStallAbove(110ms));
  EXPECT_THAT(runs.back().migration, Not(NoIterationStallAbove(100ms)));
}

// mig_mon's own prober output, judged like migtest's prober: its longest wait for an answer
// (412 ms, client_rr.log's max_delay and client_rr_spikes.csv's largest spike) is the blackout.
TEST(SeedVerdictsTest, MigmonProberLogsJudgedByGuestBlackout) {
  for (const char* log : {"client_rr.log", "client_rr_spikes.csv"}) {
    SCOPED_TRACE(log);
    RunResult run = ParseFile(Data(log));
    EXPECT_THAT(run.probe, GuestBlackout(Lt(500ms)));
    EXPECT_THAT(run.probe, GuestBlackout(Le(412ms)));
    EXPECT_THAT(run.probe, Not(GuestBlackout(Lt(412ms))));
    EXPECT_THAT(run.probe, Not(GuestBlackout(Lt(400ms))));
  }
  RunResult run = ParseFile(Data("client_rr.log"));
  EXPECT_EQ(Explain(GuestBlackout(Lt(400ms)), run.probe), "whose longest blackout is 412ms");
}

TEST(SeedVerdictsTest, CloudHypervisorDowntimeWithItsPhases) {
  RunResult run = ParseFile(Data("cloud_hypervisor_seed.txt"));
  EXPECT_THAT(run.migration, MaxDowntime(Lt(100ms)));
  EXPECT_THAT(run.migration, TotalMigrationTime(Le(1s)));
  EXPECT_EQ(Explain(MaxDowntime(Lt(50ms)), run.migration),
            "whose downtime is 68ms (final_memory_delta=55ms, snapshot=2ms, sending_snapshot=7ms, "
            "completing=1ms)");
  EXPECT_THAT(run.migration, DowntimePhase("snapshot", Lt(5ms)));
}

TEST(SeedVerdictsTest, BriefExampleCompilesAndJudges) {
  RunResult run = ParseFile(Data("qmp_transcript.jsonl"));
  run.probe.emplace();
  run.probe->longest_blackout = 90ms;
  run.migration->postcopy_latency.emplace().samples = {800us, 1200us, 4000us};
  EXPECT_THAT(run.migration, MaxDowntime(Lt(100ms)));
  EXPECT_THAT(run.migration, Not(NoIterationStallAbove(50ms)));  // QMP carries no sync times
  EXPECT_THAT(run.probe, GuestBlackout(Lt(150ms)));
  EXPECT_THAT(run.migration, TotalMigrationTime(Le(30s)));
  EXPECT_THAT(run.migration, PostcopyLatency(Percentile(99), Lt(5ms)));
  EXPECT_THAT(run, DowntimeGap(Lt(50ms)));
}

// A real QEMU 10 precopy (trace recorded from two QEMUs): the explanation says where the pause
// went by device, from the per-device times of the run itself.
TEST(SeedVerdictsTest, Qemu10TraceNamesTheSlowestDeviceOfTheLargestPhase) {
  RunResult run = ParseQemuTraceFiles(
      {Data("qemu10-trace-precopy-source.log"), Data("qemu10-trace-precopy-destination.log")});
  ASSERT_TRUE(run.migration && run.migration->guest_pause);
  const MigrationResult& m = *run.migration;
  const std::string why = Explain(MaxDowntime(Lt(1ms)), m);
  EXPECT_THAT(why, HasSubstr("the guest's pause, from QEMU trace checkpoints"));
  auto largest =
      std::max_element(m.downtime_breakdown.begin(), m.downtime_breakdown.end(),
                       [](const Phase& a, const Phase& b) { return a.duration < b.duration; });
  ASSERT_NE(largest, m.downtime_breakdown.end());
  const auto there = SlowestDevices(m, "", largest->name, 1);
  ASSERT_FALSE(there.empty()) << largest->name << " has no device times: " << why;
  EXPECT_THAT(why, HasSubstr(fmt::format("; the largest phase {} {}, slowest device there: {} {}",
                                         largest->name, FormatDuration(largest->duration),
                                         DeviceName(*there.front()),
                                         FormatDuration(there.front()->duration))));
}

}  // namespace
}  // namespace migtest
