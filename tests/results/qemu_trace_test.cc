// The QEMU trace parser on logs recorded from QEMU 10.0.2 (Debian bookworm-backports, TCG, a
// 256 MiB q35 machine migrated over loopback: tests/results/data/qemu10-trace-*.log), every
// figure computed by hand from the timestamps in those files; and on broken logs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "migtest/matchers.hpp"
#include "migtest/results.hpp"
#include "test_data.hpp"

namespace migtest {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Lt;
using ::testing::Not;
using ::testing::Optional;

using testing_data::Data;

using testing_data::Slurp;

std::vector<std::string> PhaseNames(const MigrationResult& m) {
  std::vector<std::string> names;
  for (const Phase& p : m.downtime_breakdown) names.push_back(p.name);
  return names;
}

Duration PhaseTime(const MigrationResult& m, const std::string& name) {
  for (const Phase& p : m.downtime_breakdown) {
    if (p.name == name) return p.duration;
  }
  ADD_FAILURE() << "no phase " << name;
  return Duration{};
}

std::string ExplainFail(const testing::Matcher<const MigrationResult&>& m,
                        const MigrationResult& r) {
  testing::StringMatchResultListener listener;
  EXPECT_FALSE(m.MatchAndExplain(r, &listener));
  return listener.str();
}

RunResult Precopy(QemuTraceOptions options = {}) {
  return ParseQemuTraceFiles(
      {Data("qemu10-trace-precopy-source.log"), Data("qemu10-trace-precopy-destination.log")},
      options);
}

TEST(QemuTraceParserTest, PrecopyFromQemu10) {
  RunResult run = Precopy();
  EXPECT_EQ(run.format, Format::kQemuTrace);
  ASSERT_TRUE(run.migration);
  const MigrationResult& m = *run.migration;
  // One sync before the stop (setup's, at .448332–.448651); the one at .497069 is inside the
  // downtime and is no iteration.
  ASSERT_EQ(m.iterations.size(), 1u);
  EXPECT_EQ(m.iterations[0].start, microseconds(0));
  EXPECT_EQ(m.iterations[0].sync_time, microseconds(319));
  EXPECT_EQ(m.iterations[0].duration, microseconds(488798 - 448332));
  EXPECT_EQ(m.config.at("final_sync_us"), "48");
  EXPECT_EQ(m.config.at("iteration_bounds"), "trace");
  // src-downtime-start .488798 → dst-precopy-bh-vm-started .554823.
  EXPECT_EQ(m.guest_pause, microseconds(554823 - 488798));
  EXPECT_THAT(m.config.at("guest_pause_from"), HasSubstr("dst-precopy-bh-vm-started"));
  EXPECT_THAT(PhaseNames(m),
              ElementsAre("stop", "iterable-save", "non-iterable-save", "source-complete",
                          "destination-load", "resume-scheduled", "announce", "vcpu-start"));
  EXPECT_EQ(PhaseTime(m, "stop"), microseconds(497035 - 488798));
  EXPECT_EQ(PhaseTime(m, "iterable-save"), microseconds(497141 - 497035));
  EXPECT_EQ(PhaseTime(m, "non-iterable-save"), microseconds(498413 - 497141));
  EXPECT_EQ(PhaseTime(m, "source-complete"), microseconds(498418 - 498413));
  EXPECT_EQ(PhaseTime(m, "destination-load"), microseconds(554745 - 498418));
  EXPECT_EQ(PhaseTime(m, "vcpu-start"), microseconds(554823 - 554758));
  // Devices, worst first: kvm-tpr-opt's load (6872 us) on the destination.
  ASSERT_FALSE(m.downtime_devices.empty());
  EXPECT_EQ(m.downtime_devices.front().device, "kvm-tpr-opt");
  EXPECT_EQ(m.downtime_devices.front().side, "destination");
  EXPECT_EQ(m.downtime_devices.front().duration, microseconds(6872));
  EXPECT_EQ(m.downtime_devices.front().kind, "non-iterable");
  size_t virtio = 0;
  for (const DeviceDowntime& d : m.downtime_devices) {
    if (d.device == "0000:00:01.0/virtio-net") {
      ++virtio;
      EXPECT_EQ(d.duration, microseconds(d.side == "source" ? 458 : 594));
    }
  }
  EXPECT_EQ(virtio, 2u) << "saved on the source and loaded on the destination";
  EXPECT_TRUE(m.stalls.empty()) << "the one iterate call took 40 ms, under QEMU's 300 ms";
  EXPECT_EQ(m.config.count("trace_note"), 0u) << m.config.at("trace_note");
}

TEST(QemuTraceParserTest, OneStreamWithBothSidesIsDetectedAndReadTheSame) {
  std::stringstream both(Slurp(Data("qemu10-trace-precopy-destination.log")) +
                         Slurp(Data("qemu10-trace-precopy-source.log")));
  RunResult run = Parse(both, Format::kAuto, "both.log");
  EXPECT_EQ(run.format, Format::kQemuTrace);
  ASSERT_TRUE(run.migration);
  EXPECT_EQ(run.migration->guest_pause, Precopy().migration->guest_pause);
  EXPECT_EQ(run.migration->downtime_breakdown, Precopy().migration->downtime_breakdown);
}

TEST(QemuTraceParserTest, PostcopyPhasesEndAtThePostcopyVmStart) {
  RunResult run = ParseQemuTraceFiles(
      {Data("qemu10-trace-postcopy-source.log"), Data("qemu10-trace-postcopy-destination.log")});
  const MigrationResult& m = *run.migration;
  EXPECT_EQ(m.guest_pause, microseconds(1795829433052320 - 1795829433008951));
  EXPECT_THAT(PhaseNames(m), ElementsAre("stop", "iterable-save", "non-iterable-save",
                                         "source-complete", "destination-load", "resume-scheduled",
                                         "cpu-sync", "announce", "cache-invalidate", "vcpu-start"));
  EXPECT_EQ(PhaseTime(m, "vcpu-start"), microseconds(52320 - 39027));
  ASSERT_EQ(m.iterations.size(), 1u);
  EXPECT_EQ(m.iterations[0].sync_time, microseconds(951720 - 951421));
}

TEST(QemuTraceParserTest, StallsAreIterateCallsOverTheBudget) {
  // The one iterate call before the stop took 40.025 ms: a stall against a 30 ms budget only.
  RunResult run = Precopy({.stall_threshold = milliseconds(30)});
  ASSERT_EQ(run.migration->stalls.size(), 1u);
  const Stall& s = run.migration->stalls[0];
  EXPECT_EQ(s.section, "ram");
  EXPECT_EQ(s.section_id, 1);
  EXPECT_EQ(s.duration, microseconds(488763 - 448738));
  EXPECT_EQ(s.count, 1u);
  EXPECT_EQ(run.migration->config.at("stall_threshold_ms"), "30");
  EXPECT_THAT(*run.migration, Not(NoIterationStallAbove(milliseconds(30))));
  EXPECT_THAT(ExplainFail(NoIterationStallAbove(milliseconds(30)), *run.migration),
              HasSubstr("section ram (id 1) stalled 40.0ms, 1 time"));
  EXPECT_THAT(*Precopy().migration, NoIterationStallAbove(milliseconds(50)));
}

TEST(QemuTraceParserTest, SyncStallsAndRepeatedIterateStalls) {
  // A made-up log in QEMU 10's shape: three syncs (the second 80 ms long), ram iterate calls of
  // 120, 150 and 20 ms against a 100 ms budget.
  std::stringstream in(
      "7@100.000000:migration_bitmap_sync_start \n"
      "7@100.002000:migration_bitmap_sync_end dirty_pages 0\n"
      "7@100.003000:savevm_section_start ram, section_id 2\n"
      "7@100.123000:savevm_section_end ram, section_id 2 -> 0\n"
      "7@100.200000:migration_bitmap_sync_start \n"
      "7@100.280000:migration_bitmap_sync_end dirty_pages 900\n"
      "7@100.300000:savevm_section_start ram, section_id 2\n"
      "7@100.450000:savevm_section_end ram, section_id 2 -> 0\n"
      "7@100.460000:savevm_section_start ram, section_id 2\n"
      "7@100.480000:savevm_section_end ram, section_id 2 -> 1\n"
      "7@100.500000:migration_bitmap_sync_start \n"
      "7@100.501000:migration_bitmap_sync_end dirty_pages 10\n"
      "7@100.502000:vmstate_downtime_checkpoint src-downtime-start\n");
  RunResult run = ParseQemuTrace(in, "made-up.log", {.stall_threshold = milliseconds(100)});
  const MigrationResult& m = *run.migration;
  ASSERT_EQ(m.iterations.size(), 3u);
  EXPECT_EQ(m.iterations[1].start, milliseconds(200));
  EXPECT_EQ(m.iterations[1].duration, milliseconds(300));
  EXPECT_EQ(m.iterations[1].sync_time, milliseconds(80));
  EXPECT_EQ(m.iterations[2].duration, milliseconds(2));
  ASSERT_EQ(m.stalls.size(), 1u);
  EXPECT_EQ(m.stalls[0].duration, milliseconds(150));
  EXPECT_EQ(m.stalls[0].count, 2u);
  EXPECT_THAT(ExplainFail(NoIterationStallAbove(milliseconds(100)), m),
              HasSubstr("section ram (id 2) stalled 150ms, 2 times"));
  EXPECT_THAT(m, NoIterationStallAbove(milliseconds(150)));
  // Against a 200 ms budget no iterate call is a stall; the 80 ms sync is then the culprit.
  in.clear();
  in.seekg(0);
  RunResult relaxed = ParseQemuTrace(in, "made-up.log", {.stall_threshold = milliseconds(200)});
  EXPECT_TRUE(relaxed.migration->stalls.empty());
  EXPECT_THAT(ExplainFail(NoIterationStallAbove(milliseconds(50)), *relaxed.migration),
              HasSubstr("iteration 2 of 3 stalled 80ms in dirty-bitmap sync"));
}

TEST(QemuTraceParserTest, PostcopyFaultLatencyIsRequestToPlace) {
  std::stringstream in(
      "9@5.000100:postcopy_ram_fault_thread_request Request for HVA=0x7f0000001000 rb=pc.ram "
      "offset=0x1000 pid=11\n"
      "9@5.000400:postcopy_ram_fault_thread_request Request for HVA=0x7f0000002008 rb=pc.ram "
      "offset=0x2000 pid=11\n"
      "9@5.000900:postcopy_place_page host=0x7f0000001000\n"
      "9@5.003400:postcopy_place_page_zero host=0x7f0000002000\n"
      "9@5.004000:postcopy_place_page host=0x7f0000009000\n"
      "9@5.005000:postcopy_ram_fault_thread_request Request for HVA=0x7f0000005000 rb=pc.ram "
      "offset=0x5000 pid=11\n");
  RunResult run = ParseQemuTrace(in, "faults.log");
  ASSERT_TRUE(run.migration->postcopy_latency);
  EXPECT_THAT(run.migration->postcopy_latency->samples,
              ElementsAre(microseconds(800), microseconds(3000)));
  EXPECT_EQ(run.migration->config.at("postcopy_unmatched_requests"), "1");
  EXPECT_THAT(*run.migration, PostcopyLatency(Max(), Lt(milliseconds(4))));
  EXPECT_THAT(*run.migration, Not(PostcopyLatency(Max(), Lt(milliseconds(3)))));
}

// Bad input: what a log cannot support is absent (never zero) and trace_note says why.
TEST(QemuTraceParserTest, WithoutTheDestinationHalfThereIsNoGuestPause) {
  RunResult run = ParseQemuTraceFiles({Data("qemu10-trace-precopy-source.log")});
  const MigrationResult& m = *run.migration;
  EXPECT_FALSE(m.guest_pause);
  EXPECT_EQ(PhaseNames(m).back(), "source-complete");
  EXPECT_THAT(m.config.at("trace_note"), HasSubstr("no destination vm-started checkpoint"));
  EXPECT_THAT(ExplainFail(MaxDowntime(Lt(milliseconds(1))), m), HasSubstr("no downtime figure"));
}

TEST(QemuTraceParserTest, TruncatedLogKeepsWhatItHas) {
  std::string src = Slurp(Data("qemu10-trace-precopy-source.log"));
  // Cut in the middle of the src-vm-stopped line: the downtime began, nothing after it is known.
  const size_t cut = src.find("src-vm-stopped") + 5;
  std::stringstream in(src.substr(0, cut));
  RunResult run = ParseQemuTrace(in, "cut.log");
  const MigrationResult& m = *run.migration;
  EXPECT_EQ(m.iterations.size(), 1u);
  EXPECT_FALSE(m.guest_pause);
  EXPECT_TRUE(m.downtime_devices.empty());
  EXPECT_THAT(m.config.at("trace_note"), HasSubstr("malformed trace line"));
  EXPECT_THAT(m.config.at("trace_note"), HasSubstr("cut.log:"));
}

// The destination logs loadvm-completed 18 us before the source logs src-downtime-end (its
// predecessor in the breakdown): no destination-load phase, a note saying why, and the other
// phases and the pause as measured. Sorting the checkpoints by time would have made up a
// destination-load phase out of the source's own steps.
TEST(QemuTraceParserTest, CheckpointsOutOfOrderGiveNoPhaseAndANote) {
  std::string dst = Slurp(Data("qemu10-trace-precopy-destination.log"));
  const std::string loaded = "1795829430.554745:vmstate_downtime_checkpoint dst-precopy-loadvm";
  ASSERT_NE(dst.find(loaded), std::string::npos);
  dst.replace(dst.find(loaded), 17, "1795829430.498400");
  std::stringstream in(Slurp(Data("qemu10-trace-precopy-source.log")) + dst);
  RunResult run = ParseQemuTrace(in, "skewed.log");
  const MigrationResult& m = *run.migration;
  EXPECT_THAT(PhaseNames(m),
              ElementsAre("stop", "iterable-save", "non-iterable-save", "source-complete",
                          "resume-scheduled", "announce", "vcpu-start"));
  EXPECT_THAT(m.config.at("trace_note"),
              HasSubstr("checkpoint dst-precopy-loadvm-completed is 18 us before "
                        "src-downtime-end, its predecessor: no destination-load phase"));
  EXPECT_EQ(PhaseTime(m, "source-complete"), microseconds(498418 - 498413));
  EXPECT_EQ(PhaseTime(m, "resume-scheduled"), microseconds(554751 - 498400));
  EXPECT_EQ(m.guest_pause, microseconds(554823 - 488798));
  EXPECT_THAT(ExplainFail(DowntimePhase("destination-load", Lt(milliseconds(1))), m),
              HasSubstr("destination-load"));
}

TEST(QemuTraceParserTest, InterleavedStderrChangesNothing) {
  std::string src = Slurp(Data("qemu10-trace-precopy-source.log"));
  std::string noisy;
  std::istringstream lines(src);
  std::string line;
  while (std::getline(lines, line)) {
    noisy += line + "\n";
    noisy += "qemu-system-x86_64: warning: something unrelated 12@3.4:\n\x01\xff garbage\n";
  }
  std::stringstream a(noisy), b(src);
  EXPECT_EQ(ParseQemuTrace(a, "x").migration->downtime_breakdown,
            ParseQemuTrace(b, "x").migration->downtime_breakdown);
}

TEST(QemuTraceParserTest, MalformedKnownLineIsNamedWithItsPlace) {
  std::stringstream in(
      "1@1.000000:migration_bitmap_sync_start \n"
      "1@1.000100:migration_bitmap_sync_end dirty_pages 1\n"
      "1@1.000200:vmstate_downtime_save type=non-iterable idstr=cpu instance_id=0 downtime=xx\n");
  RunResult run = ParseQemuTrace(in, "bad.log");
  EXPECT_TRUE(run.migration->downtime_devices.empty());
  EXPECT_THAT(run.migration->config.at("trace_note"), HasSubstr("bad.log:3:"));
}

TEST(QemuTraceParserTest, AQemuWithoutTheseTracePointsSaysWhatIsMissing) {
  std::stringstream in("5@1.000000:vm_state_notify running 1 reason 9 (running)\n");
  RunResult run = ParseQemuTrace(in, "old.log");
  const MigrationResult& m = *run.migration;
  EXPECT_TRUE(m.iterations.empty());
  EXPECT_TRUE(m.downtime_breakdown.empty());
  EXPECT_FALSE(m.guest_pause);
  EXPECT_THAT(m.config.at("trace_note"), HasSubstr("no migration_bitmap_sync events"));
  EXPECT_THAT(m.config.at("trace_note"), HasSubstr("no vmstate_downtime_checkpoint events"));
}

TEST(QemuTraceParserTest, NoTraceEventAtAllIsAParseError) {
  std::stringstream in("qemu-system-x86_64: -trace enable=x: warning: no such event\n");
  EXPECT_THROW(ParseQemuTrace(in, "none.log"), ParseError);
  EXPECT_THROW(ParseQemuTraceFiles({Data("no-such-file.log")}), ParseError);
}

TEST(QemuTraceParserTest, CombineKeepsPolledBytesUnderExactBoundaries) {
  MigrationResult qmp;
  qmp.format = Format::kQemuQmp;
  qmp.downtime = milliseconds(9);
  Iteration first, second;
  first.index = 1;
  first.bytes_sent = 1000;
  second.index = 2;
  qmp.iterations = {first, second};
  qmp.config["iteration_bounds"] = "poll 50ms";
  MigrationResult trace = *Precopy().migration;
  CombineQemuTrace(qmp, trace);
  ASSERT_EQ(qmp.iterations.size(), 1u) << "the trace's boundaries win";
  EXPECT_EQ(qmp.iterations[0].bytes_sent, 1000u);
  EXPECT_EQ(qmp.iterations[0].sync_time, microseconds(319));
  EXPECT_THAT(qmp.config.at("iteration_bounds"), HasSubstr("poll 50ms"));
  EXPECT_EQ(qmp.downtime, milliseconds(9)) << "QEMU's own figure stays";
  EXPECT_EQ(qmp.guest_pause, microseconds(66025));
  EXPECT_EQ(qmp.format, Format::kQemuQmp);
}

}  // namespace
}  // namespace migtest
