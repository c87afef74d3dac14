#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "migtest/results.hpp"

namespace migtest {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::Optional;

TEST(LatencyDistributionTest, PercentilesFromSamplesAreExact) {
  LatencyDistribution d;
  for (int i = 1; i <= 100; ++i) d.samples.push_back(microseconds(i * 10));
  auto p50 = d.Percentile(50);
  ASSERT_TRUE(p50);
  EXPECT_TRUE(p50->exact);
  EXPECT_EQ(p50->value, microseconds(500));
  EXPECT_EQ(d.Percentile(99)->value, microseconds(990));
  EXPECT_EQ(d.Percentile(100)->value, microseconds(1000));
  EXPECT_EQ(d.Count(), 100u);
  EXPECT_THAT(d.Average(), Optional(microseconds(505)));
  EXPECT_THAT(d.Max(), Optional(microseconds(1000)));
  EXPECT_THAT(d.Min(), Optional(microseconds(10)));
}

TEST(LatencyDistributionTest, PercentileFromHistogramIsABucketBound) {
  LatencyDistribution d;
  d.histogram = {{microseconds(0), microseconds(1), 90},
                 {microseconds(4), microseconds(8), 9},
                 {microseconds(524288), std::nullopt, 1}};
  auto p50 = d.Percentile(50);
  ASSERT_TRUE(p50);
  EXPECT_FALSE(p50->exact);
  EXPECT_EQ(p50->lower_bound, microseconds(0));
  EXPECT_THAT(p50->upper_bound, Optional(microseconds(1)));
  auto p99 = d.Percentile(99);
  EXPECT_EQ(p99->lower_bound, microseconds(4));
  EXPECT_THAT(p99->upper_bound, Optional(microseconds(8)));
  EXPECT_GE(p99->value, microseconds(4));
  EXPECT_LT(p99->value, microseconds(8));
  auto p100 = d.Percentile(100);
  EXPECT_EQ(p100->lower_bound, microseconds(524288));
  EXPECT_EQ(p100->upper_bound, std::nullopt);  // the open "over one second" bucket
  EXPECT_EQ(d.Count(), 100u);
  EXPECT_EQ(d.Average(), std::nullopt);  // a histogram does not know its mean
}

TEST(LatencyDistributionTest, ReportedFiguresOnlyForThePercentileReported) {
  LatencyDistribution d;
  d.reported_p99 = milliseconds(3);
  EXPECT_EQ(d.Percentile(99)->value, milliseconds(3));
  EXPECT_EQ(d.Percentile(90), std::nullopt);
  EXPECT_EQ(LatencyDistribution{}.Percentile(50), std::nullopt);
}

TEST(LatencyDistributionTest, AReportedExactPercentileBeatsTheHistogramBound) {
  LatencyDistribution d;
  d.histogram = {{microseconds(4), microseconds(8), 100}};
  d.reported_p99 = microseconds(7);
  EXPECT_TRUE(d.Percentile(99)->exact);
  EXPECT_EQ(d.Percentile(99)->value, microseconds(7));
  EXPECT_FALSE(d.Percentile(90)->exact);  // not reported: the bucket bound
}

TEST(NamesTest, FormatsAndStatusesRoundTrip) {
  for (Format f : {Format::kTlmz, Format::kQemuDebug, Format::kQemuQmp, Format::kCloudHypervisor,
                   Format::kMigmon, Format::kMigtest}) {
    EXPECT_THAT(FormatFromString(ToString(f)), Optional(f));
  }
  EXPECT_EQ(ToString(Format::kCloudHypervisor), "cloud-hypervisor");
  EXPECT_EQ(FormatFromString("qemu"), std::nullopt);
  EXPECT_THAT(StatusFromString("cancelled"), Optional(Status::kCancelled));
  EXPECT_EQ(StatusFromString("done"), std::nullopt);
}

TEST(MergeTest, FillsOnlyWhatIsMissing) {
  RunResult a;
  a.migration.emplace().downtime = milliseconds(20);
  a.migration->status = Status::kCompleted;
  RunResult b;
  b.migration.emplace().downtime = milliseconds(99);
  b.migration->total_time = milliseconds(900);
  b.probe.emplace().longest_blackout = milliseconds(70);
  Merge(a, b);
  EXPECT_THAT(a.migration->downtime, Optional(milliseconds(20)));
  EXPECT_THAT(a.migration->total_time, Optional(milliseconds(900)));
  EXPECT_EQ(a.migration->status, Status::kCompleted);
  ASSERT_TRUE(a.probe);
  EXPECT_THAT(a.probe->longest_blackout, Optional(milliseconds(70)));
}

TEST(FormatNamesTest, FmtPrintsTheResultJsonNames) {
  EXPECT_EQ(fmt::format("{}", Format::kQemuQmp), "qemu-qmp");
  EXPECT_EQ(fmt::format("{}", Format::kCloudHypervisor), "cloud-hypervisor");
  EXPECT_EQ(fmt::format("{}", Status::kCompleted), "completed");
  EXPECT_EQ(fmt::format("[{:>8}]", Status::kFailed), "[  failed]");
  // Every name printed reads back as the same value.
  for (Format f : {Format::kAuto, Format::kTlmz, Format::kQemuDebug, Format::kQemuQmp,
                   Format::kCloudHypervisor, Format::kMigmon, Format::kMigtest}) {
    EXPECT_EQ(FormatFromString(fmt::format("{}", f)), f);
  }
  for (Status st : {Status::kUnknown, Status::kActive, Status::kCompleted, Status::kFailed,
                    Status::kCancelled}) {
    EXPECT_EQ(StatusFromString(fmt::format("{}", st)), st);
  }
}

TEST(FormatNamesTest, EveryNameReadsBackAndDetectionFallsBackOnAHint) {
  std::vector<std::string> names = FormatNames();
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names.front(), "auto");
  EXPECT_THAT(names, ::testing::Contains("qemu-trace"));
  for (const std::string& name : names) {
    std::optional<Format> f = FormatFromString(name);
    ASSERT_TRUE(f) << name;
    EXPECT_EQ(ToString(*f), name);
  }
  // ping's summary alone reads as QEMU debug text; beside a migmon line, as migmon.
  EXPECT_EQ(DetectFormat("rtt min/avg/max/mdev = 1/2/3/4 ms\n"), Format::kQemuDebug);
  EXPECT_EQ(DetectFormat("rtt min/avg/max/mdev = 1/2/3/4 ms\nmax_delay: 5\n"), Format::kMigmon);
}

TEST(WorstStallTest, TheWorstSyncOrReportedStallAndWhatItWas) {
  MigrationResult m;
  EXPECT_EQ(WorstStall(m), std::nullopt);
  for (int i : {1, 2, 3}) {
    Iteration it;
    it.index = i;
    if (i != 2) it.sync_time = milliseconds(i == 3 ? 40 : 10);
    m.iterations.push_back(it);
  }
  auto sync = WorstStall(m);
  ASSERT_TRUE(sync);
  EXPECT_EQ(sync->duration, milliseconds(40));
  EXPECT_EQ(sync->iteration, 3);
  EXPECT_EQ(sync->section, std::nullopt);
  m.stalls.push_back(Stall{"ram", 2, milliseconds(40), std::nullopt});
  EXPECT_EQ(WorstStall(m)->iteration, 3);  // a tie goes to the iteration
  m.stalls.push_back(Stall{"block", std::nullopt, milliseconds(55), 3});
  auto worst = WorstStall(m);
  ASSERT_TRUE(worst);
  EXPECT_EQ(worst->duration, milliseconds(55));
  EXPECT_EQ(worst->iteration, std::nullopt);
  ASSERT_TRUE(worst->section);
  EXPECT_EQ(worst->section->section, "block");
  // The sync times alone.
  EXPECT_EQ(WorstStall(m, StallSources::kSyncOnly)->duration, milliseconds(40));
}

// One meaning of "downtime": the guest's pause when measured, then STOP→RESUME, then the VMM's
// figure; a printed "downtime" is the judged one, and QEMU's own figure is beside it by name.
TEST(JudgedDowntimeTest, ThePauseBeatsTheGapBeatsTheVmmsFigure) {
  MigrationResult m;
  m.format = Format::kQemuQmp;
  EXPECT_EQ(JudgedDowntime(m), std::nullopt);
  EXPECT_EQ(DowntimeText(m), "downtime not reported");
  m.downtime = milliseconds(22);
  EXPECT_EQ(JudgedDowntime(m), milliseconds(22));
  EXPECT_EQ(JudgedDowntimeOf(m)->from, DowntimeSource::kReported);
  EXPECT_EQ(ReportedDowntimeBeside(m), std::nullopt);
  EXPECT_EQ(DowntimeText(m), "downtime 22ms");
  m.stop_resume_gap = microseconds(35'100);
  EXPECT_EQ(JudgedDowntime(m), microseconds(35'100));
  EXPECT_EQ(DowntimeText(m), "downtime 35.1ms (QEMU reported 22ms)");
  m.guest_pause = microseconds(39'700);
  EXPECT_EQ(JudgedDowntimeOf(m)->from, DowntimeSource::kGuestPause);
  EXPECT_EQ(ReportedDowntimeBeside(m), milliseconds(22));
  EXPECT_EQ(DowntimeText(m), "downtime 39.7ms (QEMU reported 22ms)");
  EXPECT_THAT(Summary(m), ::testing::HasSubstr(", downtime 39.7ms (QEMU reported 22ms)"));
  m.downtime.reset();
  EXPECT_EQ(DowntimeText(m), "downtime 39.7ms (QEMU reported none)");
  m.format = Format::kCloudHypervisor;
  m.downtime = milliseconds(68);
  EXPECT_EQ(DowntimeText(m), "downtime 39.7ms (cloud-hypervisor reported 68ms)");
}

// The results headers alone (no matchers) print results readably in gtest messages and fmt.
TEST(PrintTest, ResultsPrintAsOneLineSummaries) {
  MigrationResult m;
  m.format = Format::kTlmz;
  m.status = Status::kCompleted;
  m.total_time = milliseconds(960);
  m.downtime = microseconds(6200);
  EXPECT_EQ(::testing::PrintToString(m), "completed in 960ms, downtime 6.2ms [tlmz]");
  EXPECT_EQ(fmt::format("{}", m), "completed in 960ms, downtime 6.2ms [tlmz]");
  EXPECT_EQ(FormatDuration(microseconds(850)), "850us");
  EXPECT_EQ(FormatDuration(microseconds(-850)), "-850us");
  EXPECT_EQ(FormatDuration(microseconds(9'999'900)), "9999.9ms");
  EXPECT_EQ(FormatDuration(seconds(10)), "10s");
  EXPECT_EQ(FormatDuration(milliseconds(12'345)), "12.3s");
  EXPECT_EQ(FormatDuration(milliseconds(59'940)), "59.9s");
  EXPECT_EQ(FormatDuration(milliseconds(179'963)), "3m00s");  // the TLMZ seed's total time
  EXPECT_EQ(FormatDuration(milliseconds(65'475)), "1m05s");
  EXPECT_EQ(FormatDuration(seconds(3723)), "1h02m03s");
  // The extremes a malformed input could reach print without overflow (found by fuzz_qemu_qmp).
  EXPECT_EQ(FormatDuration(Duration::max()), "2562047788h00m55s");
  EXPECT_EQ(FormatDuration(Duration::min()), "-2562047788h00m55s");
  EXPECT_EQ(FormatNumber(200.0), "200");
  EXPECT_EQ(FormatNumber(0.5), "0.5");
}

// ProblemsOf is the merge gate's outcome detector: each way a run can break is seen, each once,
// and a clean run has none.
TEST(ProblemsOfTest, ACleanRunHasNone) {
  RunResult run;
  run.migration.emplace().status = Status::kCompleted;
  run.migration->verified = true;
  run.guest.emplace().answered = true;
  run.verdict = TestVerdict{};
  EXPECT_TRUE(ProblemsOf(run).empty());
  EXPECT_TRUE(TimingsCount(ProblemsOf(run)));
}

TEST(ProblemsOfTest, EachBreakageIsNamedWithTheRunsOwnWords) {
  using K = RunProblem::Kind;
  auto kinds = [](const RunResult& r) {
    std::vector<K> out;
    for (const auto& p : ProblemsOf(r)) out.push_back(p.kind);
    return out;
  };
  RunResult base;
  base.migration.emplace().status = Status::kCompleted;

  RunResult cancelled = base;
  cancelled.migration->status = Status::kCancelled;
  cancelled.migration->error = "not finished within the scenario's timeout (8 s)\nmore";
  ASSERT_EQ(kinds(cancelled), std::vector<K>{K::kNotCompleted});
  EXPECT_EQ(ProblemsOf(cancelled)[0].why,
            "status cancelled: not finished within the scenario's timeout (8 s)");
  EXPECT_FALSE(TimingsCount(ProblemsOf(cancelled)));

  RunResult unknown = base;
  unknown.migration->status = Status::kUnknown;
  EXPECT_EQ(kinds(unknown), std::vector<K>{K::kNotCompleted}) << "never shown as completed";
  RunResult none;
  EXPECT_EQ(kinds(none), std::vector<K>{K::kNotCompleted});

  RunResult corrupt = base;
  corrupt.migration->verified = false;
  corrupt.guest.emplace().problems = {{31, "BUG: unable to handle page fault"}};
  EXPECT_EQ(kinds(corrupt), (std::vector<K>{K::kUnverified, K::kGuestUnhealthy}));
  EXPECT_THAT(ProblemsOf(corrupt)[1].why, ::testing::HasSubstr("BUG: unable to handle"));
  EXPECT_FALSE(TimingsCount(ProblemsOf(corrupt)));

  RunResult silent = base;
  silent.guest.emplace().answered = false;
  EXPECT_EQ(kinds(silent), std::vector<K>{K::kGuestUnhealthy});
  RunResult dirtier = base;
  dirtier.dirty.emplace().verify_errors = 2;
  EXPECT_EQ(kinds(dirtier), std::vector<K>{K::kUnverified});

  RunResult harness = base;
  harness.migration->status = Status::kFailed;
  harness.migration->error = std::string(kHarnessFailure);
  harness.extra = {{"harness_error", "qemu: could not load PC BIOS\nthe rest"}};
  ASSERT_EQ(kinds(harness), std::vector<K>{K::kHarness}) << "not also 'not completed'";
  EXPECT_EQ(ProblemsOf(harness)[0].why, "qemu: could not load PC BIOS");

  // A failed SLO is a measurement: a problem, but its timings count.
  RunResult slo = base;
  slo.verdict = TestVerdict{TestVerdict::Outcome::kFailed, {"a.cc:3: Value of: run.migration"}};
  EXPECT_EQ(kinds(slo), std::vector<K>{K::kTestFailed});
  EXPECT_TRUE(TimingsCount(ProblemsOf(slo)));
  // The verdict keeps each failure's full text; the problem gives one line of it.
  slo.verdict->failures = {
      "a.cc:3: Value of: run.migration\nExpected: has max downtime that is < 30ms\n  Actual: "
      "completed, whose downtime is 39.7ms"};
  EXPECT_EQ(ProblemsOf(slo)[0].why,
            "1 failed assertion(s), the first: a.cc:3: Value of: run.migration — Expected: has max "
            "downtime that is < 30ms");
  RunResult skipped = base;
  skipped.verdict = TestVerdict{TestVerdict::Outcome::kSkipped, {}};
  EXPECT_TRUE(ProblemsOf(skipped).empty());
}

TEST(FailureHeadlineTest, OneLineOfAFullFailure) {
  EXPECT_EQ(FailureHeadline("a.cc:3: Value of: run.migration\nExpected: is < 1ms\n  Actual: 2ms"),
            "a.cc:3: Value of: run.migration — Expected: is < 1ms");
  EXPECT_EQ(FailureHeadline("a.cc:9: Failed\nthe backend could not run"), "a.cc:9: Failed");
  EXPECT_EQ(FailureHeadline("a.cc:3: Value of: x"), "a.cc:3: Value of: x");
  EXPECT_EQ(FailureHeadline(""), "");
}

TEST(DeviceTimesTest, EachDeviceInItsPhaseSlowestFirst) {
  MigrationResult m;
  m.downtime_devices = {
      {"ram", 0, "source", "iterable", microseconds(67)},
      {"0000:00:01.0/virtio-net", 0, "destination", "non-iterable", microseconds(594)},
      {"dma", 1, "source", "non-iterable", microseconds(8)},
      {"cpu", 0, "source", "non-iterable", microseconds(76)},
      {"cpu", 0, "destination", "non-iterable", microseconds(22)}};
  EXPECT_EQ(DevicePhase(m.downtime_devices[0]), "iterable-save");
  EXPECT_EQ(DevicePhase(m.downtime_devices[1]), "destination-load");
  EXPECT_EQ(DevicePhase(m.downtime_devices[2]), "non-iterable-save");
  EXPECT_EQ(DeviceName(m.downtime_devices[2]), "dma #1");
  EXPECT_EQ(DeviceName(m.downtime_devices[3]), "cpu");
  auto names = [](const std::vector<const DeviceDowntime*>& v) {
    std::vector<std::string> out;
    for (const DeviceDowntime* d : v) out.push_back(DeviceName(*d) + "/" + d->side);
    return out;
  };
  EXPECT_EQ(names(SlowestDevices(m, "source", "", 2)),
            (std::vector<std::string>{"cpu/source", "ram/source"}));
  EXPECT_EQ(names(SlowestDevices(m, "", "non-iterable-save", 5)),
            (std::vector<std::string>{"cpu/source", "dma #1/source"}));
  EXPECT_EQ(names(SlowestDevices(m, "", "", 1)),
            std::vector<std::string>{"0000:00:01.0/virtio-net/destination"});
  EXPECT_TRUE(SlowestDevices(m, "", "announce", 3).empty());
}

}  // namespace
}  // namespace migtest
