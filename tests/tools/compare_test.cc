// migtest-compare on synthetic result.json trees whose answers are known: the same values on both
// sides, shifts of 20 % and 2 %, improvements, bad input, a nightly history, and the A/B page.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>

#include "migtest/fixtures/lab.hpp"
#include "migtest/fixtures/process.hpp"

namespace migtest {
namespace {

using namespace std::chrono_literals;
using ::testing::Contains;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Lt;
using ::testing::Not;
using ::testing::StartsWith;
using json = nlohmann::json;
namespace fs = std::filesystem;

// n values spread evenly over mean ± `spread` % (so their mean is `mean` exactly); `rotate`
// writes them in another order, so that two sides from one distribution are not the same files.
std::vector<double> Sample(double mean, double spread, size_t n = 10, size_t rotate = 0) {
  std::vector<double> v;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (k + rotate) % n;
    const double deviation = n == 1 ? 0 : -1 + 2.0 * static_cast<double>(i) / (n - 1);
    v.push_back(mean * (1 + deviation * spread / 100));
  }
  return v;
}

// The columns of a text-table row (cells are separated by two or more spaces).
std::vector<std::string> Cells(const std::string& line) {
  std::vector<std::string> cells;
  std::regex sep(" {2,}");
  for (std::sregex_token_iterator it(line.begin(), line.end(), sep, -1), end; it != end; ++it) {
    if (!it->str().empty()) cells.push_back(*it);
  }
  return cells;
}

class CompareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InstallLeakChecker();
    root_ = ArtifactDir() / "runs";
    fs::remove_all(root_);
    fs::create_directories(root_);
  }

  // <root>/<side>/<Suite>/<Test>/run-<k>/result.json, one per value, with `migration` from `make`.
  void Write(const std::string& side, const std::string& test, const std::vector<double>& values,
             const std::function<json(double)>& make) {
    std::string folder = test;
    std::replace(folder.begin(), folder.end(), '.', '/');
    for (size_t k = 0; k < values.size(); ++k) {
      fs::path dir = root_ / side / folder / fmt::format("run-{}", k + 1);
      fs::create_directories(dir);
      json doc = {{"schema", "migtest.result/1"},
                  {"format", "migtest"},
                  {"test", test},
                  {"migration", make(values[k])}};
      std::ofstream(dir / "result.json") << doc.dump(2);
    }
  }
  // Downtime in microseconds, as the fixtures write it (`_us` beside `_ms`).
  void WriteDowntimes(const std::string& side, const std::string& test,
                      const std::vector<double>& ms) {
    Write(side, test, ms, [](double v) {
      return json{{"status", "completed"},
                  {"downtime_ms", static_cast<long>(v)},
                  {"downtime_us", std::lround(v * 1000)},
                  {"total_time_ms", 1500}};
    });
  }

  // Like WriteDowntimes, and `spoil(k, doc)` changes run k's document (k from 0): a failed
  // status, unverified memory, a sick guest, a failed verdict.
  void WriteOutcomes(const std::string& side, const std::string& test,
                     const std::vector<double>& ms,
                     const std::function<void(size_t, json&)>& spoil) {
    WriteDowntimes(side, test, ms);
    std::string folder = test;
    std::replace(folder.begin(), folder.end(), '.', '/');
    for (size_t k = 0; k < ms.size(); ++k) {
      const fs::path file = root_ / side / folder / fmt::format("run-{}", k + 1) / "result.json";
      json doc = json::parse(std::ifstream(file));
      spoil(k, doc);
      std::ofstream(file) << doc.dump(2);
    }
  }
  static void Unverified(json& doc) {
    doc["migration"]["verified"] = false;
    doc["migration"]["config"] = {{"verified_by", "the guest's dirtier (mm_dirty --verify)"}};
    doc["guest"] = {{"console", "destination.stdout.log"},
                    {"lines", 40},
                    {"problems", {{{"line", 31}, {"text", "BUG: unable to handle page fault"}}}}};
  }
  static void Failed(json& doc) {
    doc["migration"] = {
        {"status", "failed"}, {"error", "connection reset"}, {"total_time_ms", 300}};
  }

  Process& Compare(std::vector<std::string> args) {
    return lab_.Start({.name = fmt::format("compare-{}", ++runs_),
                       .exe = MIGTEST_COMPARE,
                       .args = std::move(args)});
  }
  Process& Compare() { return Compare({Dir("base"), Dir("cand")}); }
  std::string Dir(const std::string& side) const { return (root_ / side).string(); }

  // The row of `test` and `metric` in the text table, split into cells; empty if none.
  static std::vector<std::string> Row(const Process& p, const std::string& test,
                                      const std::string& metric) {
    for (const auto& line : p.Lines()) {
      auto cells = Cells(line);
      if (cells.size() >= 2 && cells[0] == test && cells[1].rfind(metric, 0) == 0) return cells;
    }
    return {};
  }

  fs::path root_;
  int runs_ = 0;
  Supervisor lab_{ArtifactDir()};
};

TEST_F(CompareTest, IdenticalDistributionsAreNoRegression) {
  WriteDowntimes("base", "PrecopySlo.Busy", Sample(60, 4));
  WriteDowntimes("cand", "PrecopySlo.Busy", Sample(60, 4, 10, 3));
  Process& p = Compare();
  ASSERT_TRUE(p.WaitForExitCode(0, Scaled(30s))) << p.Stdout();
  auto row = Row(p, "PrecopySlo.Busy", "downtime");
  ASSERT_EQ(row.size(), 7u) << p.Stdout();
  EXPECT_EQ(row[2], "60.0 ± 1.6 (10)");
  EXPECT_EQ(row[3], "60.0 ± 1.6 (10)");
  EXPECT_EQ(row[4], "+0.0%");
  EXPECT_EQ(row[5], "1.0000");
  EXPECT_EQ(row[6], "no significant change");
  EXPECT_THAT(p.Stdout(), HasSubstr("0 regressions, 0 improvements"));
}

TEST_F(CompareTest, TwentyPercentDowntimeShiftIsARegression) {
  WriteDowntimes("base", "PrecopySlo.Busy", Sample(60, 4));
  WriteDowntimes("cand", "PrecopySlo.Busy", Sample(72, 4, 10, 3));
  Process& p = Compare();
  ASSERT_TRUE(p.WaitForExitCode(1, Scaled(30s))) << p.Stdout();
  auto row = Row(p, "PrecopySlo.Busy", "downtime");
  ASSERT_EQ(row.size(), 7u) << p.Stdout();
  EXPECT_EQ(row[1], "downtime [ms]");
  EXPECT_EQ(row[3], "72.0 ± 1.9 (10)");
  EXPECT_EQ(row[4], "+20.0%");
  EXPECT_THAT(std::stod(row[5]), Lt(0.01)) << row[5];
  EXPECT_EQ(row[6], "REGRESSION");
  // Unchanged metrics of the same test are not.
  EXPECT_EQ(Row(p, "PrecopySlo.Busy", "total_time").at(6), "no significant change");
  EXPECT_THAT(p.Stdout(), HasSubstr("1 regression, 0 improvements: PrecopySlo.Busy downtime"));

  Process& again = Compare();
  ASSERT_TRUE(again.WaitForExitCode(1, Scaled(30s)));
  EXPECT_EQ(again.Stdout(), p.Stdout()) << "a fixed seed: reruns print the same p-values";
}

TEST_F(CompareTest, TwoPercentShiftIsBelowTheNoiseThreshold) {
  // Little noise, so that a 2 % shift is significant: it is the threshold that keeps it quiet.
  WriteDowntimes("base", "PrecopySlo.Busy", Sample(60, 0.5));
  WriteDowntimes("cand", "PrecopySlo.Busy", Sample(61.2, 0.5, 10, 3));
  Process& p = Compare();
  ASSERT_TRUE(p.WaitForExitCode(0, Scaled(30s))) << p.Stdout();
  auto row = Row(p, "PrecopySlo.Busy", "downtime");
  ASSERT_EQ(row.size(), 7u) << p.Stdout();
  EXPECT_EQ(row[4], "+2.0%");
  EXPECT_THAT(std::stod(row[5]), Lt(0.01));
  EXPECT_EQ(row[6], "within 5% threshold");
}

TEST_F(CompareTest, DowntimeDownIsAnImprovement) {
  WriteDowntimes("base", "PrecopySlo.Busy", Sample(60, 4));
  WriteDowntimes("cand", "PrecopySlo.Busy", Sample(48, 4, 10, 3));
  Process& p = Compare();
  ASSERT_TRUE(p.WaitForExitCode(0, Scaled(30s))) << p.Stdout();
  auto row = Row(p, "PrecopySlo.Busy", "downtime");
  ASSERT_EQ(row.size(), 7u) << p.Stdout();
  EXPECT_EQ(row[4], "-20.0%");
  EXPECT_EQ(row[6], "improvement");
  EXPECT_THAT(p.Stdout(), HasSubstr("0 regressions, 1 improvement"));
}

TEST_F(CompareTest, BandwidthUpIsAnImprovementDownARegression) {
  auto bandwidth = [](double mib_s) {
    return json{{"status", "completed"}, {"bandwidth_mib_s", {mib_s - 10, mib_s + 10}}};
  };
  Write("base", "PrecopySlo.Busy", Sample(1900, 4), bandwidth);
  Write("up", "PrecopySlo.Busy", Sample(2280, 4, 10, 3), bandwidth);
  Write("down", "PrecopySlo.Busy", Sample(1520, 4, 10, 3), bandwidth);
  Process& up = Compare({Dir("base"), Dir("up")});
  ASSERT_TRUE(up.WaitForExitCode(0, Scaled(30s))) << up.Stdout();
  auto row = Row(up, "PrecopySlo.Busy", "bandwidth");
  ASSERT_EQ(row.size(), 7u) << up.Stdout();
  EXPECT_EQ(row[1], "bandwidth [MiB/s]");
  EXPECT_EQ(row[2], "1900 ± 51 (10)") << "the mean of each run's samples";
  EXPECT_EQ(row[4], "+20.0%");
  EXPECT_EQ(row[6], "improvement");

  Process& down = Compare({Dir("base"), Dir("down")});
  ASSERT_TRUE(down.WaitForExitCode(1, Scaled(30s))) << down.Stdout();
  EXPECT_EQ(Row(down, "PrecopySlo.Busy", "bandwidth").at(6), "REGRESSION");
}

TEST_F(CompareTest, PerMetricThresholdOverridesTheGlobalOne) {
  WriteDowntimes("base", "PrecopySlo.Busy", Sample(60, 4));
  WriteDowntimes("cand", "PrecopySlo.Busy", Sample(72, 4, 10, 3));
  Process& loose = Compare({Dir("base"), Dir("cand"), "--threshold", "downtime=25"});
  ASSERT_TRUE(loose.WaitForExitCode(0, Scaled(30s))) << loose.Stdout();
  EXPECT_EQ(Row(loose, "PrecopySlo.Busy", "downtime").at(6), "within 25% threshold");

  Process& global = Compare({Dir("base"), Dir("cand"), "--threshold", "25"});
  ASSERT_TRUE(global.WaitForExitCode(0, Scaled(30s))) << global.Stdout();

  Process& strict =
      Compare({Dir("base"), Dir("cand"), "--threshold", "25", "--threshold", "downtime=10"});
  ASSERT_TRUE(strict.WaitForExitCode(1, Scaled(30s))) << strict.Stdout();
  EXPECT_EQ(Row(strict, "PrecopySlo.Busy", "downtime").at(6), "REGRESSION");

  Process& typo = Compare({Dir("base"), Dir("cand"), "--threshold", "downtme=10"});
  ASSERT_TRUE(typo.WaitForExitCode(2, Scaled(30s)));
  EXPECT_THAT(typo.LastLine(), HasSubstr("unknown metric 'downtme'"));
}

TEST_F(CompareTest, DifferentTestSetsAreBadInput) {
  WriteDowntimes("base", "PrecopySlo.Busy", Sample(60, 4));
  WriteDowntimes("cand", "PrecopySlo.Busy", Sample(60, 4));
  WriteDowntimes("cand", "PrecopySlo.Extra", Sample(60, 4));
  Process& p = Compare();
  ASSERT_TRUE(p.WaitForExitCode(2, Scaled(30s)));
  ASSERT_EQ(p.Lines(true).size(), 1u) << "one line";
  EXPECT_THAT(p.LastLine(), HasSubstr("only in " + Dir("cand") + ": PrecopySlo.Extra"));
  EXPECT_EQ(p.Stdout(), "");
}

TEST_F(CompareTest, FewerThanThreeRunsIsBadInput) {
  WriteDowntimes("base", "PrecopySlo.Busy", Sample(60, 4));
  WriteDowntimes("cand", "PrecopySlo.Busy", Sample(60, 4, 2));
  Process& p = Compare();
  ASSERT_TRUE(p.WaitForExitCode(2, Scaled(30s)));
  EXPECT_THAT(p.LastLine(), HasSubstr("PrecopySlo.Busy has 2 runs in " + Dir("cand")));
}

TEST_F(CompareTest, GarbageIsBadInputNamingTheFile) {
  WriteDowntimes("base", "PrecopySlo.Busy", Sample(60, 4));
  WriteDowntimes("cand", "PrecopySlo.Busy", Sample(60, 4));
  const fs::path garbage = root_ / "cand" / "PrecopySlo" / "Busy" / "run-3" / "result.json";
  std::ofstream(garbage) << "{\"migration\": ";
  Process& p = Compare();
  ASSERT_TRUE(p.WaitForExitCode(2, Scaled(30s)));
  ASSERT_EQ(p.Lines(true).size(), 1u);
  EXPECT_THAT(p.LastLine(), StartsWith("migtest-compare: " + garbage.string() + ": not JSON"));

  std::ofstream(garbage) << R"({"test": "PrecopySlo.Busy", "migration": {"downtime_ms": "fast"}})";
  Process& wrong_type = Compare();
  ASSERT_TRUE(wrong_type.WaitForExitCode(2, Scaled(30s)));
  EXPECT_THAT(wrong_type.LastLine(),
              HasSubstr(garbage.string() + ": migration.downtime_ms is a string, not a number"));

  std::ofstream(garbage) << R"({"migration": {"downtime_ms": 60}})";
  Process& untitled = Compare();
  ASSERT_TRUE(untitled.WaitForExitCode(2, Scaled(30s)));
  EXPECT_THAT(untitled.LastLine(), HasSubstr(garbage.string() + ": no \"test\" field"));

  Process& missing = Compare({Dir("base"), Dir("nope")});
  ASSERT_TRUE(missing.WaitForExitCode(2, Scaled(30s)));
  EXPECT_THAT(missing.LastLine(), HasSubstr(Dir("nope") + ": not a directory"));

  Process& usage = Compare({"--bogus"});
  ASSERT_TRUE(usage.WaitForExitCode(2, Scaled(30s)));
}

TEST_F(CompareTest, MetricAbsentOnOneSideIsShownNotCompared) {
  WriteDowntimes("base", "PostcopySlo.Busy", Sample(60, 4));
  Write("cand", "PostcopySlo.Busy", Sample(60, 4, 10, 3), [](double v) {
    return json{{"status", "completed"},
                {"downtime_ms", v},
                {"total_time_ms", 1500},
                {"postcopy_latency_us", {{"p50", 110}, {"p99", 2500}}}};
  });
  Process& p = Compare();
  ASSERT_TRUE(p.WaitForExitCode(0, Scaled(30s))) << p.Stdout();
  auto row = Row(p, "PostcopySlo.Busy", "postcopy_p99");
  ASSERT_EQ(row.size(), 7u) << p.Stdout();
  EXPECT_EQ(row[2], "-");
  EXPECT_EQ(row[3], "2500 ± 0 (10)");
  EXPECT_EQ(row[5], "-");
  EXPECT_EQ(row[6], "absent in baseline");
  EXPECT_TRUE(Row(p, "PostcopySlo.Busy", "blackout").empty()) << "absent on both sides: no row";
}

TEST_F(CompareTest, GuestPauseAndTracePhasesAreCompared) {
  // The guest's pause is the downtime when present (QEMU's downtime_ms is the source's side
  // only: unchanged here); each downtime_breakdown phase is a metric of its own.
  auto qemu = [](double pause_ms) {
    return json{{"status", "completed"},
                {"downtime_ms", 10},
                {"guest_pause_ms", static_cast<long>(pause_ms)},
                {"guest_pause_us", std::lround(pause_ms * 1000)},
                {"downtime_breakdown",
                 {{{"phase", "source-save"}, {"ms", 3}, {"us", 3000}},
                  {{"phase", "destination-load"}, {"ms", 0}, {"us", std::lround(pause_ms * 500)}}}},
                {"iterations", {{{"index", 1}, {"sync_us", 1200}}, {{"index", 2}, {"sync_ms", 4}}}},
                {"stalls", {{{"section", "ram"}, {"duration_us", 2500}}}}};
  };
  Write("base", "QemuSlo.Idle", Sample(60, 4), qemu);
  Write("cand", "QemuSlo.Idle", Sample(72, 4, 10, 3), qemu);
  Process& p = Compare();
  ASSERT_TRUE(p.WaitForExitCode(1, Scaled(30s))) << p.Stdout();
  EXPECT_EQ(Row(p, "QemuSlo.Idle", "downtime").at(6), "REGRESSION");
  auto load = Row(p, "QemuSlo.Idle", "phase:destination-load");
  ASSERT_EQ(load.size(), 7u) << p.Stdout();
  EXPECT_EQ(load[1], "phase:destination-load [ms]");
  EXPECT_EQ(load[2], "30.0 ± 0.8 (10)") << "from `us`: the phase's `ms` is 0";
  EXPECT_EQ(load[6], "REGRESSION");
  EXPECT_EQ(Row(p, "QemuSlo.Idle", "phase:source-save").at(6), "no significant change");
  EXPECT_EQ(Row(p, "QemuSlo.Idle", "iterations").at(2), "2.00 ± 0.00 (10)");
  EXPECT_EQ(Row(p, "QemuSlo.Idle", "worst_sync").at(2), "4.00 ± 0.00 (10)")
      << "the largest of iterations[].sync and stalls[].duration";
}

// A phase of 0.04 ms that became 0.14 ms is +250 % and significant, and still a change no one can
// act on: shown with its size in ms, not judged. The same shift on a 4 ms phase is judged.
TEST_F(CompareTest, ATinyPhasesLargePercentageIsBelowWhatIsJudged) {
  auto phases = [](double tiny_us) {
    return [tiny_us](double big_us) {
      return json{{"status", "completed"},
                  {"downtime_ms", 20},
                  {"downtime_breakdown",
                   {{{"phase", "bitmap-sync"}, {"ms", 0}, {"us", std::lround(tiny_us)}},
                    {{"phase", "source-save"}, {"ms", 0}, {"us", std::lround(big_us)}}}}};
    };
  };
  Write("base", "QemuSlo.Idle", Sample(4000, 2), phases(40));
  Write("cand", "QemuSlo.Idle", Sample(4000, 2, 10, 3), phases(140));
  Process& quiet = Compare();
  ASSERT_TRUE(quiet.WaitForExitCode(0, Scaled(30s))) << quiet.Stdout();
  auto tiny = Row(quiet, "QemuSlo.Idle", "phase:bitmap-sync");
  ASSERT_EQ(tiny.size(), 7u) << quiet.Stdout();
  EXPECT_EQ(tiny[4], "+250.0%");
  EXPECT_EQ(tiny[6], "+0.10 ms: below the 0.5 ms that is judged");

  // The floor is absolute: a 4 ms phase growing by a millisecond is a regression.
  Write("cand", "QemuSlo.Idle", Sample(5000, 2, 10, 3), phases(40));
  Process& loud = Compare();
  ASSERT_TRUE(loud.WaitForExitCode(1, Scaled(30s))) << loud.Stdout();
  EXPECT_EQ(Row(loud, "QemuSlo.Idle", "phase:source-save").at(6), "REGRESSION");
}

TEST_F(CompareTest, LayoutsDifferTheTestFieldDecides) {
  // Baseline: several result-<k>.json in one folder; candidate: <Test>/run-<k>/result.json.
  auto values = Sample(60, 4);
  fs::create_directories(root_ / "base" / "flat");
  for (size_t k = 0; k < values.size(); ++k) {
    json doc = {{"test", "PrecopySlo.Busy"},
                {"migration", {{"status", "completed"}, {"downtime_ms", values[k]}}}};
    std::ofstream(root_ / "base" / "flat" / fmt::format("result-{}.json", k + 2)) << doc;
  }
  WriteDowntimes("cand", "PrecopySlo.Busy", Sample(60, 4, 10, 3));
  Process& p = Compare();
  ASSERT_TRUE(p.WaitForExitCode(0, Scaled(30s))) << p.Stdout() << p.LastLine();
  EXPECT_EQ(Row(p, "PrecopySlo.Busy", "downtime").at(2), "60.0 ± 1.6 (10)");
}

TEST_F(CompareTest, FewRunsSayWhyNoVerdictIsPossible) {
  WriteDowntimes("base", "PrecopySlo.Busy", Sample(60, 1, 3));
  WriteDowntimes("cand", "PrecopySlo.Busy", Sample(90, 1, 3));
  Process& p = Compare();
  ASSERT_TRUE(p.WaitForExitCode(0, Scaled(30s))) << p.Stdout();
  EXPECT_EQ(Row(p, "PrecopySlo.Busy", "downtime").at(5), "0.1000");
  EXPECT_THAT(p.Stdout(), HasSubstr("PrecopySlo.Busy has 3 + 3 runs: the smallest p a "
                                    "permutation test can give is 0.100"));
}

TEST_F(CompareTest, MarkdownForAJobSummary) {
  WriteDowntimes("base", "PrecopySlo.Busy", Sample(60, 4));
  WriteDowntimes("cand", "PrecopySlo.Busy", Sample(72, 4, 10, 3));
  Process& p = Compare({Dir("base"), Dir("cand"), "--markdown"});
  ASSERT_TRUE(p.WaitForExitCode(1, Scaled(30s))) << p.Stdout();
  const std::string out = p.Stdout();
  EXPECT_THAT(out, HasSubstr("| test | metric | baseline mean ± sd (n) | candidate mean ± sd (n) "
                             "| change | p | verdict |\n|---|---|---:|---:|---:|---:|---|\n"));
  EXPECT_TRUE(std::regex_search(
      out, std::regex(R"(\| PrecopySlo\.Busy \| downtime \[ms\] \| 60\.0 ± 1\.6 \(10\) \| )"
                      R"(72\.0 ± 1\.9 \(10\) \| \+20\.0% \| 0\.0\d+ \| \*\*REGRESSION\*\* \|)")))
      << out;
}

// ---- Outcomes before timings (issue #20): a candidate that breaks guests is a regression --------

TEST_F(CompareTest, UnverifiedCandidateRunsAreARegressionWhateverTheTimings) {
  WriteDowntimes("base", "QemuSlo.Busy", Sample(60, 4));
  WriteOutcomes("cand", "QemuSlo.Busy", Sample(60, 4, 10, 3), [](size_t k, json& doc) {
    if (k % 3 == 1) Unverified(doc);  // runs 2, 5, 8: every timing unchanged
  });
  Process& p = Compare();
  ASSERT_TRUE(p.WaitForExitCode(1, Scaled(30s))) << p.Stdout();
  const std::string out = p.Stdout();
  EXPECT_THAT(out, HasSubstr("REGRESSION QemuSlo.Busy: memory not verified in 3 of 10 candidate "
                             "runs, in none of the baseline's 10"));
  EXPECT_THAT(out, HasSubstr("REGRESSION QemuSlo.Busy: guest unhealthy in 3 of 10 candidate runs"));
  EXPECT_THAT(out,
              HasSubstr(Dir("cand") +
                        "/QemuSlo/Busy/run-5: memory not verified: the "
                        "destination's memory did not verify (checked by the guest's dirtier"));
  EXPECT_THAT(out, HasSubstr("BUG: unable to handle page fault"));
  EXPECT_THAT(p.LastLine(), StartsWith("verdict: REGRESSION: the candidate's outcomes regressed"));
  // Their timings are not pooled with the good runs'.
  EXPECT_THAT(Row(p, "QemuSlo.Busy", "downtime").at(3), HasSubstr("(7)")) << out;
  EXPECT_THAT(out, HasSubstr("3 (3 guest unhealthy, 3 memory not verified)"));
}

TEST_F(CompareTest, FailedCandidateRunsAreARegressionAndNotPooledIntoTimings) {
  WriteDowntimes("base", "PrecopySlo.Busy", Sample(60, 4, 20));
  WriteOutcomes("cand", "PrecopySlo.Busy", Sample(60, 4, 20, 3), [](size_t k, json& doc) {
    if (k % 4 == 0) Failed(doc);  // 5 of 20 end "failed" after 300 ms
  });
  Process& p = Compare();
  ASSERT_TRUE(p.WaitForExitCode(1, Scaled(30s))) << p.Stdout();
  const std::string out = p.Stdout();
  EXPECT_THAT(out, HasSubstr("REGRESSION PrecopySlo.Busy: the migration did not complete in 5 of "
                             "20 candidate runs against 0 of 20 in the baseline (the baseline "
                             "never failed so; Fisher's exact test p = 0.024)"))
      << out;
  EXPECT_THAT(out, HasSubstr("run-1: not completed: status failed: connection reset"));
  // The failed runs' 300 ms are not pooled into total_time (they would look 19 % faster).
  auto total = Row(p, "PrecopySlo.Busy", "total_time");
  ASSERT_EQ(total.size(), 7u) << out;
  EXPECT_EQ(total[3], "1500 ± 0 (15)");
  EXPECT_EQ(total[6], "no significant change");
}

TEST_F(CompareTest, WhereTheBaselineFailsTooFisherDecides) {
  // 1 of 20 against 8 of 20: the hypergeometric tail is 0.0098 (scipy.stats.fisher_exact agrees).
  WriteOutcomes("base", "PrecopySlo.Busy", Sample(60, 4, 20), [](size_t k, json& doc) {
    if (k == 7) Failed(doc);
  });
  WriteOutcomes("cand", "PrecopySlo.Busy", Sample(60, 4, 20, 3), [](size_t k, json& doc) {
    if (k < 8) Failed(doc);
  });
  Process& p = Compare();
  ASSERT_TRUE(p.WaitForExitCode(1, Scaled(30s))) << p.Stdout();
  EXPECT_THAT(p.Stdout(), HasSubstr("the migration did not complete in 8 of 20 candidate runs "
                                    "against 1 of 20 in the baseline (Fisher's exact test "
                                    "p = 0.0098)"));
  // Timings: only the 12 completed candidate runs; the table says why 8 are left out.
  EXPECT_THAT(Row(p, "PrecopySlo.Busy", "total_time").at(3), HasSubstr("(12)"));
  EXPECT_THAT(p.Stdout(), HasSubstr("8 (8 not completed)"));
}

TEST_F(CompareTest, WithTenRunsASideOneMoreFailureIsNoise) {
  // 1 of 20 against 2 of 20: Fisher's p = 0.50; a flaky test, not a regression.
  WriteOutcomes("base", "PrecopySlo.Busy", Sample(60, 4, 20), [](size_t k, json& doc) {
    if (k == 7) Failed(doc);
  });
  WriteOutcomes("cand", "PrecopySlo.Busy", Sample(60, 4, 20, 3), [](size_t k, json& doc) {
    if (k == 2 || k == 11) Failed(doc);
  });
  Process& p = Compare();
  ASSERT_TRUE(p.WaitForExitCode(0, Scaled(30s))) << p.Stdout();
  EXPECT_EQ(p.LastLine(), "verdict: no regression");
}

TEST_F(CompareTest, AnUnfinishedMigrationWhereTheBaselineHadNoneIsARegression) {
  WriteDowntimes("base", "PrecopySlo.Busy", Sample(60, 4, 5));
  WriteOutcomes("cand", "PrecopySlo.Busy", Sample(60, 4, 5, 3), [](size_t k, json& doc) {
    if (k == 3) {
      doc["migration"]["status"] = "cancelled";
      doc["migration"]["error"] = "not finished within the scenario's timeout (8 s)";
    }
  });
  Process& p = Compare();
  ASSERT_TRUE(p.WaitForExitCode(1, Scaled(30s))) << p.Stdout();
  EXPECT_THAT(p.Stdout(), HasSubstr("the migration did not complete in 1 of 5 candidate runs "
                                    "against 0 of 5 in the baseline (the baseline never failed "
                                    "so; Fisher's exact test p = 0.5)"));
  EXPECT_THAT(p.Stdout(), HasSubstr("run-4: not completed: status cancelled: not finished within "
                                    "the scenario's timeout (8 s)"));
}

// A missed SLO on a run that completed and verified is a timing: Fisher's test judges how often it
// happens (one of five is noise; five of five is not), as the permutation tests judge the times.
TEST_F(CompareTest, FailedSlosAreJudgedByFishersTest) {
  auto slo_failed = [](json& doc) {
    doc["verdict"] = {{"outcome", "failed"},
                      {"failures", {"suites/precopy_test.cc:40: Value of: run.migration"}}};
  };
  WriteDowntimes("base", "PrecopySlo.Busy", Sample(60, 4, 5));
  WriteOutcomes("cand", "PrecopySlo.Busy", Sample(60, 4, 5, 3), [&](size_t k, json& doc) {
    if (k == 3) slo_failed(doc);
  });
  Process& once = Compare();
  ASSERT_TRUE(once.WaitForExitCode(0, Scaled(30s))) << once.Stdout();
  // Its timings stay in: a failed SLO is a measurement.
  EXPECT_THAT(Row(once, "PrecopySlo.Busy", "downtime").at(3), HasSubstr("(5)"));
  EXPECT_THAT(once.Stdout(), HasSubstr("left out of timings"));

  WriteOutcomes("cand", "PrecopySlo.Busy", Sample(60, 4, 5, 3),
                [&](size_t, json& doc) { slo_failed(doc); });
  Process& always = Compare();
  ASSERT_TRUE(always.WaitForExitCode(1, Scaled(30s))) << always.Stdout();
  EXPECT_THAT(always.Stdout(), HasSubstr("the test failed in 5 of 5 candidate runs against 0 of 5 "
                                         "in the baseline (Fisher's exact test p = 0.004)"));
  EXPECT_THAT(always.Stdout(), HasSubstr("run-2: test failed: 1 failed assertion(s), the first: "
                                         "suites/precopy_test.cc:40: Value of: run.migration"));
}

TEST_F(CompareTest, FewerFailuresThanTheBaselineIsNoRegression) {
  WriteOutcomes("base", "PrecopySlo.Busy", Sample(60, 4), [](size_t k, json& doc) {
    if (k < 3) Failed(doc);
  });
  WriteOutcomes("cand", "PrecopySlo.Busy", Sample(60, 4, 10, 3), [](size_t k, json& doc) {
    if (k == 0) Failed(doc);
  });
  Process& p = Compare();
  ASSERT_TRUE(p.WaitForExitCode(0, Scaled(30s))) << p.Stdout();
  EXPECT_EQ(p.LastLine(), "verdict: no regression");
}

TEST_F(CompareTest, ACandidateWhoseEveryRunTheHarnessCouldNotMeasureIsARegression) {
  WriteDowntimes("base", "QemuSlo.Busy", Sample(60, 4, 5));
  WriteOutcomes("cand", "QemuSlo.Busy", Sample(60, 4, 5), [](size_t, json& doc) {
    doc["migration"] = {{"status", "failed"},
                        {"error",
                         "the run could not be measured (harness failure, reported "
                         "once above)"}};
    doc["extra"] = {{"harness_error", "qemu: could not load PC BIOS 'bios-256k.bin'\nmore"}};
  });
  Process& p = Compare();
  ASSERT_TRUE(p.WaitForExitCode(1, Scaled(30s))) << p.Stdout();
  EXPECT_THAT(p.Stdout(), HasSubstr("harness failure in 5 of 5 candidate runs, in none of the "
                                    "baseline's 5"));
  EXPECT_THAT(p.Stdout(), HasSubstr("run-1: harness failure: qemu: could not load PC BIOS"));
}

TEST_F(CompareTest, AFigureTheCandidateNoLongerReportsIsARegression) {
  auto with_p99 = [](double v) {
    return json{{"status", "completed"},
                {"downtime_ms", v},
                {"guest_pause_us", std::lround(v * 1000)},
                {"total_time_ms", 1500},
                {"postcopy_latency_us", {{"p50", 110}, {"p99", 2500}}}};
  };
  Write("base", "PostcopySlo.Busy", Sample(60, 4), with_p99);
  // The candidate lost its trace points: no p99, and its downtime is the VMM's own figure.
  WriteDowntimes("cand", "PostcopySlo.Busy", Sample(60, 4, 10, 3));
  Process& p = Compare();
  ASSERT_TRUE(p.WaitForExitCode(1, Scaled(30s))) << p.Stdout();
  EXPECT_THAT(p.Stdout(), HasSubstr("the candidate no longer reports postcopy_p99 (10 of 10 "
                                    "completed runs lack it; every baseline run had it)"));
  EXPECT_THAT(p.Stdout(), HasSubstr("the candidate no longer reports guest_pause"));
  // Two measurements of downtime: the verdict says so and judges neither way.
  EXPECT_EQ(Row(p, "PostcopySlo.Busy", "downtime").at(6),
            "not comparable: guest_pause vs downtime");
}

TEST_F(CompareTest, AFigureSomeCandidateRunsLackIsNotLost) {
  // Bandwidth is sampled once a second: a short run has none. Only a figure no candidate run has
  // is "no longer reported".
  auto sampled = [](double v) {
    return json{{"status", "completed"},
                {"downtime_ms", v},
                {"total_time_ms", 1500},
                {"bandwidth_mib_s", {900, 1100}}};
  };
  Write("base", "PrecopySlo.Short", Sample(60, 4, 5), sampled);
  WriteOutcomes("cand", "PrecopySlo.Short", Sample(60, 4, 5, 3), [](size_t k, json& doc) {
    doc["migration"]["bandwidth_mib_s"] = k == 2 ? json::array() : json{900, 1100};
  });
  Process& p = Compare();
  ASSERT_TRUE(p.WaitForExitCode(0, Scaled(30s))) << p.Stdout();
  EXPECT_EQ(p.LastLine(), "verdict: no regression");
}

// ---- The A/B page (--html, issue #21) -----------------------------------------------------------

std::string ReadFile(const fs::path& file) {
  std::ifstream in(file);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

size_t Occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The <figure> of the page whose plot title starts with `title` inside the section of `test`
// (escaped as the page writes it); "" if none.
std::string FigureOf(const std::string& page, const std::string& test, const std::string& title) {
  const auto section = page.find("<h2>" + test + "</h2>");
  if (section == std::string::npos) return "";
  const auto end = page.find("</section>", section);
  for (auto at = page.find("<figure", section); at < end; at = page.find("<figure", at + 1)) {
    const auto close = page.find("</figure>", at);
    std::string figure = page.substr(at, close - at);
    if (figure.find("<text class=\"title\" x=\"78\" y=\"18\">" + title) != std::string::npos) {
      return figure;
    }
  }
  return "";
}

// The tooltips of the dots of one CSS class in a figure, in order.
std::vector<std::string> Dots(const std::string& figure, const std::string& cls) {
  std::vector<std::string> out;
  std::regex dot("<circle class=\"" + cls + "\"[^>]*><title>([^<]*)</title>");
  for (std::sregex_iterator it(figure.begin(), figure.end(), dot), end; it != end; ++it) {
    out.push_back((*it)[1]);
  }
  return out;
}

class ComparePageTest : public CompareTest {
 protected:
  // Three tests: PrecopySlo.Busy's downtime 20 % worse in the candidate (a timing regression),
  // QemuSlo.Busy's candidate with 3 of 10 runs unverified (outcome findings, runs left out of the
  // timings), and a test whose name is markup, unchanged. Every run folder has its summary.txt.
  void WriteRegressedCandidate() {
    WriteDowntimes("base", "PrecopySlo.Busy", Sample(60, 4));
    WriteDowntimes("cand", "PrecopySlo.Busy", Sample(72, 4, 10, 3));
    WriteDowntimes("base", "QemuSlo.Busy", Sample(40, 4));
    WriteOutcomes("cand", "QemuSlo.Busy", Sample(40, 4, 10, 3), [](size_t k, json& doc) {
      if (k % 3 == 1) Unverified(doc);  // runs 2, 5, 8
    });
    WriteDowntimes("base", kEvil, Sample(30, 4));
    WriteDowntimes("cand", kEvil, Sample(30, 4, 10, 2));
    for (const auto& e : fs::recursive_directory_iterator(root_)) {
      if (e.path().filename() == "result.json") {
        std::ofstream(e.path().parent_path() / "summary.txt") << "run summary\n";
      }
    }
  }
  static constexpr const char* kEvil = "Evil.<script>alert(1)</script>";
  static constexpr const char* kEvilEscaped = "Evil.&lt;script&gt;alert(1)&lt;/script&gt;";
};

TEST_F(ComparePageTest, VerdictFirstBothSidesARegressionMarkedAndFindingsLinked) {
  WriteRegressedCandidate();
  const fs::path page = root_ / "ab.html";
  Process& text = Compare();
  Process& p = Compare({Dir("base"), Dir("cand"), "--html", page.string()});
  ASSERT_TRUE(text.WaitForExitCode(1, Scaled(30s))) << text.Stdout();
  ASSERT_TRUE(p.WaitForExitCode(1, Scaled(30s))) << p.Stdout() << p.LastLine();
  EXPECT_EQ(p.Stdout(), text.Stdout()) << "--html changes nothing on stdout";
  EXPECT_TRUE(p.Lines(true).empty()) << p.LastLine();
  const std::string html = ReadFile(page);
  ASSERT_FALSE(html.empty()) << page;

  // The verdict first: the text's last line, escaped, before any table or plot.
  const std::string verdict = p.Lines().back();
  ASSERT_THAT(verdict, StartsWith("verdict: REGRESSION: the candidate's outcomes regressed"));
  std::string escaped = verdict;
  for (auto [from, to] : {std::pair{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"'", "&#39;"}}) {
    for (size_t at = 0; (at = escaped.find(from, at)) != std::string::npos; at += strlen(to)) {
      escaped.replace(at, 1, to);
    }
  }
  const auto at = html.find("<p class=\"verdictline\">" + escaped + "</p>");
  ASSERT_NE(at, std::string::npos) << html;
  EXPECT_LT(at, html.find("<table"));
  EXPECT_LT(at, html.find("<svg"));
  EXPECT_LT(at, html.find("class=\"test\""));
  // Its timing regression with metric, change and p, before the tests' sections.
  const auto timing = html.find(
      R"(<tr class="regression"><td>PrecopySlo.Busy</td><td><a href="#t1-m0">downtime [ms]</a>)");
  ASSERT_NE(timing, std::string::npos) << html;
  EXPECT_LT(timing, html.find("class=\"test\""));
  EXPECT_THAT(html.substr(timing, 300), HasSubstr("<td>+20.0%</td><td>0.0001</td>"));

  // Each finding with its candidate run folders, linked relative to the page (it lies in the
  // compared folders' parent) to their summary.txt.
  for (const char* run : {"run-2", "run-5", "run-8"}) {
    EXPECT_THAT(html, HasSubstr(fmt::format(R"(<a href="cand/QemuSlo/Busy/{}/summary.txt">{})", run,
                                            Dir("cand") + "/QemuSlo/Busy/" + run)));
  }
  EXPECT_THAT(html,
              HasSubstr("<b>QemuSlo.Busy</b>: memory not verified in 3 of 10 candidate runs"));
  EXPECT_THAT(html, HasSubstr("<b>QemuSlo.Busy</b>: guest unhealthy in 3 of 10 candidate runs"));
  EXPECT_THAT(html, HasSubstr("BUG: unable to handle page fault"));

  // A plot per compared metric (downtime and total_time of three tests), one of them marked.
  EXPECT_EQ(Occurrences(html, "<figure class=\"metric"), 6u);
  EXPECT_EQ(Occurrences(html, "<svg"), 6u);
  EXPECT_EQ(Occurrences(html, "<figure class=\"metric regression\""), 1u);
  const std::string down = FigureOf(html, "PrecopySlo.Busy", "downtime [ms]");
  ASSERT_FALSE(down.empty()) << html;
  EXPECT_THAT(down, StartsWith("<figure class=\"metric regression\" id=\"t1-m0\">"));
  EXPECT_THAT(down, HasSubstr("REGRESSION: downtime +20.0%, p = 0.0001"));
  EXPECT_THAT(FigureOf(html, "PrecopySlo.Busy", "total_time [ms]"),
              StartsWith("<figure class=\"metric\""));

  // Both sides labelled, each with its own runs: A the baseline's, B the candidate's.
  EXPECT_THAT(down, HasSubstr(">A (baseline): 10 runs</text>"));
  EXPECT_THAT(down, HasSubstr(">B (candidate): 10 runs</text>"));
  EXPECT_THAT(down, HasSubstr("<span class=\"sideA\">A (baseline)</span> 60.0 ± 1.6 (10)"));
  EXPECT_THAT(down, HasSubstr("<span class=\"sideB\">B (candidate)</span> 72.0 ± 1.9 (10)"));
  const auto a = Dots(down, "dotA"), b = Dots(down, "dotB");
  ASSERT_EQ(a.size(), 10u) << down;
  ASSERT_EQ(b.size(), 10u) << down;
  for (const auto& tip : a) EXPECT_THAT(tip, StartsWith("A (baseline) PrecopySlo/Busy/run-"));
  for (const auto& tip : b) EXPECT_THAT(tip, StartsWith("B (candidate) PrecopySlo/Busy/run-"));
  EXPECT_THAT(a, Contains(EndsWith(": 57.6 ms")));  // the baseline's smallest
  EXPECT_THAT(b, Contains(EndsWith(": 74.9 ms")));  // the candidate's largest

  // Runs left out of the timings are drawn apart from the good ones, and counted.
  const std::string qemu = FigureOf(html, "QemuSlo.Busy", "downtime [ms]");
  ASSERT_FALSE(qemu.empty()) << html;
  EXPECT_EQ(Dots(qemu, "dotB").size(), 7u);
  EXPECT_EQ(Dots(qemu, "dotout").size(), 3u);
  EXPECT_THAT(qemu, HasSubstr(">B (candidate): 3 left out of timings</text>"));
  EXPECT_THAT(html, HasSubstr("<td>3 (3 guest unhealthy, 3 memory not verified)</td>"));

  // Every run's summary.txt linked; the hostile name is text; nothing runs.
  EXPECT_EQ(Occurrences(html, "/summary.txt\">"), 60u + 6u) << "60 runs, 6 finding lines";
  EXPECT_THAT(html, HasSubstr(std::string("<h2>") + kEvilEscaped + "</h2>"));
  std::string lower = html;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  EXPECT_EQ(lower.find("<script"), std::string::npos);
  EXPECT_EQ(lower.find("http"), lower.find("http://www.w3.org/2000/svg")) << "no resource";
}

TEST_F(ComparePageTest, OutsideTheComparedFoldersLinksAreFileUrls) {
  WriteRegressedCandidate();
  const fs::path page = ArtifactDir() / "elsewhere" / "ab.html";
  fs::create_directories(page.parent_path());
  Process& p = Compare({Dir("base"), Dir("cand"), "--html", page.string()});
  ASSERT_TRUE(p.WaitForExitCode(1, Scaled(30s))) << p.LastLine();
  const std::string html = ReadFile(page);
  EXPECT_THAT(html, HasSubstr("<a href=\"file://" + fs::canonical(root_).string() +
                              "/cand/QemuSlo/Busy/run-2/summary.txt\">"));
}

TEST_F(ComparePageTest, NoRegressionSaysSoAndMarksNoPlot) {
  WriteDowntimes("base", "PrecopySlo.Busy", Sample(60, 4));
  WriteDowntimes("cand", "PrecopySlo.Busy", Sample(60, 4, 10, 3));
  const fs::path page = root_ / "ab.html";
  Process& p = Compare({Dir("base"), Dir("cand"), "--html", page.string()});
  ASSERT_TRUE(p.WaitForExitCode(0, Scaled(30s))) << p.Stdout() << p.LastLine();
  const std::string html = ReadFile(page);
  EXPECT_THAT(html, HasSubstr("class=\"verdict clean\">\n<h2>Verdict</h2>\n"
                              "<p class=\"verdictline\">verdict: no regression</p>"));
  EXPECT_EQ(Occurrences(html, "<figure class=\"metric\""), 2u);
  EXPECT_EQ(Occurrences(html, "regression\""), 0u);
  // Run folders without a summary.txt link the folder itself.
  EXPECT_THAT(html,
              HasSubstr("<a href=\"cand/PrecopySlo/Busy/run-10\">PrecopySlo/Busy/run-10</a>"));
}

TEST_F(ComparePageTest, APageThatCannotBeWrittenIsExitTwoNamingIt) {
  WriteDowntimes("base", "PrecopySlo.Busy", Sample(60, 4));
  WriteDowntimes("cand", "PrecopySlo.Busy", Sample(60, 4, 10, 3));
  const fs::path page = root_ / "no-such-folder" / "ab.html";
  Process& p = Compare({Dir("base"), Dir("cand"), "--html", page.string()});
  ASSERT_TRUE(p.WaitForExitCode(2, Scaled(30s))) << p.Stdout();
  ASSERT_EQ(p.Lines(true).size(), 1u);
  EXPECT_EQ(p.Lines(true).at(0), "migtest-compare: cannot write the A/B page " + page.string() +
                                     ": No such file or directory");
  EXPECT_EQ(p.Lines().back(), "verdict: no regression") << "the text output is still whole";

  Process& history = Compare({"--history", Dir("base"), Dir("cand"), "--html", page.string()});
  ASSERT_TRUE(history.WaitForExitCode(2, Scaled(30s)));
  EXPECT_THAT(history.LastLine(), HasSubstr("--html draws an A/B comparison"));
}

// ---- Rows that must not complete (the catalogue's cancel/*, negative/*, mismatched TLS)
// ----------

// A run QEMU cancelled or refused, as its test expects: status cancelled, test passed, a blackout
// measured while the source ran on.
void CancelledAsExpected(json& doc) {
  doc["migration"] = {{"status", "cancelled"},
                      {"error", "cancelled at 1.03 s, as the scenario asked"},
                      {"total_time_ms", 1030}};
  doc["probe"] = {{"longest_blackout_ms", 10}};
  doc["verdict"] = {{"outcome", "passed"}, {"failures", json::array()}};
}
// The same row completed by a broken candidate: its own check fails.
void CompletedAgainstItsTest(json& doc) {
  doc["verdict"] = {
      {"outcome", "failed"},
      {"failures",
       {"suites/catalogue_test.cc:212: Value of: run.migration->status\nExpected: cancelled"}}};
}

// Break-it: such a run is "failed" by its status on both sides, so by status alone a candidate
// that completes it (its test then fails) has the baseline's failure count and passes. The test's
// verdict decides instead: a regression at any number of runs, each run named.
TEST_F(CompareTest, AMustNotCompleteRowThatTheCandidateCompletesIsAnOutcomeRegression) {
  const char* test = "Catalogue/CatalogueTest.Row/cancel_active";
  WriteOutcomes("base", test, Sample(60, 4, 5),
                [](size_t, json& doc) { CancelledAsExpected(doc); });
  WriteOutcomes("cand", test, Sample(60, 4, 5, 3),
                [](size_t, json& doc) { CompletedAgainstItsTest(doc); });
  Process& p = Compare();
  ASSERT_TRUE(p.WaitForExitCode(1, Scaled(30s))) << p.Stdout();
  const std::string out = p.Stdout();
  EXPECT_THAT(out, HasSubstr(std::string("REGRESSION ") + test +
                             ": the migration completed and the test failed in 5 of 5 candidate "
                             "runs; in all 5 of the baseline's it did not complete, as its test "
                             "expects"))
      << out;
  EXPECT_THAT(out, HasSubstr("cancel_active/run-3: completed; test failed: 1 failed assertion(s), "
                             "the first: suites/catalogue_test.cc:212: Value of: "
                             "run.migration->status"))
      << out;
  EXPECT_THAT(p.LastLine(), StartsWith("verdict: REGRESSION: the candidate's outcomes regressed"));
  // The outcome table: the baseline's runs are not failures, the candidate's are.
  bool baseline_row = false, candidate_row = false;
  for (const auto& line : p.Lines()) {
    const auto cells = Cells(line);
    if (cells.size() == 9 && cells[0] == test && cells[1] == "baseline") {
      baseline_row = true;
      EXPECT_EQ(cells[4], "0") << line;  // failed runs
      EXPECT_EQ(cells[8], "5 (5 did not complete, as its test expects)") << line;
    }
    if (cells.size() == 8 && cells[0] == "candidate") {
      candidate_row = true;
      EXPECT_EQ(cells[3], "5") << line;  // failed runs
    }
  }
  EXPECT_TRUE(baseline_row && candidate_row) << out;
  // The cancelled runs' figures are never pooled with the completed ones'.
  EXPECT_EQ(Row(p, test, "total_time").at(2), "-") << out;
  EXPECT_EQ(Row(p, test, "downtime").at(2), "-") << out;
  EXPECT_TRUE(Row(p, test, "blackout").empty()) << out;

  // Three runs a side, where Fisher's test could not say p < 0.01 (0.05): still a regression.
  fs::remove_all(root_ / "cand");
  WriteOutcomes("cand", test, Sample(60, 4, 3),
                [](size_t, json& doc) { CompletedAgainstItsTest(doc); });
  Process& few = Compare();
  ASSERT_TRUE(few.WaitForExitCode(1, Scaled(30s))) << few.Stdout();
  EXPECT_THAT(few.Stdout(), HasSubstr("the migration completed and the test failed in 3 of 3"));

  // A candidate that cancelled too but broke the row's own check (the source died after the
  // cancel) failed its test: also an outcome.
  fs::remove_all(root_ / "cand");
  WriteOutcomes("cand", test, Sample(60, 4, 5, 3), [](size_t, json& doc) {
    CancelledAsExpected(doc);
    doc["verdict"] = {{"outcome", "failed"},
                      {"failures", {"suites/catalogue_test.cc:230: the source died"}}};
  });
  Process& died = Compare();
  ASSERT_TRUE(died.WaitForExitCode(1, Scaled(30s))) << died.Stdout();
  EXPECT_THAT(died.Stdout(), HasSubstr("the migration did not complete and the test failed in 5 of "
                                       "5 candidate runs against 0 of 5 in the baseline"));
}

// The same row cancelled on both sides, as its test expects: no failure, no regression, no
// timings; the outcome table and the A/B page say what the runs were, never "ok" completed runs.
TEST_F(CompareTest, AMustNotCompleteRowCancelledOnBothSidesIsNoRegression) {
  const char* test = "Catalogue/CatalogueTest.Row/cancel_active";
  WriteOutcomes("base", test, Sample(60, 4, 5),
                [](size_t, json& doc) { CancelledAsExpected(doc); });
  WriteOutcomes("cand", test, Sample(60, 4, 5, 3),
                [](size_t, json& doc) { CancelledAsExpected(doc); });
  const fs::path page = root_ / "ab.html";
  Process& p = Compare({Dir("base"), Dir("cand"), "--html", page.string()});
  ASSERT_TRUE(p.WaitForExitCode(0, Scaled(30s))) << p.Stdout();
  const std::string out = p.Stdout();
  EXPECT_EQ(p.LastLine(), "verdict: no regression");
  EXPECT_THAT(out, Not(HasSubstr("REGRESSION"))) << out;
  EXPECT_EQ(Occurrences(out, "5 (5 did not complete, as its test expects)"), 2u) << out;
  // No timing row: a cancelled run's 1030 ms are not a total time, its blackout not a good run's.
  EXPECT_TRUE(Row(p, test, "total_time").empty()) << out;
  EXPECT_TRUE(Row(p, test, "blackout").empty()) << out;
  const std::string html = ReadFile(page);
  EXPECT_THAT(html, HasSubstr("<span class=\"expected\">(did not complete, as its test "
                              "expects)</span>"));
  EXPECT_THAT(html, Not(HasSubstr("<span class=\"why\">"))) << "shown as a failure";
  EXPECT_EQ(Occurrences(html, "<figure class=\"metric"), 0u) << "figures drawn for no good run";
}

class CompareHistoryTest : public CompareTest {
 protected:
  // Six nights of five runs each; the newest night's downtime is `last` ms (the others 60 ms).
  std::vector<std::string> Nights(double last) {
    std::vector<std::string> dirs;
    for (int night = 1; night <= 6; ++night) {
      const std::string name = fmt::format("2024-05-0{}", night);
      const double mean = night == 6 ? last : 60 + night % 2;  // a little drift between nights
      WriteDowntimes(name, "PrecopySlo.Busy", Sample(mean, 4, 5, static_cast<size_t>(night)));
      WriteDowntimes(name, "PrecopySlo.Idle", Sample(10, 4, 5, static_cast<size_t>(night)));
      dirs.push_back(Dir(name));
    }
    return dirs;
  }
};

TEST_F(CompareHistoryTest, NewestNightThirtyPercentWorseIsFlagged) {
  std::vector<std::string> args{"--history"};
  for (auto& d : Nights(78)) args.push_back(d);
  Process& p = Compare(args);
  ASSERT_TRUE(p.WaitForExitCode(1, Scaled(30s))) << p.Stdout();
  EXPECT_THAT(p.Stdout(), HasSubstr("the newest night (2024-05-06, 10 runs) against the pooled "
                                    "runs of the previous 5 nights"));
  auto head = Cells(p.Lines().at(2));
  ASSERT_EQ(head.size(), 11u) << p.Stdout();
  EXPECT_EQ(head[2], "2024-05-01");
  EXPECT_EQ(head[7], "2024-05-06");
  auto row = Row(p, "PrecopySlo.Busy", "downtime");
  ASSERT_EQ(row.size(), 11u) << p.Stdout();
  // The trend: each night's mean.
  EXPECT_EQ(std::vector<std::string>(row.begin() + 2, row.begin() + 8),
            (std::vector<std::string>{"61.0", "60.0", "61.0", "60.0", "61.0", "78.0"}));
  EXPECT_EQ(row[8], "+28.7%") << "against the window's mean, 60.6";
  EXPECT_THAT(std::stod(row[9]), Lt(0.01));
  EXPECT_EQ(row[10], "REGRESSION");
  EXPECT_EQ(Row(p, "PrecopySlo.Idle", "downtime").at(10), "no significant change");
  EXPECT_THAT(p.Stdout(), HasSubstr("1 regression, 0 improvements: PrecopySlo.Busy downtime"));
}

TEST_F(CompareHistoryTest, SteadyNightsPassAndTheWindowIsK) {
  std::vector<std::string> args{"--history", "--window", "2"};
  for (auto& d : Nights(60.5)) args.push_back(d);
  Process& p = Compare(args);
  ASSERT_TRUE(p.WaitForExitCode(0, Scaled(30s))) << p.Stdout();
  EXPECT_THAT(p.Stdout(), HasSubstr("the pooled runs of the previous 2 nights"));
  EXPECT_EQ(Row(p, "PrecopySlo.Busy", "downtime").at(10), "no significant change");
}

TEST_F(CompareHistoryTest, TooFewRunsInTheNewestNightIsBadInput) {
  auto dirs = Nights(60);
  WriteDowntimes("2024-05-07", "PrecopySlo.Busy", Sample(60, 4, 1));
  dirs.push_back(Dir("2024-05-07"));
  std::vector<std::string> args{"--history"};
  args.insert(args.end(), dirs.begin(), dirs.end());
  Process& p = Compare(args);
  ASSERT_TRUE(p.WaitForExitCode(2, Scaled(30s)));
  EXPECT_THAT(p.LastLine(), HasSubstr("PrecopySlo.Busy has 1 run in " + Dir("2024-05-07")));
}

}  // namespace
}  // namespace migtest
