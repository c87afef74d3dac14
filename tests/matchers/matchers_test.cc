#include "migtest/matchers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "explain.hpp"

namespace migtest {
namespace {

using namespace std::chrono_literals;
using std::chrono::microseconds;
using ::testing::AllOf;
using ::testing::DescribeMatcher;
using ::testing::Ge;
using ::testing::Gt;
using ::testing::HasSubstr;
using ::testing::Le;
using ::testing::Lt;
using ::testing::Matcher;
using ::testing::Not;

using test::Explain;
using test::Matches;

MigrationResult Completed() {
  MigrationResult m;
  m.format = Format::kCloudHypervisor;
  m.status = Status::kCompleted;
  m.total_time = 960ms;
  m.downtime = 143ms;
  m.setup_time = 3ms;
  m.converged = true;
  m.verified = true;
  m.downtime_breakdown = {
      {"final_iter", 120ms}, {"state", 9ms}, {"send_state", 13ms}, {"complete", 1ms}};
  for (int i = 1; i <= 9; ++i) {
    Iteration it;
    it.index = i;
    it.sync_time = i == 7 ? 212ms : std::chrono::milliseconds(10 + i);
    it.bandwidth_mib_s = 1000.0 + i;
    m.iterations.push_back(it);
  }
  return m;
}

TEST(MaxDowntimeTest, MatchAndMismatch) {
  MigrationResult m = Completed();
  EXPECT_THAT(m, MaxDowntime(Lt(150ms)));
  EXPECT_THAT(m, Not(MaxDowntime(Lt(100ms))));
  EXPECT_FALSE(Matches(MaxDowntime(Lt(100ms)), m));
}

TEST(MaxDowntimeTest, DescriptionsCompleteTheSentence) {
  EXPECT_EQ(DescribeMatcher<MigrationResult>(MaxDowntime(Lt(100ms))),
            "has max downtime that is < 100ms");
  EXPECT_EQ(DescribeMatcher<MigrationResult>(MaxDowntime(Lt(100ms)), /*negation=*/true),
            "has max downtime that isn't < 100ms");
}

TEST(MaxDowntimeTest, ExplanationNamesTheBreakdown) {
  EXPECT_EQ(Explain(MaxDowntime(Lt(100ms)), Completed()),
            "whose downtime is 143ms (final_iter=120ms, state=9ms, send_state=13ms, complete=1ms)");
}

TEST(MaxDowntimeTest, JudgesTheGuestsPauseAndShowsTheVmmsFigure) {
  // QEMU: its own downtime is the source's side only; the trace's pause is what the guest lived.
  MigrationResult m;
  m.format = Format::kQemuQmp;
  m.status = Status::kCompleted;
  m.downtime = 9ms;
  EXPECT_THAT(m, MaxDowntime(Lt(10ms)));
  EXPECT_EQ(Explain(MaxDowntime(Lt(10ms)), m),
            "whose downtime is 9ms (QEMU's own figure: the source's side only)");
  m.stop_resume_gap = 21ms;
  EXPECT_THAT(m, Not(MaxDowntime(Lt(10ms)))) << "the STOP→RESUME gap beats QEMU's figure";
  EXPECT_EQ(Explain(MaxDowntime(Lt(10ms)), m),
            "whose downtime is 21ms (the guest's pause, from the source's STOP event to the "
            "destination's RESUME; QEMU reported 9ms)");
  m.guest_pause = 66ms;
  m.config["guest_pause_from"] =
      "QEMU trace checkpoints src-downtime-start → dst-precopy-bh-vm-started";
  m.downtime_breakdown = {{"stop", 8ms}, {"destination-load", 58ms}};
  EXPECT_THAT(m, Not(MaxDowntime(Lt(50ms)))) << "the trace's pause beats the event gap";
  EXPECT_THAT(m, MaxDowntime(Lt(67ms)));
  EXPECT_EQ(Explain(MaxDowntime(Lt(50ms)), m),
            "whose downtime is 66ms (the guest's pause, from QEMU trace checkpoints "
            "src-downtime-start → dst-precopy-bh-vm-started; QEMU reported 9ms) (stop=8ms, "
            "destination-load=58ms)");
}

// A QEMU 10 run with trace checkpoints and per-device times, whose VGA was made slow on purpose:
// the largest phase is the source's non-iterable save, and vga its slowest device.
MigrationResult SlowVga() {
  MigrationResult m;
  m.format = Format::kQemuTrace;
  m.status = Status::kCompleted;
  m.downtime = 22ms;
  m.guest_pause = 39700us;
  m.config["guest_pause_from"] =
      "QEMU trace checkpoints src-downtime-start → dst-precopy-bh-vm-started";
  m.downtime_breakdown = {{"stop", 1ms},
                          {"iterable-save", 3ms},
                          {"non-iterable-save", 30100us},
                          {"source-complete", 100us},
                          {"destination-load", 4500us},
                          {"vcpu-start", 1ms}};
  m.downtime_devices = {{"0000:00:01.0/virtio-net", 0, "destination", "non-iterable", 3100us},
                        {"ram", 0, "source", "iterable", 2900us},
                        {"0000:00:02.0/vga", 0, "source", "non-iterable", 12300us},
                        {"cpu", 0, "source", "non-iterable", 900us}};
  return m;
}

TEST(MaxDowntimeTest, NamesTheSlowestDeviceOfTheLargestPhase) {
  const MigrationResult m = SlowVga();
  EXPECT_EQ(Explain(MaxDowntime(Lt(30ms)), m),
            "whose downtime is 39.7ms (the guest's pause, from QEMU trace checkpoints "
            "src-downtime-start → dst-precopy-bh-vm-started; QEMU reported 22ms) (stop=1ms, "
            "iterable-save=3ms, non-iterable-save=30.1ms, source-complete=100us, "
            "destination-load=4.5ms, vcpu-start=1ms); the largest phase non-iterable-save 30.1ms, "
            "slowest device there: 0000:00:02.0/vga 12.3ms");
  // The slowest device of the largest phase, not the slowest of a phase the SLO does not judge.
  MigrationResult load = m;
  load.downtime_breakdown[4].duration = 40ms;
  EXPECT_THAT(Explain(MaxDowntime(Lt(30ms)), load),
              ::testing::EndsWith("; the largest phase destination-load 40ms, slowest device "
                                  "there: 0000:00:01.0/virtio-net 3.1ms"));
  // A largest phase no device time falls in: the slowest device anywhere, and where it was.
  MigrationResult announce = m;
  announce.downtime_breakdown.push_back({"announce", 50ms});
  EXPECT_THAT(Explain(MaxDowntime(Lt(30ms)), announce),
              ::testing::EndsWith("; the largest phase announce 50ms (no device times there; "
                                  "slowest device: 0000:00:02.0/vga 12.3ms, save on the source)"));
  // No breakdown (checkpoints out of order): the slowest device alone.
  MigrationResult flat = m;
  flat.downtime_breakdown.clear();
  EXPECT_THAT(Explain(MaxDowntime(Lt(30ms)), flat),
              ::testing::EndsWith("QEMU reported 22ms); slowest device: 0000:00:02.0/vga 12.3ms "
                                  "(save on the source)"));
}

TEST(MaxDowntimeTest, SaysNothingOfDevicesWithoutDeviceTimes) {
  MigrationResult m = SlowVga();
  m.downtime_devices.clear();
  const std::string why = Explain(MaxDowntime(Lt(30ms)), m);
  EXPECT_THAT(why, Not(::testing::HasSubstr("device")));
  EXPECT_THAT(why, Not(::testing::HasSubstr("largest phase")));
  EXPECT_THAT(why, ::testing::EndsWith("vcpu-start=1ms)"));
  EXPECT_EQ(Explain(MaxDowntime(Lt(100ms)), Completed()),
            "whose downtime is 143ms (final_iter=120ms, state=9ms, send_state=13ms, complete=1ms)");
}

TEST(DowntimePhaseTest, ComparesWithTheJudgedDowntimeAndNamesDevices) {
  const MigrationResult m = SlowVga();
  // "of 39.7ms": the guest's pause, not QEMU's source-side 22 ms.
  EXPECT_EQ(Explain(DowntimePhase("non-iterable-save", Lt(10ms)), m),
            "whose downtime phase non-iterable-save is 30.1ms of 39.7ms, slowest device there: "
            "0000:00:02.0/vga 12.3ms");
  // Another phase: its own slowest device, then the largest phase's.
  EXPECT_EQ(Explain(DowntimePhase("destination-load", Lt(1ms)), m),
            "whose downtime phase destination-load is 4.5ms of 39.7ms, slowest device there: "
            "0000:00:01.0/virtio-net 3.1ms; the largest phase non-iterable-save 30.1ms, slowest "
            "device there: 0000:00:02.0/vga 12.3ms");
  EXPECT_EQ(Explain(DowntimePhase("vcpu-start", Lt(100us)), m),
            "whose downtime phase vcpu-start is 1ms of 39.7ms; the largest phase "
            "non-iterable-save 30.1ms, slowest device there: 0000:00:02.0/vga 12.3ms");
  MigrationResult none = m;
  none.downtime_devices.clear();
  EXPECT_EQ(Explain(DowntimePhase("vcpu-start", Lt(100us)), none),
            "whose downtime phase vcpu-start is 1ms of 39.7ms");
}

TEST(DowntimeDeviceTest, JudgesTheWorstMatchingDevice) {
  MigrationResult m;
  m.format = Format::kQemuQmp;
  m.status = Status::kCompleted;
  m.downtime_devices = {{"kvm-tpr-opt", 0, "destination", "non-iterable", 6872us},
                        {"0000:00:01.0/virtio-net", 0, "destination", "non-iterable", 594us},
                        {"0000:00:01.0/virtio-net", 0, "source", "non-iterable", 458us}};
  EXPECT_THAT(m, DowntimeDevice("virtio-net", Lt(1ms)));
  EXPECT_THAT(m, Not(DowntimeDevice("virtio-net", Lt(500us)))) << "the load, not the save";
  EXPECT_EQ(Explain(DowntimeDevice("virtio-net", Lt(500us)), m),
            "whose device 0000:00:01.0/virtio-net took 594us to load on the destination (the "
            "worst of 2 matching entries)");
  EXPECT_EQ(DescribeMatcher<MigrationResult>(DowntimeDevice("virtio-net", Lt(2ms))),
            "has downtime of device virtio-net that is < 2ms");
  EXPECT_FALSE(Matches(DowntimeDevice("e1000", Lt(2ms)), m));
  EXPECT_EQ(Explain(DowntimeDevice("e1000", Lt(2ms)), m),
            "which has no device matching e1000 (worst first: kvm-tpr-opt, "
            "0000:00:01.0/virtio-net, 0000:00:01.0/virtio-net)");
  m.downtime_devices.clear();
  EXPECT_EQ(Explain(DowntimeDevice("virtio-net", Lt(2ms)), m),
            "which has no per-device downtime figures (format qemu-qmp reported none)");
}

TEST(MaxDowntimeTest, MissingFigureIsANonMatch) {
  MigrationResult m;
  m.format = Format::kTlmz;
  m.status = Status::kCompleted;
  EXPECT_FALSE(Matches(MaxDowntime(Lt(100ms)), m));
  EXPECT_EQ(Explain(MaxDowntime(Lt(100ms)), m),
            "which has no downtime figure (format tlmz reported none)");
  m.status = Status::kFailed;
  m.error = "connection reset";
  EXPECT_EQ(Explain(MaxDowntime(Lt(100ms)), m),
            "which has no downtime figure (format tlmz reported none; status failed: "
            "connection reset)");
  // Not() of a missing figure is a match: the figure is not < 100ms, it is absent.
  std::optional<MigrationResult> none;
  EXPECT_FALSE(Matches(MaxDowntime(Lt(100ms)), none));
  EXPECT_EQ(Explain(MaxDowntime(Lt(100ms)), none), "which has no migration result");
}

TEST(MaxDowntimeTest, AcceptsTheOptionalARunResultHolds) {
  RunResult run;
  run.migration = Completed();
  EXPECT_THAT(run.migration, MaxDowntime(Lt(150ms)));
  EXPECT_THAT(run.migration, AllOf(MaxDowntime(Gt(100ms)), TotalMigrationTime(Le(1s))));
}

TEST(MaxDowntimeTest, UnitsCompareAcrossDurations) {
  MigrationResult m = Completed();
  EXPECT_THAT(m, MaxDowntime(Lt(0.15s)));
  EXPECT_THAT(m, MaxDowntime(Lt(std::chrono::duration<double>(0.144))));
  EXPECT_THAT(m, MaxDowntime(Le(microseconds(143000))));
  EXPECT_THAT(m, Not(MaxDowntime(Lt(microseconds(143000)))));
  EXPECT_THAT(m, MaxDowntime(AllOf(Gt(0.1s), Lt(150000us))));
}

TEST(DowntimePhaseTest, OnePhase) {
  MigrationResult m = Completed();
  EXPECT_THAT(m, DowntimePhase("state", Lt(10ms)));
  EXPECT_THAT(m, Not(DowntimePhase("final_iter", Lt(100ms))));
  EXPECT_EQ(DescribeMatcher<MigrationResult>(DowntimePhase("state", Lt(10ms))),
            "has downtime phase state that is < 10ms");
  EXPECT_EQ(Explain(DowntimePhase("final_iter", Lt(100ms)), m),
            "whose downtime phase final_iter is 120ms of 143ms");
  EXPECT_EQ(Explain(DowntimePhase("snapshot", Lt(10ms)), m),
            "which has no downtime phase named snapshot (phases: final_iter, state, send_state, "
            "complete)");
  m.downtime_breakdown.clear();
  EXPECT_EQ(Explain(DowntimePhase("snapshot", Lt(10ms)), m),
            "which has no downtime breakdown (format cloud-hypervisor reported none)");
}

TEST(TotalAndSetupTimeTest, Figures) {
  MigrationResult m = Completed();
  EXPECT_THAT(m, TotalMigrationTime(Le(30s)));
  EXPECT_THAT(m, SetupTime(Lt(5ms)));
  EXPECT_EQ(DescribeMatcher<MigrationResult>(TotalMigrationTime(Le(30s))),
            "has total migration time that is <= 30s");
  EXPECT_EQ(Explain(TotalMigrationTime(Lt(500ms)), m), "whose total migration time is 960ms");
  EXPECT_EQ(Explain(SetupTime(Lt(1ms)), m), "whose setup time is 3ms");
  m.setup_time.reset();
  EXPECT_FALSE(Matches(SetupTime(Lt(1s)), m));
  EXPECT_EQ(Explain(SetupTime(Lt(1s)), m),
            "which has no setup time (format cloud-hypervisor reported none)");
}

TEST(NoIterationStallAboveTest, NamesTheWorstIteration) {
  MigrationResult m = Completed();
  EXPECT_THAT(m, NoIterationStallAbove(250ms));
  EXPECT_THAT(m, Not(NoIterationStallAbove(50ms)));
  EXPECT_EQ(Explain(NoIterationStallAbove(50ms), m),
            "iteration 7 of 9 stalled 212ms in dirty-bitmap sync (limit 50ms)");
  EXPECT_EQ(Explain(NoIterationStallAbove(250ms), m),
            "whose worst stall is 212ms: iteration 7 of 9 stalled 212ms in dirty-bitmap sync");
  EXPECT_EQ(DescribeMatcher<MigrationResult>(NoIterationStallAbove(50ms)),
            "has no iteration stall above 50ms");
  EXPECT_EQ(DescribeMatcher<MigrationResult>(NoIterationStallAbove(50ms), true),
            "has an iteration stall above 50ms");
}

TEST(NoIterationStallAboveTest, QemuStyleStalls) {
  MigrationResult m;
  m.format = Format::kQemuDebug;
  m.status = Status::kCompleted;
  m.stalls = {{"ram", 3, 3266ms, 46}, {"devices", std::nullopt, 1ms, 1}};
  EXPECT_EQ(Explain(NoIterationStallAbove(50ms), m),
            "section ram (id 3) stalled 3266ms, 46 times (limit 50ms)");
  m.stalls = {{"devices", std::nullopt, 1ms, 1}};
  EXPECT_THAT(m, NoIterationStallAbove(50ms));
  m.stalls.clear();
  EXPECT_EQ(Explain(NoIterationStallAbove(50ms), m),
            "which has no iteration sync times or stalls (format qemu-debug reported none)");
  EXPECT_FALSE(Matches(NoIterationStallAbove(50ms), m));
}

TEST(IterationsTest, Count) {
  MigrationResult m = Completed();
  EXPECT_THAT(m, Iterations(Le(9u)));
  EXPECT_THAT(m, Iterations(Ge(2)));
  EXPECT_EQ(Explain(Iterations(Le(5u)), m), "which has 9 iterations");
  EXPECT_EQ(DescribeMatcher<MigrationResult>(Iterations(Le(5u))),
            "has iteration count that is <= 5");
  m.iterations.clear();
  EXPECT_FALSE(Matches(Iterations(Ge(0u)), m));
}

TEST(PagesResentTest, SumsTheRoundsAfterTheFirstPass) {
  MigrationResult m = Completed();
  m.iterations.resize(3);
  m.iterations[0].pages_sent = 65536;  // the full pass: not a re-send
  m.iterations[1].pages_sent = 2300;
  m.iterations[2].pages_sent = 12;
  EXPECT_THAT(m, PagesResent(Gt(0u)));
  EXPECT_EQ(Explain(PagesResent(Gt(0u)), m),
            "whose rounds after the first pass sent 2312 pages (iteration 2: 2300, iteration 3: "
            "12)");
  EXPECT_EQ(DescribeMatcher<MigrationResult>(PagesResent(Gt(0u))),
            "has pages sent again after the first pass that is > 0");
  // An idle guest: the stop-and-copy sends nothing.
  m.iterations[1].pages_sent = 0;
  m.iterations[2].pages_sent = 0;
  EXPECT_THAT(m, Not(PagesResent(Gt(0u))));
  EXPECT_THAT(m, PagesResent(0u));
  // A round without a count, or no round after the first: absent, a non-match either way.
  m.iterations[2].pages_sent.reset();
  EXPECT_FALSE(Matches(PagesResent(Ge(0u)), m));
  EXPECT_EQ(Explain(PagesResent(Ge(0u)), m),
            "which has no page counts for the rounds after the first pass (format "
            "cloud-hypervisor reported none)");
  m.iterations.resize(1);
  EXPECT_FALSE(Matches(PagesResent(Ge(0u)), m));
}

// Auto-converge with cpu-throttle-initial 20, -increment 10, -max 60: a run whose throttle starts
// at 20 and stays at or below 60 passes; one that jumped past the max, or started below the
// initial, fails naming every iteration's throttle.
TEST(CpuThrottleTest, FirstAndHighestThrottledIteration) {
  MigrationResult m = Completed();
  m.iterations.resize(4);
  for (int i = 0; i < 4; ++i) m.iterations[i].index = i + 1;
  m.iterations[1].cpu_throttle_percent = 20;
  m.iterations[2].cpu_throttle_percent = 30;
  m.iterations[3].cpu_throttle_percent = 40;
  EXPECT_THAT(m, FirstCpuThrottle(Ge(20)));
  EXPECT_THAT(m, MaxCpuThrottle(Le(60)));
  EXPECT_THAT(m, MaxCpuThrottle(40));
  // Broken on purpose: a throttle above the max, a first step below the initial.
  m.iterations[3].cpu_throttle_percent = 99;
  EXPECT_THAT(m, Not(MaxCpuThrottle(Le(60))));
  EXPECT_EQ(Explain(MaxCpuThrottle(Le(60)), m),
            "whose iterations were throttled so (iteration 1: -, iteration 2: 20 %, iteration 3: "
            "30 %, iteration 4: 99 %)");
  m.iterations[1].cpu_throttle_percent = 5;
  EXPECT_THAT(m, Not(FirstCpuThrottle(Ge(20))));
  EXPECT_EQ(DescribeMatcher<MigrationResult>(FirstCpuThrottle(Ge(20))),
            "has the vCPU throttle of the first throttled iteration, in % that is >= 20");
  // Never throttled: no figure, said so.
  for (Iteration& it : m.iterations) it.cpu_throttle_percent.reset();
  EXPECT_FALSE(Matches(MaxCpuThrottle(Ge(0)), m));
  EXPECT_EQ(Explain(MaxCpuThrottle(Ge(0)), m), "which throttled none of its 4 iterations");
}

// A VMM counter by name: QEMU's zero pages (duplicate) and multifd bytes. Broken on purpose: a
// run with zero-page detection off (no duplicate pages) fails the check a detecting run passes,
// and a counter the VMM never reported is a non-match naming those it did.
TEST(CounterTest, ByteAndPageCountersByName) {
  MigrationResult m = Completed();
  m.pages = {{"normal", 16384}, {"duplicate", 114688}};
  m.bytes = {{"transferred", 70000000}, {"multifd", 67108864}};
  EXPECT_THAT(m, PageCount("duplicate", Gt(0u)));
  EXPECT_THAT(m, ByteCount("multifd", Ge(64u << 20)));
  EXPECT_EQ(Explain(PageCount("duplicate", Gt(0u)), m),
            "whose pages counter 'duplicate' is 114688 (beside: normal 16384)");
  m.pages["duplicate"] = 0;
  EXPECT_THAT(m, Not(PageCount("duplicate", Gt(0u))));
  EXPECT_EQ(DescribeMatcher<MigrationResult>(ByteCount("multifd", Gt(0u))),
            "has the bytes counter 'multifd' that is > 0");
  m.bytes.erase("multifd");
  EXPECT_FALSE(Matches(ByteCount("multifd", Ge(0u)), m));
  EXPECT_EQ(Explain(ByteCount("multifd", Ge(0u)), m),
            "which has no bytes counter 'multifd' (it has: transferred)");
  m.pages.clear();
  EXPECT_THAT(Explain(PageCount("xbzrle", Ge(0u)), m), HasSubstr("which has no pages counters"));
}

TEST(ConvergedTest, Verdicts) {
  MigrationResult m = Completed();
  EXPECT_THAT(m, Converged());
  EXPECT_EQ(Explain(Converged(), m), "which converged after 9 iterations");
  m.converged = false;
  EXPECT_THAT(m, Not(Converged()));
  EXPECT_EQ(Explain(Converged(), m),
            "which completed after 9 iterations only because it was forced to stop (not "
            "converged)");
  m.converged.reset();
  EXPECT_THAT(m, Not(Converged())) << "absent is a non-match, never a pass";
  EXPECT_EQ(Explain(Converged(), m),
            "which completed after 9 iterations, but format cloud-hypervisor does not say "
            "whether it converged");
  m.status = Status::kFailed;
  m.error = "peer closed";
  EXPECT_EQ(Explain(Converged(), m), "which did not complete (status failed: peer closed)");
  EXPECT_EQ(DescribeMatcher<MigrationResult>(Converged()),
            "converged (completed without being forced to stop)");
  EXPECT_EQ(DescribeMatcher<MigrationResult>(Converged(), true),
            "did not converge (failed, or forced to stop at the iteration cap)");
}

TEST(MemoryVerifiedTest, Verdicts) {
  MigrationResult m = Completed();
  EXPECT_THAT(m, MemoryVerified());
  EXPECT_EQ(Explain(MemoryVerified(), m), "whose destination memory verified");
  m.verified = false;
  m.error = "page 17 differs";
  EXPECT_EQ(Explain(MemoryVerified(), m),
            "whose destination memory did not verify: page 17 differs");
  m.verified.reset();
  EXPECT_FALSE(Matches(MemoryVerified(), m));
  EXPECT_EQ(DescribeMatcher<MigrationResult>(MemoryVerified()),
            "has destination memory verified equal to the source's");
  // A real VM: its own dirtier checked what it rewrote, and the explanation says so.
  m.verified = true;
  m.config["verified_by"] = "the guest's dirtier on the destination (64 MiB working set, 3 s)";
  EXPECT_EQ(Explain(MemoryVerified(), m),
            "whose destination memory verified (checked by the guest's dirtier on the "
            "destination (64 MiB working set, 3 s))");
  // Part of it checked: no verification, and the explanation gives the coverage.
  m.verified.reset();
  m.config["verified_by"] = "the guest's dirtier: 45219 of 65536 pages (68.9 %) checked";
  EXPECT_FALSE(Matches(MemoryVerified(), m));
  EXPECT_EQ(Explain(MemoryVerified(), m),
            "whose destination memory was not verified in full (checked by the guest's dirtier: "
            "45219 of 65536 pages (68.9 %) checked)");
}

TEST(BandwidthTest, AverageOfSamplesThenIterations) {
  MigrationResult m = Completed();
  EXPECT_THAT(m, Bandwidth(Gt(1004.9)));
  EXPECT_EQ(Explain(Bandwidth(Gt(2000.0)), m),
            "whose average bandwidth is 1005 MiB/s over its iterations");
  m.bandwidth_mib_s = {1900, 1950};
  EXPECT_EQ(Explain(Bandwidth(Gt(2000.0)), m),
            "whose average bandwidth is 1925 MiB/s over 2 per-second samples");
  EXPECT_EQ(DescribeMatcher<MigrationResult>(Bandwidth(Gt(2000.0))),
            "has average bandwidth in MiB/s that is > 2000");
}

TEST(PostcopyLatencyTest, ExactSamples) {
  MigrationResult m = Completed();
  LatencyDistribution d;
  for (int i = 1; i <= 100; ++i) d.samples.push_back(microseconds(i * 100));
  m.postcopy_latency = d;
  EXPECT_THAT(m, PostcopyLatency(Percentile(99), Lt(10ms)));
  EXPECT_THAT(m, PostcopyLatency(Average(), Lt(6ms)));
  EXPECT_THAT(m, PostcopyLatency(Max(), Le(10ms)));
  EXPECT_EQ(Explain(PostcopyLatency(Percentile(99), Lt(5ms)), m),
            "whose p99 postcopy latency is 9.9ms over 100 requests");
  EXPECT_EQ(DescribeMatcher<MigrationResult>(PostcopyLatency(Percentile(99), Lt(5ms))),
            "has p99 postcopy latency that is < 5ms");
  EXPECT_EQ(DescribeMatcher<MigrationResult>(PostcopyLatency(Average(), Lt(5ms))),
            "has average postcopy latency that is < 5ms");
}

TEST(PostcopyLatencyTest, HistogramPercentileIsABound) {
  MigrationResult m = Completed();
  LatencyDistribution d;
  d.histogram = {{microseconds(2048), microseconds(4096), 1800},
                 {microseconds(4096), microseconds(8192), 34}};
  m.postcopy_latency = d;
  EXPECT_EQ(Explain(PostcopyLatency(Percentile(99), Lt(5ms)), m),
            "whose p99 postcopy latency is 5.8ms over 1834 requests (histogram bucket bound; true "
            "value in [4.1ms, 8.2ms))");
  EXPECT_THAT(m, Not(PostcopyLatency(Percentile(99), Lt(5ms))));
  d.histogram.push_back({microseconds(524288), std::nullopt, 100});
  m.postcopy_latency = d;
  EXPECT_EQ(Explain(PostcopyLatency(Max(), Lt(1s)), m),
            "whose max postcopy latency is 524.3ms over 1934 requests (open histogram bucket; "
            "true value ≥ 524.3ms)");
}

TEST(PostcopyLatencyTest, Missing) {
  MigrationResult m = Completed();
  EXPECT_EQ(Explain(PostcopyLatency(Percentile(99), Lt(5ms)), m),
            "which has no postcopy latency figures (format cloud-hypervisor reported none)");
  m.postcopy_latency = LatencyDistribution{};
  m.postcopy_latency->reported_avg = 120us;
  EXPECT_THAT(m, PostcopyLatency(Average(), Lt(1ms)));
  EXPECT_EQ(Explain(PostcopyLatency(Percentile(99), Lt(5ms)), m),
            "which has no p99 postcopy latency figure (format cloud-hypervisor reported none)");
}

ProbeResult Probe() {
  ProbeResult p;
  p.interval = 20ms;
  p.sent = 200;
  p.received = 180;
  p.lost = 20;
  p.longest_blackout = 312ms;
  return p;
}

TEST(GuestBlackoutTest, Verdicts) {
  ProbeResult p = Probe();
  EXPECT_THAT(p, GuestBlackout(Lt(400ms)));
  EXPECT_THAT(p, Not(GuestBlackout(Lt(150ms))));
  EXPECT_EQ(Explain(GuestBlackout(Lt(150ms)), p),
            "whose longest blackout is 312ms (200 probes sent every 20ms, 20 lost)");
  EXPECT_EQ(DescribeMatcher<ProbeResult>(GuestBlackout(Lt(150ms))),
            "has guest blackout that is < 150ms");
  std::optional<ProbeResult> none;
  EXPECT_EQ(Explain(GuestBlackout(Lt(150ms)), none), "which has no probe result");
  p.longest_blackout.reset();
  p.max_latency = 40ms;
  EXPECT_EQ(Explain(GuestBlackout(Lt(150ms)), p),
            "which has no blackout figure (only a max latency of 40ms)");
}

TEST(PacketsLostTest, Verdicts) {
  ProbeResult p = Probe();
  EXPECT_THAT(p, PacketsLost(Le(20u)));
  EXPECT_EQ(Explain(PacketsLost(Lt(5u)), p), "which lost 20 of 200 probes");
  EXPECT_EQ(DescribeMatcher<ProbeResult>(PacketsLost(Lt(5u))), "has lost probe count that is < 5");
}

TEST(DirtyRateTest, NearTheRequestedRate) {
  DirtyResult d;
  d.requested_mib_s = 200;
  d.rate_mib_s = {199, 200, 203};
  EXPECT_THAT(d, DirtyRate(Near(200, 0.02)));
  EXPECT_THAT(d, Not(DirtyRate(Near(180, 0.02))));
  EXPECT_EQ(Explain(DirtyRate(Near(180, 0.02)), d),
            "whose achieved dirty rate is 200.7 MiB/s over 3 seconds (requested 200 MiB/s), which "
            "is 11.5% off");
  EXPECT_EQ(DescribeMatcher<DirtyResult>(DirtyRate(Near(200, 0.02))),
            "has achieved dirty rate in MiB/s that is within 2% of 200");
  EXPECT_EQ(DescribeMatcher<DirtyResult>(DirtyRate(Near(200, 0.02)), true),
            "has achieved dirty rate in MiB/s that isn't within 2% of 200");
  d.rate_mib_s.clear();
  EXPECT_FALSE(Matches(DirtyRate(Ge(0.0)), d));
}

TEST(DowntimeGapTest, BlackoutMinusTheJudgedDowntime) {
  RunResult run;
  run.migration = Completed();
  run.migration->downtime = 48ms;
  run.probe = Probe();
  run.probe->longest_blackout = 80ms;
  EXPECT_THAT(run, DowntimeGap(Lt(50ms)));
  run.probe->longest_blackout = 312ms;
  EXPECT_THAT(run, Not(DowntimeGap(Lt(50ms))));
  EXPECT_EQ(Explain(DowntimeGap(Lt(50ms)), run),
            "whose guest blackout 312ms exceeds the downtime 48ms by 264ms");
  EXPECT_EQ(DescribeMatcher<RunResult>(DowntimeGap(Lt(50ms))),
            "has guest blackout beyond the downtime that is < 50ms");
  // QEMU: the gap is to the guest's pause, not to QEMU's source-side figure.
  run.migration = SlowVga();
  run.probe->longest_blackout = 61ms;
  EXPECT_THAT(run, DowntimeGap(Lt(25ms)));
  EXPECT_EQ(Explain(DowntimeGap(Lt(10ms)), run),
            "whose guest blackout 61ms exceeds the downtime 39.7ms (QEMU reported 22ms) by 21.3ms");
  run.probe->longest_blackout = 30ms;
  EXPECT_EQ(Explain(DowntimeGap(Lt(10ms)), run),
            "whose guest blackout 30ms is 9.7ms below the downtime 39.7ms (QEMU reported 22ms)");
  run.probe.reset();
  EXPECT_EQ(Explain(DowntimeGap(Lt(50ms)), run), "which has no probe result");
}

TEST(PrintToTest, OneLineSummaries) {
  EXPECT_EQ(testing::PrintToString(Completed()),
            "completed in 960ms, downtime 143ms, 9 iterations, worst sync 212ms, converged, "
            "memory verified "
            "[cloud-hypervisor]");
  EXPECT_EQ(testing::PrintToString(Probe()), "probe: 200 sent, 20 lost, longest blackout 312ms");
  EXPECT_EQ(fmt::format("{}", Probe()), "probe: 200 sent, 20 lost, longest blackout 312ms");
  std::optional<MigrationResult> none;
  EXPECT_EQ(testing::PrintToString(none), "(nullopt)");
}

}  // namespace
}  // namespace migtest
