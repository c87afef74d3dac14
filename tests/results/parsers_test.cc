// Every parser on the seed documents' own examples: every number in them asserted.
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "migtest/results.hpp"

namespace migtest {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::Optional;
using ::testing::Pair;

std::string Data(const std::string& name) { return std::string(MIGTEST_TEST_DATA) + "/" + name; }

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct IterationFigures {
  uint64_t pages_sent;
  int64_t duration_ms;
  uint64_t pages_dirtied;
  std::optional<int64_t> sync_ms;
  uint64_t io;
  double progress;
};

TEST(TlmzParserTest, SeedExample) {
  RunResult run = ParseFile(Data("tlmz_seed.log"));
  EXPECT_EQ(run.format, Format::kTlmz);
  ASSERT_TRUE(run.migration);
  const MigrationResult& m = *run.migration;
  EXPECT_EQ(m.status, Status::kCompleted);
  EXPECT_THAT(m.downtime, Optional(milliseconds(65475)));
  EXPECT_THAT(m.total_time, Optional(milliseconds(179963)));
  EXPECT_THAT(m.pages, ElementsAre(Pair("dtx", 1726145u), Pair("mtx", 1575222u),
                                   Pair("stage3", 1869301u)));
  EXPECT_EQ(m.config.at("TLC_MSERV_BASE_PORT"), "10008");
  EXPECT_EQ(m.config.at("TLC_INTERVAL"), "1000");
  EXPECT_EQ(m.config.at("TLC_SLOWDOWN_INTERVAL"), "1000");
  EXPECT_EQ(m.config.at("TLC_SLOWDOWN_TRIGGER"), "OFF");
  EXPECT_EQ(m.config.at("TLC_SLOWDOWN_MARKER"), "0");
  EXPECT_EQ(m.config.at("VIC_FLAG"), "ON");
  EXPECT_EQ(m.config.at("VIC_PORT"), "17777");
  EXPECT_EQ(m.config.at("TLC_MSERV_BASE_REPLICATOR_PORT"), "11118");
  EXPECT_EQ(m.config.at("TLC_MSERV_IP"), "");
  EXPECT_EQ(m.config.at("TLC_END"), "TLC_END");
  EXPECT_EQ(m.config.at("s2s3gap"), "638");
  EXPECT_EQ(m.config.at("ps_wait"), "1047");
  EXPECT_EQ(m.config.at("num_cp_threads"), "1");
  EXPECT_EQ(m.config.at("all_io_cnt"), "443");
  const IterationFigures expected[] = {
      {0, 844, 45616, 43, 0, 0.02},        {18208, 1000, 64312, 199, 0, 0.04},
      {22274, 1000, 80920, 491, 0, 0.05},  {16486, 1000, 63982, 188, 0, 0.09},
      {21278, 1000, 26370, 27, 0, 1.00},   {10637, 1000, 10414, std::nullopt, 443, 1.00}};
  ASSERT_EQ(m.iterations.size(), std::size(expected));
  int64_t start_ms = 0;
  for (size_t i = 0; i < std::size(expected); ++i) {
    SCOPED_TRACE(i);
    const Iteration& it = m.iterations[i];
    EXPECT_EQ(it.index, static_cast<int>(i) + 1);
    EXPECT_THAT(it.pages_sent, Optional(expected[i].pages_sent));
    EXPECT_THAT(it.duration, Optional(milliseconds(expected[i].duration_ms)));
    EXPECT_THAT(it.start, Optional(milliseconds(start_ms)));
    EXPECT_THAT(it.pages_dirtied, Optional(expected[i].pages_dirtied));
    if (expected[i].sync_ms) {
      EXPECT_THAT(it.sync_time, Optional(milliseconds(*expected[i].sync_ms)));
    } else {
      EXPECT_EQ(it.sync_time, std::nullopt);  // after stage 3 the figure is the downtime
    }
    EXPECT_THAT(it.io_count, Optional(expected[i].io));
    EXPECT_THAT(it.progress, Optional(expected[i].progress));
    start_ms += expected[i].duration_ms;
  }
}

TEST(TlmzParserTest, DocumentedThreeFieldS221AndUnfinishedRun) {
  std::istringstream in("s221 1 18208 1000\ns222 64312 199 0 0.04\n");
  RunResult run = Parse(in, Format::kTlmz, "three.log");
  const auto& m = *run.migration;
  EXPECT_EQ(m.status, Status::kActive);  // no s4 yet
  ASSERT_EQ(m.iterations.size(), 1u);
  EXPECT_THAT(m.iterations[0].pages_sent, Optional(18208u));
  EXPECT_THAT(m.iterations[0].sync_time, Optional(milliseconds(199)));
  EXPECT_EQ(m.downtime, std::nullopt);
  EXPECT_EQ(m.total_time, std::nullopt);
}

TEST(TlmzParserTest, DashIsAFigureTheWriterDidNotHave) {
  // migmon migrate prints "-" where it measured nothing (no I/O count, no first-round sync, no
  // ps_wait): absent in the result, never 0.
  std::istringstream in(
      "s221 16384 40\ns222 120 - - 1.00\ns221 120 2\ns222 3 1 - 1.00\n"
      "s221 3 1\ns2s3gap 5 ps_wait -\ns3 3 -\n"
      "RAM_SAVE_FLAG_EOS ram_save_live stage 3\ns222 0 4 - 1.00\ns4 123 16384 60\n");
  RunResult run = Parse(in, Format::kTlmz, "engine.log");
  const auto& m = *run.migration;
  ASSERT_EQ(m.iterations.size(), 3u);
  EXPECT_EQ(m.iterations[0].sync_time, std::nullopt);
  EXPECT_EQ(m.iterations[0].io_count, std::nullopt);
  EXPECT_THAT(m.iterations[1].sync_time, Optional(milliseconds(1)));
  EXPECT_EQ(m.iterations[1].io_count, std::nullopt);
  EXPECT_THAT(m.downtime, Optional(milliseconds(4)));
  EXPECT_EQ(m.config.at("s2s3gap"), "5");
  EXPECT_FALSE(m.config.contains("ps_wait"));
  EXPECT_FALSE(m.config.contains("num_cp_threads"));
  EXPECT_FALSE(m.config.contains("all_io_cnt"));
  EXPECT_EQ(m.pages.at("stage3"), 3u);
  // "-" only: a word that is neither a number nor "-" is still an error.
  std::istringstream bad("s221 1 2\ns222 1 2 -- 0.5\n");
  EXPECT_THROW(Parse(bad, Format::kTlmz, "bad.log"), ParseError);
}

TEST(TlmzParserTest, TheWholeSeedDocumentParsesToo) {
  // The report's own legend lines ("s221 duration_id pages_copied…") are prose, not records.
  RunResult doc = ParseFile(Data("tlmz_seed_doc.txt"));
  RunResult lines = ParseFile(Data("tlmz_seed.log"));
  EXPECT_EQ(doc.migration, lines.migration);
  EXPECT_THAT(doc.migration->downtime, Optional(milliseconds(65475)));
}

TEST(QemuDebugParserTest, SeedFirstRun) {
  RunResult run = ParseFile(Data("qemu_debug_seed.txt"));
  EXPECT_EQ(run.format, Format::kQemuDebug);
  ASSERT_TRUE(run.migration);
  const auto& m = *run.migration;
  EXPECT_EQ(m.status, Status::kCompleted);
  EXPECT_THAT(m.total_time, Optional(milliseconds(207411)));
  ASSERT_EQ(m.stalls.size(), 2u);
  EXPECT_EQ(m.stalls[0].section, "ram");
  EXPECT_THAT(m.stalls[0].section_id, Optional(3));
  EXPECT_EQ(m.stalls[0].duration, milliseconds(3266));
  EXPECT_THAT(m.stalls[0].count, Optional(46u));
  EXPECT_EQ(m.stalls[1].section, "devices");
  EXPECT_EQ(m.stalls[1].duration, milliseconds(1));
  ASSERT_TRUE(run.probe);
  EXPECT_THAT(run.probe->rtt.reported_min, Optional(microseconds(474395)));
  EXPECT_THAT(run.probe->rtt.reported_avg, Optional(microseconds(39772087)));
  EXPECT_THAT(run.probe->rtt.reported_max, Optional(microseconds(151843178)));
  EXPECT_THAT(run.probe->rtt.reported_mdev, Optional(microseconds(55413633)));
  EXPECT_THAT(run.probe->pipe, Optional(152u));
}

TEST(QemuDebugParserTest, SeedEveryRun) {
  std::vector<RunResult> runs = ParseFileRuns(Data("qemu_debug_seed.txt"));
  ASSERT_EQ(runs.size(), 8u);
  struct Expected {
    std::optional<int64_t> total_ms;
    std::optional<int64_t> stall_ms;
    std::optional<uint64_t> stall_times;
    std::optional<int> section_id;
    double rtt_min, rtt_avg, rtt_max, rtt_mdev;
    std::optional<uint64_t> pipe;
  };
  const Expected expected[] = {
      {207411, 3266, 46, 3, 474.395, 39772.087, 151843.178, 55413.633, 152},
      {115949, 466, 56, 3, 474.438, 1529.387, 15578.055, 2595.186, 16},
      {157511, {}, {}, {}, 474.422, 504.416, 628.508, 35.366, {}},
      {151187, {}, {}, {}, 474.412, 492.713, 539.419, 21.896, {}},
      {{}, {}, {}, {}, 474.428, 21033.451, 134818.933, 38245.396, 135},
      {{}, {}, {}, {}, 474.400, 486.094, 548.479, 15.820, {}},
      {205938, 296, 47, 2, 474.424, 54575.554, 159139.429, 54473.043, 160},
      {149529, 109, 1, 2, 475.406, 485.577, 909.463, 40.292, {}},
  };
  auto us = [](double ms) { return microseconds(static_cast<int64_t>(ms * 1000 + 0.5)); };
  for (size_t i = 0; i < runs.size(); ++i) {
    SCOPED_TRACE(i);
    const Expected& e = expected[i];
    if (e.total_ms) {
      ASSERT_TRUE(runs[i].migration);
      EXPECT_THAT(runs[i].migration->total_time, Optional(milliseconds(*e.total_ms)));
    } else {
      EXPECT_FALSE(runs[i].migration);
    }
    if (e.stall_ms) {
      ASSERT_FALSE(runs[i].migration->stalls.empty());
      EXPECT_EQ(runs[i].migration->stalls[0].duration, milliseconds(*e.stall_ms));
      EXPECT_EQ(runs[i].migration->stalls[0].count, e.stall_times);
      EXPECT_EQ(runs[i].migration->stalls[0].section_id, e.section_id);
    }
    ASSERT_TRUE(runs[i].probe);
    EXPECT_THAT(runs[i].probe->rtt.reported_min, Optional(us(e.rtt_min)));
    EXPECT_THAT(runs[i].probe->rtt.reported_avg, Optional(us(e.rtt_avg)));
    EXPECT_THAT(runs[i].probe->rtt.reported_max, Optional(us(e.rtt_max)));
    EXPECT_THAT(runs[i].probe->rtt.reported_mdev, Optional(us(e.rtt_mdev)));
    EXPECT_EQ(runs[i].probe->pipe, e.pipe);
  }
}

TEST(QmpParserTest, PolledTranscript) {
  RunResult run = ParseFile(Data("qmp_transcript.jsonl"));
  EXPECT_EQ(run.format, Format::kQemuQmp);
  const auto& m = *run.migration;
  EXPECT_EQ(m.status, Status::kCompleted);
  EXPECT_THAT(m.total_time, Optional(milliseconds(1260)));
  EXPECT_THAT(m.downtime, Optional(milliseconds(48)));
  EXPECT_THAT(m.setup_time, Optional(milliseconds(3)));
  EXPECT_EQ(m.expected_downtime, std::nullopt);  // only while active
  EXPECT_THAT(m.stop_resume_gap, Optional(microseconds(72500)));
  EXPECT_EQ(m.bytes.at("transferred"), 557842432u);
  EXPECT_EQ(m.bytes.at("downtime"), 2097152u);
  EXPECT_EQ(m.bytes.at("postcopy"), 0u);
  EXPECT_EQ(m.pages.at("dirty_sync_count"), 4u);
  ASSERT_EQ(m.iterations.size(), 4u);
  EXPECT_EQ(m.iterations[0].index, 1);
  EXPECT_THAT(m.iterations[0].start, Optional(milliseconds(50)));
  EXPECT_THAT(m.iterations[0].duration, Optional(milliseconds(800)));
  EXPECT_THAT(m.iterations[0].bytes_sent, Optional(104857600u));
  EXPECT_THAT(m.iterations[0].bandwidth_mib_s, Optional(2000.0));  // 16777.216 Mbit/s
  EXPECT_THAT(m.iterations[0].est_downtime, Optional(milliseconds(300)));
  EXPECT_THAT(m.iterations[1].bytes_sent, Optional(440401920u));
  EXPECT_THAT(m.iterations[1].remaining_bytes, Optional(8388608u));
  EXPECT_THAT(m.iterations[2].duration, Optional(milliseconds(60)));
  EXPECT_THAT(m.iterations[3].start, Optional(milliseconds(1260)));
  EXPECT_THAT(m.bandwidth_mib_s, ElementsAre(500.0, 421.875));  // the last rate of each second
}

TEST(QmpParserTest, FailedReplyKeepsTheErrorAndHasNoDowntime) {
  RunResult run = ParseFile(Data("qmp_failed.json"));
  const auto& m = *run.migration;
  EXPECT_EQ(m.status, Status::kFailed);
  EXPECT_THAT(m.error, Optional(std::string("Unable to write to socket: Broken pipe")));
  EXPECT_EQ(m.downtime, std::nullopt);
  EXPECT_THAT(m.total_time, Optional(milliseconds(2200)));
}

TEST(QmpParserTest, PostcopyLatencyHistogramBucketsArePowersOfTwoMicroseconds) {
  std::istringstream in(
      R"({"status": "completed", "postcopy-blocktime": 66, "postcopy-latency": 250000,
          "postcopy-latency-dist": [0, 3, 5], "unknown-field": 1})");
  RunResult run = Parse(in, Format::kAuto, "dist.json");
  const auto& m = *run.migration;
  EXPECT_THAT(m.postcopy_blocktime, Optional(milliseconds(66)));
  ASSERT_TRUE(m.postcopy_latency);
  EXPECT_THAT(m.postcopy_latency->reported_avg, Optional(microseconds(250)));
  ASSERT_EQ(m.postcopy_latency->histogram.size(), 3u);
  EXPECT_EQ(m.postcopy_latency->histogram[1].lower, microseconds(2));
  EXPECT_THAT(m.postcopy_latency->histogram[1].upper, Optional(microseconds(4)));
  EXPECT_EQ(m.postcopy_latency->histogram[2].count, 5u);
  EXPECT_EQ(m.postcopy_latency->Count(), 8u);
}

TEST(QmpParserTest, UnknownStatusIsUnknown) {
  std::istringstream in(R"({"return": {"status": "time-travelling"}})");
  EXPECT_EQ(Parse(in, Format::kQemuQmp, "x").migration->status, Status::kUnknown);
}

TEST(CloudHypervisorParserTest, SeedExample) {
  RunResult run = ParseFile(Data("cloud_hypervisor_seed.txt"));
  EXPECT_EQ(run.format, Format::kCloudHypervisor);
  const auto& m = *run.migration;
  EXPECT_EQ(m.status, Status::kCompleted);
  EXPECT_THAT(m.downtime, Optional(milliseconds(68)));
  EXPECT_THAT(m.total_time, Optional(milliseconds(960)));
  EXPECT_THAT(m.downtime_breakdown,
              ElementsAre(Phase{"final_memory_delta", milliseconds(55)},
                          Phase{"snapshot", milliseconds(2)},
                          Phase{"sending_snapshot", milliseconds(7)},
                          Phase{"completing", milliseconds(1)}));
}

TEST(CloudHypervisorParserTest, UpstreamLines) {
  RunResult run = ParseFile(Data("ch_upstream.log"));
  const auto& m = *run.migration;
  EXPECT_EQ(m.status, Status::kCompleted);
  EXPECT_THAT(m.total_time, Optional(milliseconds(620)));
  EXPECT_THAT(m.downtime, Optional(milliseconds(24)));
  EXPECT_THAT(m.downtime_goal, Optional(milliseconds(300)));
  EXPECT_THAT(m.converged, Optional(true));
  EXPECT_THAT(m.downtime_breakdown,
              ElementsAre(Phase{"final_iter", milliseconds(9)}, Phase{"state", milliseconds(5)},
                          Phase{"send_state", milliseconds(8)}, Phase{"complete", milliseconds(2)},
                          Phase{"incoming.receive_state", milliseconds(4)},
                          Phase{"incoming.restore", milliseconds(3)},
                          Phase{"incoming.receive_state_and_resume", milliseconds(9)}));
  ASSERT_EQ(m.iterations.size(), 3u);
  EXPECT_EQ(m.iterations[1].index, 2);  // keys in another order
  EXPECT_THAT(m.iterations[1].bytes_sent, Optional(64u << 20));
  EXPECT_THAT(m.iterations[1].bandwidth_mib_s, Optional(1900.5));
  EXPECT_THAT(m.iterations[1].duration, Optional(milliseconds(30)));
  EXPECT_THAT(m.iterations[1].sync_time, Optional(milliseconds(5)));
  EXPECT_THAT(m.iterations[1].est_downtime, Optional(milliseconds(33)));
  EXPECT_THAT(m.iterations[1].start, Optional(milliseconds(560)));
  EXPECT_THAT(m.iterations[0].bytes_sent, Optional(1024u << 20));
  EXPECT_THAT(m.iterations[2].sync_time, Optional(milliseconds(4)));
}

TEST(MigmonParserTest, SeedHistogram) {
  RunResult run = ParseFile(Data("mm_dirty_histogram.log"));
  EXPECT_EQ(run.format, Format::kMigmon);
  ASSERT_TRUE(run.dirty);
  const auto& h = run.dirty->latency.histogram;
  ASSERT_EQ(h.size(), 21u);
  const uint64_t counts[] = {23372101, 2399961, 2168, 1454, 76, 5};
  for (size_t i = 0; i < 21; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(h[i].count, i < 6 ? counts[i] : 0u);
    EXPECT_EQ(h[i].lower, microseconds(i == 0 ? 0 : int64_t{1} << (i - 1)));
    if (i < 20) {
      EXPECT_THAT(h[i].upper, Optional(microseconds(int64_t{1} << i)));
    }
  }
  EXPECT_EQ(h[20].upper, std::nullopt);  // "over one second"
  EXPECT_EQ(run.dirty->latency.Count(), 23372101u + 2399961 + 2168 + 1454 + 76 + 5);
  auto p99 = run.dirty->latency.Percentile(99);
  ASSERT_TRUE(p99);
  EXPECT_FALSE(p99->exact);
  EXPECT_EQ(p99->lower_bound, microseconds(1));
  EXPECT_THAT(p99->upper_bound, Optional(microseconds(2)));
}

TEST(MigmonParserTest, PerSecondLinesAndHeader) {
  RunResult run = ParseFile(Data("migmon_outputs.log"));
  ASSERT_TRUE(run.dirty);
  EXPECT_THAT(run.dirty->rate_mib_s, ElementsAre(199, 200, 201));
  EXPECT_THAT(run.dirty->load_percent, ElementsAre(12.5, 12.75, 12.25));
  EXPECT_THAT(run.dirty->pattern, Optional(std::string("random")));
  EXPECT_THAT(run.dirty->memory_mb, Optional(512u));
  EXPECT_THAT(run.dirty->requested_mib_s, Optional(200.0));
}

TEST(MigmonParserTest, SpikeLogSkipsTheInitMarker) {
  RunResult run = ParseFile(Data("spikes.csv"));
  ASSERT_TRUE(run.probe);
  EXPECT_THAT(run.probe->spikes, ElementsAre(Spike{1790000003, milliseconds(312)},
                                             Spike{1790000007, milliseconds(45)}));
  EXPECT_THAT(run.probe->max_latency, Optional(milliseconds(312)));
}

TEST(MigmonParserTest, RedrawnStatusLine) {
  RunResult run = ParseFile(Data("status_line.log"));
  EXPECT_THAT(run.probe->max_latency, Optional(milliseconds(312)));
}

TEST(MigmonParserTest, StreamEmulation) {
  RunResult run = ParseFile(Data("vm_streams.log"));
  const auto& m = *run.migration;
  EXPECT_THAT(m.bandwidth_mib_s, ElementsAre(1890, 1950));
  ASSERT_TRUE(m.postcopy_latency);
  EXPECT_THAT(m.postcopy_latency->reported_avg, Optional(microseconds(110)));
  EXPECT_THAT(m.postcopy_latency->reported_max, Optional(microseconds(5000)));
}

TEST(MigtestParserTest, OwnJsonAndJsonLines) {
  RunResult a;
  a.source = "a";
  a.migration.emplace().downtime = milliseconds(5);
  RunResult b;
  b.source = "b";
  b.probe.emplace().lost = 3;
  std::istringstream one(ToJsonString(a, 2));
  EXPECT_EQ(Parse(one, Format::kAuto, "one.json"), a);
  std::istringstream lines(ToJsonString(a) + "\n" + ToJsonString(b) + "\n");
  auto runs = ParseRuns(lines, Format::kAuto, "lines.jsonl");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1], b);
}

TEST(DetectFormatTest, FromContent) {
  EXPECT_EQ(DetectFormat(Slurp(Data("tlmz_seed.log"))), Format::kTlmz);
  EXPECT_EQ(DetectFormat(Slurp(Data("qemu_debug_seed.txt"))), Format::kQemuDebug);
  EXPECT_EQ(DetectFormat(Slurp(Data("qmp_transcript.jsonl"))), Format::kQemuQmp);
  EXPECT_EQ(DetectFormat(Slurp(Data("cloud_hypervisor_seed.txt"))), Format::kCloudHypervisor);
  EXPECT_EQ(DetectFormat(Slurp(Data("ch_upstream.log"))), Format::kCloudHypervisor);
  EXPECT_EQ(DetectFormat(Slurp(Data("mm_dirty_histogram.log"))), Format::kMigmon);
  EXPECT_EQ(DetectFormat(Slurp(Data("spikes.csv"))), Format::kMigmon);
  EXPECT_EQ(DetectFormat(R"({"schema": "migtest.result/1"})"), Format::kMigtest);
  EXPECT_EQ(DetectFormat("hello world"), Format::kAuto);
}

}  // namespace
}  // namespace migtest
