#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "migtest/results.hpp"

namespace migtest {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using ::testing::HasSubstr;

RunResult FullyPopulated() {
  RunResult run;
  run.format = Format::kMigtest;
  run.source = "engine";
  run.test = "PrecopySlo.BusyGuest";
  run.scenario = {{"backend", "engine"}, {"memory_mib", 512}};
  MigrationResult& m = run.migration.emplace();
  m.format = Format::kTlmz;
  m.status = Status::kFailed;
  m.error = "connection reset";
  m.converged = false;
  m.verified = true;
  m.total_time = microseconds(179963123);
  m.downtime = microseconds(65475001);
  m.downtime_goal = milliseconds(300);
  m.setup_time = milliseconds(1);
  m.expected_downtime = milliseconds(40);
  m.stop_resume_gap = microseconds(72500);
  m.downtime_uncertainty = microseconds(150);
  m.downtime_breakdown = {{"final_iter", milliseconds(269)}, {"state", microseconds(7010)}};
  Iteration it;
  it.index = 1;
  it.start = milliseconds(0);
  it.duration = milliseconds(1000);
  it.pages_sent = 18208;
  it.pages_dirtied = 64312;
  it.dirty_pages_rate = 12800.5;
  it.bytes_sent = 74579968;
  it.sync_time = microseconds(199500);
  it.io_count = 3;
  it.progress = 0.04;
  it.bandwidth_mib_s = 1500.5;
  it.est_downtime = milliseconds(2100);
  it.remaining_bytes = 4096;
  m.iterations = {it};
  m.stalls = {{"ram", 3, milliseconds(120), 3}, {"devices", std::nullopt, milliseconds(1), 1}};
  LatencyDistribution lat;
  lat.samples = {microseconds(110), microseconds(5000), microseconds(90)};
  m.postcopy_latency = lat;
  m.postcopy_blocktime = milliseconds(66);
  m.bandwidth_mib_s = {1900, 1950.5};
  m.pages = {{"stage3", 1869301}, {"dtx", 1726145}};
  m.bytes = {{"transferred", 557842432}};
  m.config = {{"TLC_INTERVAL", "1000"}};
  ProbeResult& p = run.probe.emplace();
  p.interval = milliseconds(20);
  p.sent = 200;
  p.received = 180;
  p.lost = 20;
  p.longest_blackout = microseconds(312400);
  p.max_latency = milliseconds(312);
  p.pipe = 16;
  p.rtt.reported_min = microseconds(474395);
  p.rtt.reported_avg = microseconds(39772087);
  p.rtt.reported_max = microseconds(151843178);
  p.rtt.reported_mdev = microseconds(55413633);
  p.spikes = {{1790000000, milliseconds(312)}};
  DirtyResult& d = run.dirty.emplace();
  d.pattern = "random";
  d.memory_mb = 1024;
  d.requested_mib_s = 200;
  d.rate_mib_s = {199, 200, 201};
  d.load_percent = {12.5};
  d.latency.histogram = {{microseconds(0), microseconds(1), 23372101},
                         {microseconds(524288), std::nullopt, 2}};
  d.verify_errors = 1;
  d.verify_error = "page 17: generation 3, expected 4";
  run.verdict = TestVerdict{.outcome = TestVerdict::Outcome::kFailed,
                            .failures = {"suites/precopy_test.cc:40: Value of: run.migration"}};
  run.extra = {{"migmon_version", "0.1"}};
  return run;
}

TEST(JsonTest, FullyPopulatedResultRoundTrips) {
  const RunResult run = FullyPopulated();
  nlohmann::json j = run;
  RunResult back = nlohmann::json::parse(j.dump()).get<RunResult>();
  EXPECT_EQ(back, run);
}

TEST(JsonTest, ContractKeysAreThere) {
  nlohmann::json j = FullyPopulated();
  EXPECT_EQ(j.at("schema"), "migtest.result/1");
  EXPECT_EQ(j.at("format"), "migtest");
  const auto& m = j.at("migration");
  EXPECT_EQ(m.at("status"), "failed");
  EXPECT_EQ(m.at("total_time_ms"), 179963);
  EXPECT_EQ(m.at("downtime_ms"), 65475);
  EXPECT_EQ(m.at("setup_time_ms"), 1);
  EXPECT_EQ(m.at("downtime_breakdown")[0].at("phase"), "final_iter");
  EXPECT_EQ(m.at("downtime_breakdown")[0].at("ms"), 269);
  const auto& it = m.at("iterations")[0];
  EXPECT_EQ(it.at("duration_ms"), 1000);
  EXPECT_EQ(it.at("sync_ms"), 199);
  EXPECT_EQ(it.at("pages_sent"), 18208);
  EXPECT_EQ(it.at("pages_dirtied"), 64312);
  EXPECT_EQ(it.at("dirty_pages_rate"), 12800.5);  // pages/s, beside the count
  EXPECT_EQ(it.at("est_downtime_ms"), 2100);
  EXPECT_EQ(m.at("stalls")[0].at("duration_ms"), 120);
  EXPECT_EQ(m.at("postcopy_latency_us").at("count"), 3);
  EXPECT_EQ(m.at("postcopy_latency_us").at("max"), 5000);
  EXPECT_EQ(m.at("postcopy_latency_us").at("p50"), 110);
  EXPECT_EQ(m.at("pages").at("stage3"), 1869301);
  const auto& p = j.at("probe");
  EXPECT_EQ(p.at("interval_ms"), 20);
  EXPECT_EQ(p.at("longest_blackout_ms"), 312);
  EXPECT_EQ(p.at("spikes")[0].at("delay_ms"), 312);
  EXPECT_EQ(j.at("dirty").at("rate_mib_s")[1], 200);
  EXPECT_EQ(j.at("dirty").at("latency_us").at("histogram")[0].at("le_us"), 1);
}

TEST(JsonTest, AbsentFiguresAreAbsentNotZero) {
  RunResult run;
  run.migration.emplace().status = Status::kActive;
  nlohmann::json j = run;
  EXPECT_FALSE(j.at("migration").contains("downtime_ms"));
  EXPECT_FALSE(j.at("migration").contains("total_time_ms"));
  EXPECT_FALSE(j.contains("probe"));
}

TEST(JsonTest, MillisecondsOnlyDocumentsAreRead) {
  auto j = nlohmann::json::parse(
      R"({"schema": "migtest.result/1", "format": "migtest", "source": "x",
          "migration": {"status": "completed", "downtime_ms": 65, "total_time_ms": 1200}})");
  auto run = j.get<RunResult>();
  EXPECT_EQ(run.migration->downtime, milliseconds(65));
  EXPECT_EQ(run.migration->total_time, milliseconds(1200));
}

TEST(JsonTest, WrongSchemaOrTypesAreErrors) {
  EXPECT_THROW(nlohmann::json::parse(R"({"schema": "other/2"})").get<RunResult>(),
               nlohmann::json::exception);
  EXPECT_THROW(nlohmann::json::parse(R"({"migration": {"status": 3}})").get<RunResult>(),
               nlohmann::json::exception);
  EXPECT_THROW(nlohmann::json::parse(R"({"migration": {"status": "done"}})").get<RunResult>(),
               nlohmann::json::exception);
  EXPECT_THROW(nlohmann::json::parse("[1, 2]").get<RunResult>(), nlohmann::json::exception);
  EXPECT_THROW(nlohmann::json::parse(R"({"verdict": {"outcome": "fine"}})").get<RunResult>(),
               nlohmann::json::exception);
}

TEST(JsonTest, TheTestsVerdictIsWrittenAsOutcomeAndFailures) {
  nlohmann::json j = FullyPopulated();
  EXPECT_EQ(j.at("verdict").at("outcome"), "failed");
  EXPECT_EQ(j.at("verdict").at("failures").at(0),
            "suites/precopy_test.cc:40: Value of: run.migration");
  RunResult parsed = RunResult{};
  EXPECT_EQ(nlohmann::json(parsed).contains("verdict"), false) << "a parsed log has none";
}

TEST(JsonTest, ToJsonStringIndents) {
  RunResult run;
  run.source = "s";
  EXPECT_THAT(ToJsonString(run), ::testing::Not(HasSubstr("\n")));
  EXPECT_THAT(ToJsonString(run, 2), HasSubstr("\n  \"schema\""));
}

}  // namespace
}  // namespace migtest
