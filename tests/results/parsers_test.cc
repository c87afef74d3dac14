// Every parser on the seed documents' own examples: every number in them asserted.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "migtest/results.hpp"
#include "test_data.hpp"

namespace migtest {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;
using ::testing::Pair;

using testing_data::Data;

using testing_data::Slurp;

Iteration OnlyIndex(int index) {
  Iteration it;
  it.index = index;
  return it;
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
  EXPECT_THAT(m.pages,
              ElementsAre(Pair("dtx", 1726145u), Pair("mtx", 1575222u), Pair("stage3", 1869301u)));
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
      {0, 844, 45616, 43, 0, 0.02},       {18208, 1000, 64312, 199, 0, 0.04},
      {22274, 1000, 80920, 491, 0, 0.05}, {16486, 1000, 63982, 188, 0, 0.09},
      {21278, 1000, 26370, 27, 0, 1.00},  {10637, 1000, 10414, std::nullopt, 443, 1.00}};
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
  // Source STOP at 1.300000, destination RESUME at 1.372500.
  EXPECT_THAT(m.stop_resume_gap, Optional(microseconds(72500)));
  EXPECT_EQ(m.bytes.at("transferred"), 557842432u);
  EXPECT_EQ(m.bytes.at("downtime"), 2097152u);
  EXPECT_EQ(m.bytes.at("postcopy"), 0u);
  EXPECT_EQ(m.pages.at("dirty_sync_count"), 4u);
  // Polls at total-time 1, 50, 850, 1200, 1260: steps 49, 800, 350, 60; median (60+350)/2.
  EXPECT_EQ(m.config.at("iteration_bounds"), "poll 205ms");
  ASSERT_EQ(m.iterations.size(), 4u);
  // Iteration 1 runs from the first sync (in the setup: 0 bytes, about setup-time 3ms) to the
  // poll at 850ms that first shows sync 2: the whole first pass, 520 MiB of a 513 MiB guest.
  const Iteration& i1 = m.iterations[0];
  EXPECT_EQ(i1.index, 1);
  EXPECT_THAT(i1.start, Optional(milliseconds(3)));
  EXPECT_THAT(i1.duration, Optional(milliseconds(847)));
  EXPECT_THAT(i1.bytes_sent, Optional(545259520u));       // 520 MiB
  EXPECT_THAT(i1.pages_sent, Optional(131072u + 1024u));  // normal + duplicate at 850ms
  EXPECT_THAT(i1.bandwidth_mib_s, Optional(2000.0));      // 16777.216 Mbit/s
  EXPECT_THAT(i1.est_downtime, Optional(milliseconds(300)));
  EXPECT_THAT(i1.remaining_bytes, Optional(419430400u));
  EXPECT_EQ(i1.dirty_pages_rate, std::nullopt);  // QEMU's 0 before it measured anything
  // Iteration 2: from the poll at 850ms to the one at 1200ms that first shows sync 3.
  const Iteration& i2 = m.iterations[1];
  EXPECT_EQ(i2.index, 2);
  EXPECT_THAT(i2.start, Optional(milliseconds(850)));
  EXPECT_THAT(i2.duration, Optional(milliseconds(350)));
  EXPECT_THAT(i2.bytes_sent, Optional(555745280u - 545259520u));  // 10 MiB
  EXPECT_THAT(i2.pages_sent, Optional(2560u));                    // 133632 + 1024 - 132096
  EXPECT_THAT(i2.remaining_bytes, Optional(8388608u));
  EXPECT_THAT(i2.dirty_pages_rate, Optional(12800.0));  // pages/s
  // Iteration 3: from 1200ms to the completed reply at 1260ms, which first shows sync 4.
  const Iteration& i3 = m.iterations[2];
  EXPECT_THAT(i3.start, Optional(milliseconds(1200)));
  EXPECT_THAT(i3.duration, Optional(milliseconds(60)));
  EXPECT_THAT(i3.bytes_sent, Optional(557842432u - 555745280u));  // 2 MiB
  EXPECT_THAT(i3.pages_sent, Optional(512u));
  // Iteration 4 began and ended between the last two replies: nothing is known of it but that.
  const Iteration& i4 = m.iterations[3];
  EXPECT_EQ(i4.index, 4);
  EXPECT_THAT(i4.start, Optional(milliseconds(1260)));
  EXPECT_EQ(i4.duration, std::nullopt);
  EXPECT_EQ(i4.bytes_sent, std::nullopt);
  EXPECT_EQ(i4.pages_sent, std::nullopt);
  EXPECT_THAT(i4.bandwidth_mib_s, Optional(421.875));  // 3538.944 Mbit/s
  uint64_t credited = 0;
  for (const Iteration& it : m.iterations) {
    EXPECT_EQ(it.pages_dirtied, std::nullopt);  // QMP reports a rate, never a count
    credited += it.bytes_sent.value_or(0);
  }
  EXPECT_EQ(credited, m.bytes.at("transferred"));  // every byte in exactly one iteration
  EXPECT_THAT(m.bandwidth_mib_s, ElementsAre(500.0, 421.875));  // the last rate of each second
}

// A reply without "transferred" leaves it unknown: no bytes map entry, no bytes_sent on either
// iteration it bounds, and no 0 anywhere.
TEST(QmpParserTest, MissingTransferredStaysAbsent) {
  std::istringstream in(R"(
{"return": {"status": "active", "total-time": 100, "setup-time": 5, "ram": {"transferred": 1000, "dirty-sync-count": 1}}}
{"return": {"status": "active", "total-time": 300, "setup-time": 5, "ram": {"dirty-sync-count": 2}}}
{"return": {"status": "active", "total-time": 500, "setup-time": 5, "ram": {"transferred": 9000, "dirty-sync-count": 3}}}
{"return": {"status": "completed", "total-time": 600, "setup-time": 5, "ram": {"dirty-sync-count": 3}}}
)");
  RunResult run = Parse(in, Format::kQemuQmp, "t.jsonl");
  const auto& m = *run.migration;
  EXPECT_FALSE(m.bytes.contains("transferred"));
  ASSERT_EQ(m.iterations.size(), 3u);
  EXPECT_EQ(m.iterations[0].bytes_sent, std::nullopt);  // ends at the poll without transferred
  EXPECT_THAT(m.iterations[0].duration, Optional(milliseconds(295)));  // 300 - setup 5
  EXPECT_EQ(m.iterations[1].bytes_sent, std::nullopt);                 // starts there
  EXPECT_THAT(m.iterations[1].duration, Optional(milliseconds(200)));
  EXPECT_EQ(m.iterations[2].bytes_sent, std::nullopt);  // the completed reply has none
  EXPECT_THAT(m.iterations[2].duration, Optional(milliseconds(100)));
  for (const Iteration& it : m.iterations) EXPECT_EQ(it.pages_sent, std::nullopt);  // no normal
  // Steps 200, 200, 100: median 200.
  EXPECT_EQ(m.config.at("iteration_bounds"), "poll 200ms");
  nlohmann::json j = run;
  EXPECT_FALSE(j.at("migration").at("iterations")[0].contains("bytes_sent"));
}

// Auto-converge: the throttle a poll shows is the one of the iteration its sync began (QEMU raises
// it at syncs and reports it only while it throttles); XBZRLE's cache figures from the last reply.
TEST(QmpParserTest, ThrottlePerIterationAndXbzrleCounters) {
  std::istringstream in(R"(
{"return": {"status": "active", "total-time": 100, "setup-time": 5, "ram": {"dirty-sync-count": 1}}}
{"return": {"status": "active", "total-time": 1200, "setup-time": 5, "ram": {"dirty-sync-count": 2}}}
{"return": {"status": "active", "total-time": 2300, "setup-time": 5, "cpu-throttle-percentage": 30, "ram": {"dirty-sync-count": 3}}}
{"return": {"status": "active", "total-time": 2800, "setup-time": 5, "cpu-throttle-percentage": 30, "ram": {"dirty-sync-count": 3}}}
{"return": {"status": "active", "total-time": 3400, "setup-time": 5, "cpu-throttle-percentage": 50, "ram": {"dirty-sync-count": 4}}}
{"return": {"status": "completed", "total-time": 3900, "setup-time": 5, "ram": {"dirty-sync-count": 4}, "xbzrle-cache": {"cache-size": 33554432, "bytes": 123456, "pages": 700, "cache-miss": 4100, "cache-miss-rate": 0.4, "encoding-rate": 12.5, "overflow": 3}}}
)");
  const RunResult run = Parse(in, Format::kQemuQmp, "t.jsonl");
  const auto& m = *run.migration;
  ASSERT_EQ(m.iterations.size(), 4u);
  EXPECT_EQ(m.iterations[0].cpu_throttle_percent, std::nullopt);
  EXPECT_EQ(m.iterations[1].cpu_throttle_percent, std::nullopt);
  EXPECT_THAT(m.iterations[2].cpu_throttle_percent, Optional(30.0));
  EXPECT_THAT(m.iterations[3].cpu_throttle_percent, Optional(50.0));
  EXPECT_EQ(m.bytes.at("xbzrle"), 123456u);
  EXPECT_EQ(m.bytes.at("xbzrle_cache"), 33554432u);
  EXPECT_EQ(m.pages.at("xbzrle"), 700u);
  EXPECT_EQ(m.pages.at("xbzrle_cache_miss"), 4100u);
  EXPECT_EQ(m.pages.at("xbzrle_overflow"), 3u);
  // result.json keeps them.
  const RunResult back = nlohmann::json(run).get<RunResult>();
  EXPECT_EQ(back.migration->iterations, m.iterations);
}

// dirty-sync-count stepping 2 → 5 between two polls: syncs 3 and 4 happened between them, so
// iterations 3 and 4 are listed with their index only, and iteration 2 ends at the poll showing 5.
TEST(QmpParserTest, SyncCountSkippingSyncsLeavesThoseIterationsUnknown) {
  std::istringstream in(R"(
{"return": {"status": "active", "total-time": 1000, "setup-time": 10, "ram": {"transferred": 100, "dirty-sync-count": 2, "normal": 10, "duplicate": 1}}}
{"return": {"status": "active", "total-time": 2000, "setup-time": 10, "ram": {"transferred": 700, "dirty-sync-count": 5, "normal": 40, "duplicate": 2}}}
{"return": {"status": "active", "total-time": 2500, "setup-time": 10, "ram": {"transferred": 800, "dirty-sync-count": 5, "normal": 45, "duplicate": 2}}}
)");
  const RunResult run = Parse(in, Format::kQemuQmp, "skip.jsonl");
  const auto& m = *run.migration;
  EXPECT_EQ(m.status, Status::kActive);
  ASSERT_EQ(m.iterations.size(), 5u);
  // Iteration 1 was before the first poll: it happened, nothing of it was seen.
  EXPECT_EQ(m.iterations[0], OnlyIndex(1));
  EXPECT_THAT(m.iterations[1].start, Optional(milliseconds(1000)));
  EXPECT_THAT(m.iterations[1].duration, Optional(milliseconds(1000)));
  EXPECT_THAT(m.iterations[1].bytes_sent, Optional(600u));
  EXPECT_THAT(m.iterations[1].pages_sent, Optional(31u));  // 42 - 11
  EXPECT_EQ(m.iterations[2], OnlyIndex(3));
  EXPECT_EQ(m.iterations[3], OnlyIndex(4));
  // Still running: iteration 5 has a start and nothing that needs its end.
  EXPECT_EQ(m.iterations[4].index, 5);
  EXPECT_THAT(m.iterations[4].start, Optional(milliseconds(2000)));
  EXPECT_EQ(m.iterations[4].duration, std::nullopt);
  EXPECT_EQ(m.iterations[4].bytes_sent, std::nullopt);
  EXPECT_EQ(m.config.at("iteration_bounds"), "poll 750ms");  // steps 1000, 500
}

// A transcript of two attempts: the iterations are the second's.
TEST(QmpParserTest, ARetriedMigrationStartsItsIterationsAfresh) {
  std::istringstream in(R"(
{"return": {"status": "active", "total-time": 100, "setup-time": 2, "ram": {"transferred": 500, "dirty-sync-count": 1}}}
{"return": {"status": "active", "total-time": 900, "setup-time": 2, "ram": {"transferred": 900, "dirty-sync-count": 2}}}
{"return": {"status": "failed", "total-time": 950, "setup-time": 2}}
{"return": {"status": "setup"}}
{"return": {"status": "active", "total-time": 40, "setup-time": 4, "ram": {"transferred": 300, "dirty-sync-count": 1}}}
{"return": {"status": "completed", "total-time": 240, "setup-time": 4, "ram": {"transferred": 1300, "dirty-sync-count": 2}}}
)");
  const RunResult run = Parse(in, Format::kQemuQmp, "retry.jsonl");
  const auto& m = *run.migration;
  EXPECT_EQ(m.status, Status::kCompleted);
  ASSERT_EQ(m.iterations.size(), 2u);
  EXPECT_THAT(m.iterations[0].start, Optional(milliseconds(4)));
  EXPECT_THAT(m.iterations[0].duration, Optional(milliseconds(236)));
  EXPECT_THAT(m.iterations[0].bytes_sent, Optional(1300u));
  EXPECT_EQ(m.iterations[1].bytes_sent, std::nullopt);
}

// QEMU's dirty-pages-rate is 0 until it has measured (a sync a second after the first): a 0 seen
// with a sync after a poll more than a second past the setup is a measurement, one before is not.
TEST(QmpParserTest, DirtyPagesRateIsARateAndItsEarlyZeroIsUnknown) {
  std::istringstream in(R"(
{"return": {"status": "active", "total-time": 200, "setup-time": 10, "ram": {"transferred": 1, "dirty-sync-count": 1, "dirty-pages-rate": 0}}}
{"return": {"status": "active", "total-time": 600, "setup-time": 10, "ram": {"transferred": 2, "dirty-sync-count": 2, "dirty-pages-rate": 0}}}
{"return": {"status": "active", "total-time": 1100, "setup-time": 10, "ram": {"transferred": 3, "dirty-sync-count": 2, "dirty-pages-rate": 0}}}
{"return": {"status": "active", "total-time": 1500, "setup-time": 10, "ram": {"transferred": 4, "dirty-sync-count": 3, "dirty-pages-rate": 0}}}
{"return": {"status": "active", "total-time": 1900, "setup-time": 10, "ram": {"transferred": 5, "dirty-sync-count": 4, "dirty-pages-rate": 250}}}
)");
  const RunResult run = Parse(in, Format::kQemuQmp, "rate.jsonl");
  const auto& m = *run.migration;
  ASSERT_EQ(m.iterations.size(), 4u);
  EXPECT_EQ(m.iterations[0].dirty_pages_rate, std::nullopt);
  EXPECT_EQ(m.iterations[1].dirty_pages_rate, std::nullopt);     // sync 2 before 600ms < 1010ms
  EXPECT_THAT(m.iterations[2].dirty_pages_rate, Optional(0.0));  // sync 3 after 1100ms: measured
  EXPECT_THAT(m.iterations[3].dirty_pages_rate, Optional(250.0));
  for (const Iteration& it : m.iterations) EXPECT_EQ(it.pages_dirtied, std::nullopt);
}

// A migration part the backend holds is read from memory: the folder's file (here garbage) is
// not read back; without what is held the same folder's file is read, and its garbage named.
TEST(RunArtifactsTest, AHeldTranscriptIsParsedInsteadOfTheFile) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("migtest-held-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "qmp-transcript.jsonl") << "{\"this is\": not QMP\n";
  std::vector<RunArtifact> files = RunArtifactsIn(dir, {.backend = "qemu"});
  ASSERT_EQ(files.size(), 1u);
  const MergedRun from_disk = MergeRunArtifacts(files, {.backend = "qemu"});
  EXPECT_FALSE(from_disk.run.migration.has_value());
  ASSERT_EQ(from_disk.errors.size(), 1u);
  EXPECT_THAT(from_disk.errors[0].what(), HasSubstr("qmp-transcript.jsonl"));

  files[0].held = Slurp(Data("qmp_transcript.jsonl"));
  const MergedRun held = MergeRunArtifacts(files, {.backend = "qemu"});
  EXPECT_TRUE(held.errors.empty());
  ASSERT_TRUE(held.run.migration.has_value());
  EXPECT_EQ(held.run.migration->status, Status::kCompleted);
  EXPECT_TRUE(held.run.migration->stop_resume_gap.has_value());
  std::filesystem::remove_all(dir);
}

// The backend writes the tag with TagQmpSide; the parser reads it: the two agree, and a
// transcript tagged the other way round gives no gap (a RESUME of the source's own).
TEST(QmpParserTest, TheSideTagTheBackendWritesIsTheOneTheParserReads) {
  const nlohmann::json stop = nlohmann::json::parse(
      R"({"timestamp": {"seconds": 1790000000, "microseconds": 100000}, "event": "STOP"})");
  const nlohmann::json resume = nlohmann::json::parse(
      R"({"timestamp": {"seconds": 1790000000, "microseconds": 142000}, "event": "RESUME"})");
  const std::string completed =
      R"({"return": {"status": "completed", "total-time": 900, "downtime": 20}})";
  auto gap = [&](QmpSide stop_side, QmpSide resume_side) {
    std::istringstream in(TagQmpSide(stop, stop_side).dump() + "\n" +
                          TagQmpSide(resume, resume_side).dump() + "\n" + completed + "\n");
    return Parse(in, Format::kQemuQmp, "qmp-transcript.jsonl").migration->stop_resume_gap;
  };
  EXPECT_THAT(gap(QmpSide::kSource, QmpSide::kDestination), Optional(microseconds(42000)));
  EXPECT_EQ(gap(QmpSide::kSource, QmpSide::kSource), std::nullopt);
  EXPECT_EQ(gap(QmpSide::kDestination, QmpSide::kDestination), std::nullopt);
  EXPECT_EQ(QmpSideOf(TagQmpSide(stop, QmpSide::kDestination)), QmpSide::kDestination);
  EXPECT_EQ(QmpSideOf(stop), std::nullopt);
}

TEST(QmpParserTest, StopResumeNeedsTheSourcesStopAndTheDestinationsResume) {
  const std::string completed =
      R"({"return": {"status": "completed", "total-time": 900, "downtime": 20}})";
  auto gap = [&](const std::string& events) {
    std::istringstream in(events + "\n" + completed + "\n");
    return Parse(in, Format::kQemuQmp, "events.jsonl").migration->stop_resume_gap;
  };
  auto event = [](const char* name, int us, const char* side) {
    std::string e = fmt::format(
        R"({{"timestamp": {{"seconds": 1790000000, "microseconds": {}}}, "event": "{}")", us, name);
    if (side) e += fmt::format(R"(, "migtest-side": "{}")", side);
    return e + "}";
  };
  EXPECT_THAT(gap(event("STOP", 100000, "source") + "\n" + event("RESUME", 130000, "destination")),
              Optional(microseconds(30000)));
  // Lines as they arrived from two sockets: the order of the timestamps decides.
  EXPECT_THAT(gap(event("RESUME", 130000, "destination") + "\n" + event("STOP", 100000, "source")),
              Optional(microseconds(30000)));
  // A plain transcript: the RESUME may be the source's own; no gap rather than a wrong one.
  EXPECT_EQ(gap(event("STOP", 100000, nullptr) + "\n" + event("RESUME", 130000, nullptr)),
            std::nullopt);
  // A failed migration resumes the source.
  EXPECT_EQ(gap(event("STOP", 100000, "source") + "\n" + event("RESUME", 130000, "source")),
            std::nullopt);
  // The destination's own STOP is not the guest's pause on the source.
  EXPECT_EQ(
      gap(event("STOP", 100000, "destination") + "\n" + event("RESUME", 130000, "destination")),
      std::nullopt);
  // The source stopped twice (a pause, then the switchover): the RESUME ends the second.
  EXPECT_THAT(gap(event("STOP", 100000, "source") + "\n" + event("STOP", 120000, "source") + "\n" +
                  event("RESUME", 135000, "destination")),
              Optional(microseconds(15000)));
}

// The destination's MIGRATION events describe the incoming side; the status is the source's.
TEST(QmpParserTest, DestinationMigrationEventsDoNotSetTheStatus) {
  std::istringstream in(R"(
{"return": {"status": "active", "total-time": 100}}
{"timestamp": {"seconds": 1790000000, "microseconds": 5}, "event": "MIGRATION", "data": {"status": "completed"}, "migtest-side": "destination"}
)");
  EXPECT_EQ(Parse(in, Format::kQemuQmp, "d.jsonl").migration->status, Status::kActive);
  std::istringstream src(R"(
{"return": {"status": "active", "total-time": 100}}
{"timestamp": {"seconds": 1790000000, "microseconds": 5}, "event": "MIGRATION", "data": {"status": "failed"}, "migtest-side": "source"}
)");
  const RunResult run = Parse(src, Format::kQemuQmp, "s.jsonl");
  const auto& m = *run.migration;
  EXPECT_EQ(m.status, Status::kFailed);
}

TEST(QmpParserTest, FailedReplyKeepsTheErrorAndHasNoDowntime) {
  RunResult run = ParseFile(Data("qmp_failed.json"));
  const auto& m = *run.migration;
  EXPECT_EQ(m.status, Status::kFailed);
  EXPECT_THAT(m.error, Optional(std::string("Unable to write to socket: Broken pipe")));
  EXPECT_EQ(m.downtime, std::nullopt);
  EXPECT_THAT(m.total_time, Optional(milliseconds(2200)));
}

// QEMU 7.2 (Debian 12) says "completed" before it has computed total-time and downtime: a poll
// in between reads 0 for both (a real 7.2 run's completed reply, with the figures it would have
// carried a moment earlier). Neither is known, so neither is in the result, nor printed as 0.
constexpr const char* kQemu72Completing =
    R"({"data":{"status":"completed"},"event":"MIGRATION","migtest-side":"source","timestamp":{"microseconds":980084,"seconds":1796401612}}
{"id":67,"migtest-side":"source","return":{"downtime":0,"ram":{"dirty-pages-rate":0,"dirty-sync-count":3,"duplicate":93767,"mbps":0,"normal":37634,"pages-per-second":33386,"remaining":0,"total":537403392,"transferred":155294338},"setup-time":5,"status":"completed","total-time":0}}
)";

TEST(QmpParserTest, Qemu72CompletedReplyBeforeItsFiguresHasNeither) {
  std::istringstream in(kQemu72Completing);
  RunResult run = Parse(in, Format::kQemuQmp, "qmp-transcript.jsonl");
  const auto& m = *run.migration;
  EXPECT_EQ(m.status, Status::kCompleted);
  EXPECT_EQ(m.total_time, std::nullopt);
  EXPECT_EQ(m.downtime, std::nullopt);
  EXPECT_THAT(m.config.at("qmp_note"), ::testing::HasSubstr("total-time 0"));
  EXPECT_THAT(Summary(m),
              ::testing::StartsWith("completed (total time not reported), downtime not reported,"));
  EXPECT_FALSE(nlohmann::json(m).contains("total_time_ms"));
}

TEST(QmpParserTest, Qemu72FiguresComeFromTheReplyAfterIt) {
  std::istringstream in(
      std::string(kQemu72Completing) +
      R"({"id":68,"migtest-side":"source","return":{"downtime":72,"ram":{"dirty-sync-count":3},"setup-time":5,"status":"completed","total-time":3235}})");
  const RunResult run = Parse(in, Format::kQemuQmp, "qmp-transcript.jsonl");
  const auto& m = *run.migration;
  EXPECT_THAT(m.total_time, Optional(milliseconds(3235)));
  EXPECT_THAT(m.downtime, Optional(milliseconds(72)));
  EXPECT_FALSE(m.config.contains("qmp_note"));
  EXPECT_THAT(Summary(m), ::testing::StartsWith("completed in 3235ms, downtime 72ms"));
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
  EXPECT_THAT(m.downtime_breakdown, ElementsAre(Phase{"final_memory_delta", milliseconds(55)},
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
  EXPECT_THAT(run.probe->longest_blackout, Optional(milliseconds(312)));
}

TEST(MigmonParserTest, RedrawnStatusLine) {
  RunResult run = ParseFile(Data("status_line.log"));
  EXPECT_THAT(run.probe->max_latency, Optional(milliseconds(312)));
  EXPECT_THAT(run.probe->longest_blackout, Optional(milliseconds(312)));
}

// mig_mon client_rr's stdout as a killed prober leaves it: the start-up lines, then the status
// line redrawn (blanked with spaces, \r) after every answer, the last one without a newline.
// Answers came every 50 ms but once 412 ms apart (max_delay 412 from then on).
TEST(MigmonParserTest, ClientRrStdoutGivesTheLongestBlackout) {
  RunResult run = ParseFile(Data("client_rr.log"));
  EXPECT_EQ(run.format, Format::kMigmon);
  ASSERT_TRUE(run.probe);
  EXPECT_THAT(run.probe->longest_blackout, Optional(milliseconds(412)));
  EXPECT_THAT(run.probe->max_latency, Optional(milliseconds(412)));
  EXPECT_THAT(run.probe->interval, Optional(milliseconds(50)));  // its recv timeout
  EXPECT_TRUE(run.probe->spikes.empty());
  EXPECT_EQ(run.probe->sent, std::nullopt);  // mig_mon counts nothing
  EXPECT_EQ(run.probe->lost, std::nullopt);
  EXPECT_FALSE(run.dirty);
  EXPECT_FALSE(run.migration);
  EXPECT_EQ(DetectFormat(Slurp(Data("client_rr.log"))), Format::kMigmon);
}

// migmon client_rr's own report (prober.stderr.log of an engine run): its counts, its longest
// blackout (first unanswered send → next reply, which replaces mig_mon's max_delay figure), the
// RTT percentiles. It once failed on "rtt (us): …" as a malformed histogram line.
TEST(MigmonParserTest, ProberReportGivesItsCountsBlackoutAndRtt) {
  RunResult run = ParseFile(Data("prober_report.log"));
  EXPECT_EQ(run.format, Format::kMigmon);
  ASSERT_TRUE(run.probe);
  EXPECT_THAT(run.probe->interval, Optional(milliseconds(10)));
  EXPECT_THAT(run.probe->sent, Optional(41u));
  EXPECT_THAT(run.probe->received, Optional(38u));
  EXPECT_THAT(run.probe->lost, Optional(3u));
  EXPECT_THAT(run.probe->longest_blackout, Optional(microseconds(29973)));
  EXPECT_THAT(run.probe->max_latency, Optional(milliseconds(40)));
  EXPECT_THAT(run.probe->rtt.reported_min, Optional(microseconds(39)));
  EXPECT_THAT(run.probe->rtt.reported_p50, Optional(microseconds(49)));
  EXPECT_THAT(run.probe->rtt.reported_p99, Optional(microseconds(1248)));
  EXPECT_THAT(run.probe->rtt.reported_max, Optional(microseconds(1248)));
  EXPECT_FALSE(run.dirty);
  EXPECT_FALSE(run.migration);
  std::istringstream bad("rtt (us): min=1 p50=x\n");
  EXPECT_THROW(Parse(bad, Format::kMigmon, "p.log"), ParseError);
}

// An older mig_mon counted a receive timeout as an answer (and said "recvfrom() ERRNO: 11"): its
// delays stay near one interval through a blackout, so they give no blackout figure.
TEST(MigmonParserTest, OldClientRrCountingTimeoutsGivesNoBlackout) {
  std::istringstream in(
      "Setting socket recv timeout to 50 (ms)\n"
      "\r[100] max_delay: 50 (ms), cur: 50 (ms)\r[150] max_delay: 51 (ms), cur: 51 (ms)"
      "recvfrom() ERRNO: 11\n\r[200] max_delay: 51 (ms), cur: 50 (ms)");
  RunResult run = Parse(in, Format::kMigmon, "old_rr.log");
  ASSERT_TRUE(run.probe);
  EXPECT_EQ(run.probe->longest_blackout, std::nullopt);
  EXPECT_THAT(run.probe->max_latency, Optional(milliseconds(51)));  // what it printed, kept
}

// The same run's spike log: delays of at least twice the first (100 ms), after the init marker.
TEST(MigmonParserTest, ClientRrSpikeLogGivesTheLongestBlackout) {
  RunResult run = ParseFile(Data("client_rr_spikes.csv"));
  ASSERT_TRUE(run.probe);
  EXPECT_THAT(run.probe->spikes, ElementsAre(Spike{1790000004, milliseconds(412)},
                                             Spike{1790000004, milliseconds(120)}));
  EXPECT_THAT(run.probe->longest_blackout, Optional(milliseconds(412)));
}

// A spike log with only its init marker: no delay reached the threshold, whose value the log does
// not say. The blackout is unknown, not 0.
TEST(MigmonParserTest, SpikeLogWithOnlyTheInitMarkerHasNoBlackoutFigure) {
  std::istringstream in("1790000000,18446744073709551615\n");
  RunResult run = Parse(in, Format::kMigmon, "spikes.csv");
  ASSERT_TRUE(run.probe);
  EXPECT_EQ(run.probe->longest_blackout, std::nullopt);
  EXPECT_EQ(run.probe->max_latency, std::nullopt);
  EXPECT_TRUE(run.probe->spikes.empty());
}

// The real mm_dirty header (tabs and all): "Dirty memory rate" is what -r asked for.
TEST(MigmonParserTest, MmDirtyHeaderRateIsTheRequestedRate) {
  std::istringstream in(
      "Binary version: \t0.2.3\n"
      "Test memory size: \t512 (MB)\n"
      "Backend page size: \t4096 (Bytes)\n"
      "Dirty step size: \t4096 (Bytes)\n"
      "Dirty memory rate: \t200 (MB/s)\n"
      "Dirty pattern: \t\trandom\n"
      "Recording latencies: \tno\n"
      "+------------------------+\n"
      "|   Prefault Memory      |\n"
      "+------------------------+\n"
      "....done\n"
      "+------------------------+\n"
      "|   Start Dirty Memory   |\n"
      "+------------------------+\n"
      "dirty-rate: 187 (MB/s), time (ms): 1000, load: 100.00%\n"
      "dirty-rate: 199 (MB/s), time (ms): 1003, load: 97.10%\n");
  RunResult run = Parse(in, Format::kMigmon, "mm_dirty.log");
  ASSERT_TRUE(run.dirty);
  EXPECT_THAT(run.dirty->requested_mib_s, Optional(200.0));
  EXPECT_THAT(run.dirty->rate_mib_s, ElementsAre(187.0, 199.0));  // achieved: the per-second lines
  EXPECT_THAT(run.dirty->load_percent, ElementsAre(100.0, 97.10));
  EXPECT_THAT(run.dirty->memory_mb, Optional(512u));
  EXPECT_THAT(run.dirty->pattern, Optional(std::string("random")));

  // migtest's migmon prints a fractional rate; without -r mig_mon prints "Maximum".
  std::istringstream ours(
      "Dirty memory rate: \t12.5 (MB/s)\ndirty-rate: 12 (MB/s), time (ms): "
      "1000, load: 3.00%\n");
  EXPECT_THAT(Parse(ours, Format::kMigmon, "m").dirty->requested_mib_s, Optional(12.5));
  std::istringstream unlimited(
      "Dirty memory rate: \tMaximum\ndirty-rate: 3000 (MB/s), time (ms): "
      "1000, load: 100.00%\n");
  RunResult u = Parse(unlimited, Format::kMigmon, "u");
  EXPECT_EQ(u.dirty->requested_mib_s, std::nullopt);
  EXPECT_THAT(u.dirty->rate_mib_s, ElementsAre(3000.0));
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
  EXPECT_EQ(DetectFormat(Slurp(Data("client_rr_spikes.csv"))), Format::kMigmon);
  EXPECT_EQ(DetectFormat(R"({"schema": "migtest.result/1"})"), Format::kMigtest);
  EXPECT_EQ(DetectFormat("hello world"), Format::kAuto);
}

// The line rules behind TLMZ's stage-2 lines and QEMU's trace events, at any line of the head, and
// the near misses they must not claim.
TEST(DetectFormatTest, LineRulesClaimTheirLinesAndNotNearMisses) {
  EXPECT_EQ(DetectFormat(Slurp(Data("qemu10-trace-precopy-source.log"))), Format::kQemuTrace);
  const std::string noise = "some header\n\n";
  EXPECT_EQ(DetectFormat(noise + "s221 3 0x1000\n"), Format::kTlmz);
  EXPECT_EQ(DetectFormat(noise + " \t s222 17 pages\n"), Format::kTlmz);
  EXPECT_EQ(DetectFormat("s222 1"), Format::kTlmz);  // the head's first line, no newline
  EXPECT_EQ(DetectFormat(noise + "s223 3\n"), Format::kAuto);
  EXPECT_EQ(DetectFormat(noise + "s221 x\n"), Format::kAuto);
  EXPECT_EQ(DetectFormat(noise + "s221\n3\n"), Format::kAuto);
  EXPECT_EQ(DetectFormat(noise + "x s221 3\n"), Format::kAuto);

  EXPECT_EQ(DetectFormat(noise + "4242@1733550000.123456:migration_bitmap_sync_end n 0\n"),
            Format::kQemuTrace);
  EXPECT_EQ(DetectFormat("1@2.000000:a"), Format::kQemuTrace);
  EXPECT_EQ(DetectFormat(noise + "4242@1733550000.12345:migrate_set_state\n"), Format::kAuto);
  EXPECT_EQ(DetectFormat(noise + "4242@1733550000.1234567:migrate_set_state\n"), Format::kAuto);
  EXPECT_EQ(DetectFormat(noise + "@1733550000.123456:migrate_set_state\n"), Format::kAuto);
  EXPECT_EQ(DetectFormat(noise + "4242@.123456:migrate_set_state\n"), Format::kAuto);
  EXPECT_EQ(DetectFormat(noise + "4242@1733550000.123456:Migrate\n"), Format::kAuto);
  EXPECT_EQ(DetectFormat(noise + " 4242@1733550000.123456:migrate_set_state\n"), Format::kAuto);
}

}  // namespace
}  // namespace migtest
