// migtest-compare: A/B verdicts on migration figures that survive noisy runners.
//
//   migtest-compare BASELINE_DIR CANDIDATE_DIR [--threshold 5] [--threshold downtime=10]
//                   [--markdown] [--html ab.html]
//   migtest-compare --history NIGHT_DIR... [--window 5] [--threshold ...] [--markdown]
//
// Every result.json and result-*.json under a folder is one run of the test its `test` field
// names (folder layouts differ between tools; repetitions are usually <Test>/run-<k>/result.json).
// Per test and metric it prints mean ± sd (n) of each side, the change of the mean, the p-value of
// a two-sided permutation test on the difference of means (9999 resamples, fixed seed, exact when
// fewer splits exist) and a verdict. As Firecracker's A/B tests: a regression is p < 0.01 and a
// change beyond a noise threshold (default 5 %) in the bad direction; an improvement never fails.
// Run baseline and candidate alternately on the same host so that the host's drift is shared.
//
// History mode (nightly jobs): folders in the order given, oldest first; the trend is each night's
// mean, and the newest night's runs are tested against the pooled runs of the K nights before it.
//
// Outcomes are judged before timings (README, "Outcomes are judged before timings"): per test, a
// candidate run whose memory did not verify, whose guest is unhealthy or which the harness could
// not measure, where no baseline run was, is a regression; so is a migration that did not complete
// where the baseline's all did, more failed tests than the baseline by Fisher's exact test
// (one-sided, p < 0.01), and a figure every baseline run reported that no candidate run has. A run
// with its test's verdict is judged by it: one that did not complete and whose test passed (a row
// QEMU must cancel or refuse) is no failure, one whose test failed is one whatever its status; a
// candidate that completes, against its test, a row every baseline run did not complete as
// expected is a regression.
// Timing statistics use only runs that completed and were measured (a failed SLO counts: it is a
// measurement); the outcome table says how many were left out and why.
//
// --html PAGE also writes the A/B page (tools/compare/ab_page.cc): the same verdict, findings and
// comparisons as the text, drawn per test and metric with every run as a dot. The text output and
// the exit code are as without it; a page that cannot be written is exit 2.
//
// Exit code: 0 no regression, 1 a regression, 2 bad input (one line naming the file or test).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "compare/ab.hpp"
#include "compare/stats.hpp"
#include "migtest/results/json.hpp"
#include "migtest/results/model.hpp"

namespace fs = std::filesystem;
using migtest::internal::MeanSd;
using nlohmann::json;
using namespace migtest::internal::compare;

namespace {

constexpr double kAlpha = 0.01;
constexpr size_t kMinRuns = 3;

// Bad input: the message names the file or the test, on one line.
struct BadInput : std::runtime_error {
  using std::runtime_error::runtime_error;
};

bool IsMetricName(const std::string& name) {
  if (name.rfind("phase:", 0) == 0) return name.size() > 6;
  return std::any_of(KnownMetrics().begin(), KnownMetrics().end(),
                     [&](const auto& m) { return m.first == name; });
}

// Reads the object's `<key>_us` (preferred: microsecond precision) or `<key>_ms`, in ms.
// `where` is the object's path in the document, for the error message.
std::optional<double> Millis(const json& obj, const std::string& key, const fs::path& file,
                             const std::string& where) {
  if (!obj.is_object()) return std::nullopt;
  // Phases of downtime_breakdown are bare {"us", "ms"}: key "".
  for (const auto& [suffix, scale] : {std::pair{"us", 1e-3}, std::pair{"ms", 1.0}}) {
    auto it = obj.find(key.empty() ? std::string(suffix) : key + "_" + suffix);
    if (it == obj.end() || it->is_null()) continue;
    if (!it->is_number()) {
      throw BadInput(fmt::format("{}: {}{} is a {}, not a number", file.string(), where, it.key(),
                                 it->type_name()));
    }
    return it->get<double>() * scale;
  }
  return std::nullopt;
}

std::optional<double> Number(const json& obj, const std::string& key, const fs::path& file,
                             const std::string& where) {
  if (!obj.is_object()) return std::nullopt;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) {
    throw BadInput(
        fmt::format("{}: {}{} is a {}, not a number", file.string(), where, key, it->type_name()));
  }
  return it->get<double>();
}

const json& Array(const json& obj, const std::string& key, const fs::path& file,
                  const std::string& where) {
  static const json empty = json::array();
  if (!obj.is_object()) return empty;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return empty;
  if (!it->is_array()) {
    throw BadInput(
        fmt::format("{}: {}{} is a {}, not an array", file.string(), where, key, it->type_name()));
  }
  return *it;
}

const json& Object(const json& obj, const std::string& key, const fs::path& file) {
  static const json empty = json::object();
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return empty;
  if (!it->is_object()) {
    throw BadInput(
        fmt::format("{}: {} is a {}, not an object", file.string(), key, it->type_name()));
  }
  return *it;
}

// Which figure the judged downtime is, as its result.json key: "guest_pause", ...
const char* KeyOf(migtest::DowntimeSource from) {
  switch (from) {
    case migtest::DowntimeSource::kGuestPause:
      return "guest_pause";
    case migtest::DowntimeSource::kStopResumeGap:
      return "stop_resume_gap";
    case migtest::DowntimeSource::kReported:
      break;
  }
  return "downtime";
}

double MsOf(migtest::Duration d) { return static_cast<double>(d.count()) / 1000.0; }

// A run's figures from result.json's documented keys (a public contract: never renamed), each
// checked here so that a wrong one is named with its path; `result` is the same file decoded.
// The downtime and the worst sync are what migtest::JudgedDowntime and WorstStall say they are,
// as every other printer and matcher reads them.
Run ReadRun(const fs::path& file, const json& j, const migtest::RunResult& result,
            std::vector<std::string>& phases) {
  Run run;
  run.file = file;
  const json& m = Object(j, "migration", file);
  const std::string mw = "migration.";
  for (const char* key : {"guest_pause", "stop_resume_gap", "downtime"}) Millis(m, key, file, mw);
  if (result.migration) {
    if (auto judged = migtest::JudgedDowntimeOf(*result.migration)) {
      run.values["downtime"] = MsOf(judged->value);
      run.downtime_from = KeyOf(judged->from);
    }
  }
  if (auto v = Millis(m, "total_time", file, mw)) run.values["total_time"] = *v;
  const json& iterations = Array(m, "iterations", file, mw);
  if (!iterations.empty()) run.values["iterations"] = static_cast<double>(iterations.size());
  for (size_t i = 0; i < iterations.size(); ++i) {
    Millis(iterations[i], "sync", file, fmt::format("{}iterations[{}].", mw, i));
  }
  const json& stalls = Array(m, "stalls", file, mw);
  for (size_t i = 0; i < stalls.size(); ++i) {
    Millis(stalls[i], "duration", file, fmt::format("{}stalls[{}].", mw, i));
  }
  if (result.migration) {
    if (auto worst = migtest::WorstStall(*result.migration)) {
      run.values["worst_sync"] = MsOf(worst->duration);
    }
  }
  if (auto it = m.find("postcopy_latency_us"); it != m.end() && it->is_object()) {
    const std::string w = mw + "postcopy_latency_us.";
    if (auto v = Number(*it, "p50", file, w)) run.values["postcopy_p50"] = *v;
    if (auto v = Number(*it, "p99", file, w)) run.values["postcopy_p99"] = *v;
  }
  if (auto v = Millis(Object(j, "probe", file), "longest_blackout", file, "probe.")) {
    run.values["blackout"] = *v;
  }
  const json& bandwidth = Array(m, "bandwidth_mib_s", file, mw);
  if (!bandwidth.empty()) {
    double sum = 0;
    for (size_t i = 0; i < bandwidth.size(); ++i) {
      if (!bandwidth[i].is_number()) {
        throw BadInput(fmt::format("{}: {}bandwidth_mib_s[{}] is a {}, not a number", file.string(),
                                   mw, i, bandwidth[i].type_name()));
      }
      sum += bandwidth[i].get<double>();
    }
    run.values["bandwidth"] = sum / static_cast<double>(bandwidth.size());
  }
  const json& breakdown = Array(m, "downtime_breakdown", file, mw);
  for (size_t i = 0; i < breakdown.size(); ++i) {
    const json& phase = breakdown[i];
    const std::string w = fmt::format("{}downtime_breakdown[{}].", mw, i);
    auto name = phase.is_object() ? phase.find("phase") : phase.end();
    if (!phase.is_object() || name == phase.end() || !name->is_string()) {
      throw BadInput(fmt::format("{}: {}phase is missing or not a string", file.string(), w));
    }
    auto v = Millis(phase, "", file, w);
    if (!v) continue;
    const std::string metric = "phase:" + name->get<std::string>();
    run.values[metric] += *v;  // a phase named twice in one run: its total
    if (std::find(phases.begin(), phases.end(), metric) == phases.end()) phases.push_back(metric);
  }
  return run;
}

Side Load(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw BadInput(fmt::format("{}: not a directory", dir.string()));
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    const std::string name = it->path().filename().string();
    if (name == "result.json" ||
        (name.rfind("result-", 0) == 0 && it->path().extension() == ".json")) {
      files.push_back(it->path());
    }
  }
  if (ec) throw BadInput(fmt::format("{}: {}", dir.string(), ec.message()));
  if (files.empty()) {
    throw BadInput(fmt::format("{}: no result.json or result-*.json files under it", dir.string()));
  }
  std::sort(files.begin(), files.end());
  Side side;
  side.dir = dir;
  for (const auto& file : files) {
    std::ifstream in(file);
    if (!in) throw BadInput(fmt::format("{}: cannot be read", file.string()));
    json j;
    try {
      j = json::parse(in);
    } catch (const json::exception& e) {
      throw BadInput(fmt::format("{}: not JSON: {}", file.string(), e.what()));
    }
    if (!j.is_object()) {
      throw BadInput(
          fmt::format("{}: a result.json is an object, not {}", file.string(), j.type_name()));
    }
    auto test = j.find("test");
    if (test == j.end() || !test->is_string() || test->get<std::string>().empty()) {
      throw BadInput(
          fmt::format("{}: no \"test\" field naming the test it is a run of", file.string()));
    }
    migtest::RunResult result;
    try {
      result = j.get<migtest::RunResult>();
    } catch (const json::exception& e) {
      // A wrong figure among the keys compared is named with its path; anything else as the
      // decoder says.
      std::vector<std::string> unused;
      ReadRun(file, j, {}, unused);
      throw BadInput(fmt::format("{}: not a migtest result: {}", file.string(), e.what()));
    }
    Run run = ReadRun(file, j, result, side.phases);
    run.problems = migtest::ProblemsOf(result);
    run.timings = migtest::TimingsCount(run.problems);
    if (result.verdict && result.verdict->outcome != migtest::TestVerdict::Outcome::kSkipped) {
      run.verdict = result.verdict->outcome;
    }
    side.tests[test->get<std::string>()].push_back(std::move(run));
    ++side.runs;
  }
  return side;
}

// Noise thresholds in percent: a global one, and per metric ("downtime=10").
struct Thresholds {
  double global = 5;
  std::map<std::string, double> per_metric;
  double For(const std::string& metric) const {
    auto it = per_metric.find(metric);
    return it == per_metric.end() ? global : it->second;
  }
};

double ParsePercent(const std::string& text, const std::string& arg) {
  std::string t = text;
  if (!t.empty() && t.back() == '%') t.pop_back();
  double v = 0;
  auto [end, err] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || err != std::errc() || end != t.data() + t.size() || !(v >= 0)) {
    throw BadInput(fmt::format("--threshold {}: '{}' is not a percentage", arg, text));
  }
  return v;
}

Thresholds ParseThresholds(const std::vector<std::string>& args) {
  Thresholds t;
  for (const auto& arg : args) {
    auto eq = arg.find('=');
    if (eq == std::string::npos) {
      t.global = ParsePercent(arg, arg);
      continue;
    }
    std::string metric = arg.substr(0, eq);
    if (!IsMetricName(metric)) {
      std::string known;
      for (const auto& [name, info] : KnownMetrics()) known += name + ", ";
      throw BadInput(fmt::format("--threshold {}: unknown metric '{}' (known: {}phase:<name>)", arg,
                                 metric, known));
    }
    t.per_metric[metric] = ParsePercent(arg.substr(eq + 1), arg);
  }
  return t;
}

void Decide(Comparison& c, const Thresholds& thresholds, const std::string& a_name,
            const std::string& b_name) {
  c.sa = migtest::internal::Summarize(c.a);
  c.sb = migtest::internal::Summarize(c.b);
  if (c.a.empty() || c.b.empty()) {
    c.text = c.a.empty() && c.b.empty() ? "absent"
             : c.a.empty()              ? "absent in " + a_name
                                        : "absent in " + b_name;
    return;
  }
  if (c.a.size() < kMinRuns || c.b.size() < kMinRuns) {
    c.text = fmt::format("too few values ({} + {})", c.a.size(), c.b.size());
    return;
  }
  if (c.sa.mean != 0) {
    c.change = (c.sb.mean - c.sa.mean) / std::abs(c.sa.mean) * 100;
    // The same values summed in another order: no change, not "-0.0%".
    if (std::abs(*c.change) < 1e-9) c.change = 0.0;
  } else {
    c.change = c.sb.mean == 0 ? 0.0 : std::copysign(INFINITY, c.sb.mean);
  }
  c.p = migtest::internal::PermutationTest(c.a, c.b).p;
  const double threshold = thresholds.For(c.metric);
  const bool worse = InfoOf(c.metric).higher_is_better ? *c.change < 0 : *c.change > 0;
  if (*c.p >= kAlpha) {
    c.verdict = Verdict::kNotSignificant;
    c.text = "no significant change";
  } else if (std::abs(*c.change) <= threshold) {
    c.verdict = Verdict::kBelowThreshold;
    c.text = fmt::format("within {:g}% threshold", threshold);
  } else if (const MetricInfo info = InfoOf(c.metric);
             std::abs(c.sb.mean - c.sa.mean) < info.floor) {
    // A large percentage of a tiny figure: shown as what it is, not judged.
    c.verdict = Verdict::kBelowThreshold;
    const std::string unit = info.unit.empty() ? "" : " " + info.unit;
    c.text = fmt::format("{:+.2f}{}: below the {:g}{} that is judged", c.sb.mean - c.sa.mean, unit,
                         info.floor, unit);
  } else if (worse) {
    c.verdict = Verdict::kRegression;
    c.text = "REGRESSION";
  } else {
    c.verdict = Verdict::kImprovement;
    c.text = "improvement";
  }
}

// "1 test", "2 tests".
std::string Count(size_t n, std::string_view noun) {
  return fmt::format("{} {}{}", n, noun, n == 1 ? "" : "s");
}

// An aligned text table (first two columns left-aligned), or Markdown.
void PrintTable(const std::vector<std::string>& head,
                const std::vector<std::vector<std::string>>& rows, bool markdown) {
  if (markdown) {
    auto escape = [](std::string s) {
      for (size_t i = 0; (i = s.find('|', i)) != std::string::npos; i += 2) s.insert(i, "\\");
      return s;
    };
    std::string line = "|", rule = "|";
    for (size_t i = 0; i < head.size(); ++i) {
      line += " " + head[i] + " |";
      rule += i < 2 || i + 1 == head.size() ? "---|" : "---:|";
    }
    std::cout << line << "\n" << rule << "\n";
    for (const auto& r : rows) {
      line = "|";
      for (const auto& c : r) line += " " + escape(c) + " |";
      std::cout << line << "\n";
    }
    return;
  }
  // Column widths in code points, so that "±" counts once.
  auto width = [](const std::string& s) {
    return static_cast<size_t>(
        std::count_if(s.begin(), s.end(), [](char ch) { return (ch & 0xC0) != 0x80; }));
  };
  std::vector<size_t> w(head.size());
  for (size_t i = 0; i < head.size(); ++i) w[i] = width(head[i]);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], width(r[i]));
  }
  auto print = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
      const std::string pad(w[i] - width(cells[i]), ' ');
      if (i > 0) line += "  ";
      const bool left = i < 2 || i + 1 == cells.size();
      line += left ? cells[i] + (i + 1 == cells.size() ? "" : pad) : pad + cells[i];
    }
    std::cout << line << "\n";
  };
  print(head);
  size_t total = 0;
  for (size_t x : w) total += x + 2;
  std::cout << std::string(total - 2, '-') << "\n";
  for (const auto& r : rows) print(r);
}

std::vector<std::string> MetricsOf(const std::vector<const Side*>& sides) {
  std::vector<std::string> metrics;
  for (const auto& [name, info] : KnownMetrics()) metrics.push_back(name);
  for (const Side* s : sides) {
    for (const auto& phase : s->phases) {
      if (std::find(metrics.begin(), metrics.end(), phase) == metrics.end()) {
        metrics.push_back(phase);
      }
    }
  }
  return metrics;
}

// The metric's values over the runs whose timings count: a failed, cancelled, unverified or
// unhealthy run is never averaged with good ones.
std::vector<double> Values(const std::vector<Run>& runs, const std::string& metric) {
  std::vector<double> v;
  for (const auto& r : runs) {
    if (!r.timings) continue;
    if (auto it = r.values.find(metric); it != r.values.end()) v.push_back(it->second);
  }
  return v;
}

std::set<std::string> DowntimeSources(const std::vector<Run>& runs) {
  std::set<std::string> s;
  for (const auto& r : runs) {
    if (r.timings && !r.downtime_from.empty()) s.insert(r.downtime_from);
  }
  return s;
}

std::string Join(const std::set<std::string>& s) {
  std::string out;
  for (const auto& x : s) out += (out.empty() ? "" : "+") + x;
  return out;
}

std::string RegressionList(const std::vector<Comparison>& cs) {
  std::string out;
  for (const auto& c : cs) {
    if (c.verdict != Verdict::kRegression) continue;
    out += fmt::format("{}{} {} {} (p={})", out.empty() ? "" : ", ", c.test, c.metric,
                       ChangeCell(c.change), PCell(c.p));
  }
  return out;
}

// Lines printed under the table: why a verdict cannot be reached, what was compared with what.
void PrintNotes(const std::vector<std::string>& notes, bool markdown) {
  for (const auto& n : notes) std::cout << (markdown ? "\n> " : "note: ") << n << "\n";
}

void PowerNote(std::vector<std::string>& notes, const std::string& test, size_t n, size_t m) {
  const double smallest = migtest::internal::SmallestP(n, m);
  if (smallest >= kAlpha) {
    notes.push_back(fmt::format(
        "{} has {} + {} runs: the smallest p a permutation test can give is {:.3f}, so no "
        "verdict at p < {:g} is possible (5 runs a side are enough)",
        test, n, m, smallest, kAlpha));
  }
}

// ---- Outcomes, judged before any timing ----------------------------------------------------

size_t CountIf(const std::vector<Run>& runs, const std::function<bool(const Run&)>& pred) {
  return static_cast<size_t>(std::count_if(runs.begin(), runs.end(), pred));
}

// "<kind>: <why>" of the run's first problem of one of `kinds`.
std::string WhyOf(const Run& r, std::initializer_list<migtest::RunProblem::Kind> kinds) {
  for (const auto& p : r.problems) {
    if (std::find(kinds.begin(), kinds.end(), p.kind) != kinds.end()) {
      return r.Label(p) + ": " + p.why;
    }
  }
  return "";
}

// A broken guest, unverified memory or a run the harness could not measure: one such candidate
// run where the baseline had none is a regression, whatever the timings (never noise).
void BrokenRuns(const std::string& test, const std::vector<Run>& base, const std::vector<Run>& cand,
                const std::string& base_name, std::vector<OutcomeFinding>& out) {
  using K = migtest::RunProblem::Kind;
  for (K kind : {K::kUnverified, K::kGuestUnhealthy, K::kHarness}) {
    auto has = [&](const Run& r) { return r.Has(kind); };
    const size_t in_cand = CountIf(cand, has);
    if (in_cand == 0 || CountIf(base, has) > 0) continue;
    OutcomeFinding f{
        test,
        fmt::format("{} in {} of {} candidate runs, in none of the {}'s {}",
                    migtest::ToString(kind), in_cand, cand.size(), base_name, base.size()),
        {}};
    for (const Run& r : cand) {
      if (has(r)) f.runs.push_back({r.Folder(), WhyOf(r, {kind})});
    }
    out.push_back(std::move(f));
  }
}

// A test whose migration must not complete (a catalogue row QEMU must cancel or refuse: every
// baseline run did not complete, as its test expects) whose candidate runs completed and failed
// their test: the outcome changed, at any number of runs, as a migration that stopped completing
// is. Such a run is failed on both sides by status alone, so only the verdicts tell it.
bool CompletedAgainstItsTest(const std::string& test, const std::vector<Run>& base,
                             const std::vector<Run>& cand, const std::string& base_name,
                             std::vector<OutcomeFinding>& out) {
  using K = migtest::RunProblem::Kind;
  if (base.empty() || !std::all_of(base.begin(), base.end(),
                                   [](const Run& r) { return r.ExpectedNotCompleted(); })) {
    return false;
  }
  auto completed_and_failed = [](const Run& r) {
    return r.Failed() && !r.Has(K::kNotCompleted) && !r.Has(K::kHarness);
  };
  const size_t n = CountIf(cand, completed_and_failed);
  if (n == 0) return false;
  OutcomeFinding f{
      test,
      fmt::format("the migration completed and the test failed in {} of {} candidate runs; in all "
                  "{} of the {}'s it did not complete, as its test expects",
                  n, cand.size(), base.size(), base_name),
      {}};
  for (const Run& r : cand) {
    if (!completed_and_failed(r)) continue;
    const std::string why = WhyOf(r, {K::kTestFailed});
    f.runs.push_back({r.Folder(), "completed; " + (why.empty() ? "test failed" : why)});
  }
  out.push_back(std::move(f));
  return true;
}

// More failures than the baseline, in two kinds:
//  - migrations that did not complete (or that the harness could not measure) and were not
//    expected to: one where the baseline had none is a regression at any number of runs. A
//    migration that fails is an outcome, not noise, and each names its run (5 of 20 against 0 of
//    20 is Fisher's p = 0.024, which p < 0.01 alone would let through);
//  - failed tests (by their verdict when they have one: a run that did not complete as its test
//    expects is not one): for migrations that completed, verified and kept a healthy guest, an SLO
//    missed is a timing, and timings are noisy, so Fisher's exact test decides (one-sided,
//    p < 0.01), as the permutation tests decide the timings themselves.
// Where the baseline fails too (a flaky test), Fisher's test decides both kinds. A
// must-not-complete test that the candidate completed is CompletedAgainstItsTest's.
void FailureRate(const std::string& test, const std::vector<Run>& base,
                 const std::vector<Run>& cand, const std::string& base_name,
                 std::vector<OutcomeFinding>& out) {
  using K = migtest::RunProblem::Kind;
  if (CompletedAgainstItsTest(test, base, cand, base_name, out)) return;
  struct Rule {
    const char* what;
    std::function<bool(const Run&)> counts;
    bool any_new_failure;  // one where the baseline had none is a regression
  };
  // Where the baseline's runs did not complete as their test expects, the candidate's that did
  // not complete failed their test: said so, since "0 in the baseline" counts only failures.
  const bool expected_in_base =
      std::any_of(base.begin(), base.end(), [](const Run& r) { return r.ExpectedNotCompleted(); });
  const Rule rules[] = {
      {expected_in_base ? "the migration did not complete and the test failed"
                        : "the migration did not complete",
       [](const Run& r) { return r.FailedToComplete(); }, true},
      {"the test failed", [](const Run& r) { return r.Failed(); }, false},
  };
  for (const Rule& rule : rules) {
    const size_t fa = CountIf(base, rule.counts), fb = CountIf(cand, rule.counts);
    if (fb == 0) continue;
    const double p = migtest::internal::FisherGreater(fa, base.size(), fb, cand.size());
    std::string why;
    if (fa == 0 && rule.any_new_failure) {
      why = fmt::format("the {} never failed so; Fisher's exact test p = {:.2g}", base_name, p);
    } else if (p < kAlpha) {
      why = fmt::format("Fisher's exact test p = {:.2g}", p);
    } else {
      continue;
    }
    OutcomeFinding f{test,
                     fmt::format("{} in {} of {} candidate runs against {} of {} in the {} ({})",
                                 rule.what, fb, cand.size(), fa, base.size(), base_name, why),
                     {}};
    for (const Run& r : cand) {
      if (!rule.counts(r)) continue;
      f.runs.push_back({r.Folder(), WhyOf(r, {K::kHarness, K::kNotCompleted, K::kTestFailed})});
    }
    out.push_back(std::move(f));
    return;  // the first kind that fires says it; the second would repeat its runs
  }
}

// A figure every baseline run reported and no good candidate run has: the candidate no longer
// reports it (a lost trace point, a VMM that stopped saying its downtime).
void LostFigures(const std::string& test, const std::vector<Run>& base,
                 const std::vector<Run>& cand, const std::vector<std::string>& metrics,
                 std::vector<OutcomeFinding>& out) {
  std::vector<const Run*> good_base, good_cand;
  for (const Run& r : base)
    if (r.timings) good_base.push_back(&r);
  for (const Run& r : cand)
    if (r.timings) good_cand.push_back(&r);
  if (good_base.empty() || good_cand.empty()) return;
  auto reports = [](const Run* r, const std::string& metric) { return r->values.contains(metric); };
  std::vector<std::string> names = metrics;
  for (const char* key : {"guest_pause", "stop_resume_gap"}) names.push_back(key);
  for (const auto& metric : names) {
    // guest_pause and stop_resume_gap: which measurement the downtime came from.
    auto has = [&](const Run* r) {
      return metric == "guest_pause" || metric == "stop_resume_gap" ? r->downtime_from == metric
                                                                    : reports(r, metric);
    };
    if (!std::all_of(good_base.begin(), good_base.end(), has)) continue;
    OutcomeFinding f{test, "", {}};
    for (const Run* r : good_cand) {
      if (!has(r)) f.runs.push_back({r->Folder(), "no " + metric});
    }
    // Whether one run has a figure can depend on the run (bandwidth is sampled once a second: a
    // short migration has none), so the candidate must have lost it in every completed run.
    if (f.runs.size() < good_cand.size()) continue;
    f.what = fmt::format(
        "the candidate no longer reports {} ({} of {} completed runs lack it; "
        "every baseline run had it)",
        metric, f.runs.size(), good_cand.size());
    out.push_back(std::move(f));
  }
}

std::vector<OutcomeFinding> JudgeOutcomes(const std::string& test, const std::vector<Run>& base,
                                          const std::vector<Run>& cand,
                                          const std::vector<std::string>& metrics,
                                          const std::string& base_name) {
  std::vector<OutcomeFinding> out;
  BrokenRuns(test, base, cand, base_name, out);
  FailureRate(test, base, cand, base_name, out);
  LostFigures(test, base, cand, metrics, out);
  return out;
}

std::vector<std::string> OutcomeRow(const std::string& test, const std::string& side,
                                    const std::vector<Run>& runs) {
  using K = migtest::RunProblem::Kind;
  auto count = [&](K k) {
    return std::to_string(CountIf(runs, [&](const Run& r) { return r.Has(k); }));
  };
  return {test,
          side,
          std::to_string(runs.size()),
          count(K::kTestFailed),
          std::to_string(CountIf(runs, [](const Run& r) { return r.Failed(); })),
          count(K::kUnverified),
          count(K::kGuestUnhealthy),
          count(K::kHarness),
          LeftOut(runs)};
}

void PrintFindings(const std::vector<OutcomeFinding>& findings, bool markdown) {
  if (findings.empty()) return;
  std::cout << (markdown ? "\n**outcome regressions** (judged before timings):\n\n"
                         : "\noutcome regressions (judged before timings):\n");
  for (const auto& f : findings) {
    std::cout << fmt::format("{}REGRESSION {}: {}\n", markdown ? "- **" : "  ",
                             f.test + (markdown ? "**" : ""), f.what);
    for (const auto& r : f.runs) {
      std::cout << (markdown ? "  - `" : "      ") << r.folder.string() << ": " << r.why
                << (markdown ? "`" : "") << "\n";
    }
  }
}

std::string FindingList(const std::vector<OutcomeFinding>& findings) {
  std::vector<std::string> parts;
  for (const auto& f : findings) parts.push_back(f.test + " " + f.what);
  return fmt::format("{}", fmt::join(parts, "; "));
}

// The last line: the gate's answer, outcomes first.
std::string VerdictLine(const std::vector<OutcomeFinding>& findings, size_t timing_regressions,
                        const std::string& timing_list) {
  if (findings.empty() && timing_regressions == 0) return "verdict: no regression";
  std::vector<std::string> parts;
  if (!findings.empty()) {
    parts.push_back(fmt::format("the candidate's outcomes regressed ({}): {}",
                                Count(findings.size(), "finding"), FindingList(findings)));
  }
  if (timing_regressions > 0) {
    parts.push_back(
        fmt::format("{} in timings: {}", Count(timing_regressions, "regression"), timing_list));
  }
  return fmt::format("verdict: REGRESSION: {}", fmt::join(parts, "; "));
}

void PrintVerdict(const std::string& line, bool markdown) {
  std::cout << (markdown ? "\n**" + line + "**\n" : line + "\n");
}

// Both sides judged: outcomes per test, then timings per test and metric.
Ab ComputeAb(const fs::path& baseline_dir, const fs::path& candidate_dir,
             const Thresholds& thresholds) {
  Ab ab;
  ab.base = Load(baseline_dir);
  ab.cand = Load(candidate_dir);
  const Side& base = ab.base;
  const Side& cand = ab.cand;
  std::vector<std::string> only_base, only_cand;
  for (const auto& [t, runs] : base.tests) {
    if (!cand.tests.contains(t)) only_base.push_back(t);
  }
  for (const auto& [t, runs] : cand.tests) {
    if (!base.tests.contains(t)) only_cand.push_back(t);
  }
  if (!only_base.empty() || !only_cand.empty()) {
    std::string msg = "different tests on the two sides:";
    if (!only_base.empty()) {
      msg += fmt::format(" only in {}: {}", baseline_dir.string(), fmt::join(only_base, ", "));
    }
    if (!only_cand.empty()) {
      msg += fmt::format("{} only in {}: {}", only_base.empty() ? "" : ";", candidate_dir.string(),
                         fmt::join(only_cand, ", "));
    }
    throw BadInput(msg);
  }
  for (const Side* s : {&base, &cand}) {
    for (const auto& [t, runs] : s->tests) {
      if (runs.size() < kMinRuns) {
        throw BadInput(fmt::format("{} has {} run{} in {} (at least {} a side are needed)", t,
                                   runs.size(), runs.size() == 1 ? "" : "s", s->dir.string(),
                                   kMinRuns));
      }
    }
  }
  const auto metrics = MetricsOf({&base, &cand});
  for (const auto& [test, base_runs] : base.tests) {
    const auto& cand_runs = cand.tests.at(test);
    ab.outcome_rows.push_back(OutcomeRow(test, "baseline", base_runs));
    ab.outcome_rows.push_back(OutcomeRow("", "candidate", cand_runs));
    for (auto& f : JudgeOutcomes(test, base_runs, cand_runs, metrics, "baseline")) {
      ab.findings.push_back(std::move(f));
    }
    PowerNote(ab.notes, test, base_runs.size(), cand_runs.size());
    const auto from_a = DowntimeSources(base_runs), from_b = DowntimeSources(cand_runs);
    const bool mixed = from_a.size() > 1 || from_b.size() > 1 ||
                       (from_a != from_b && !from_a.empty() && !from_b.empty());
    if (mixed) {
      ab.notes.push_back(fmt::format(
          "{}: downtime is {} in the baseline and {} in the candidate (not the same measurement)",
          test, Join(from_a), Join(from_b)));
    }
    for (const auto& metric : metrics) {
      Comparison c;
      c.test = test;
      c.metric = metric;
      c.a = Values(base_runs, metric);
      c.b = Values(cand_runs, metric);
      if (c.a.empty() && c.b.empty()) continue;
      Decide(c, thresholds, "baseline", "candidate");
      if (metric == "downtime" && mixed && c.verdict != Verdict::kNoData) {
        // Two measurements are not one figure's change: said in the verdict, judged by neither.
        c.verdict = Verdict::kNotComparable;
        c.text = fmt::format("not comparable: {} vs {}", Join(from_a), Join(from_b));
      }
      ab.regressions += c.verdict == Verdict::kRegression;
      ab.improvements += c.verdict == Verdict::kImprovement;
      ab.comparisons.push_back(std::move(c));
    }
  }
  ab.rule = fmt::format(
      "outcomes first (a broken guest, unverified memory, an unmeasured run or more failures than "
      "the baseline is a regression); then timings: regression = p < {:g} and a change beyond the "
      "noise threshold ({:g}% unless set per metric) in the bad direction",
      kAlpha, thresholds.global);
  ab.verdict = VerdictLine(ab.findings, ab.regressions, RegressionList(ab.comparisons));
  return ab;
}

// The text (or Markdown) answer: outcome table, findings, timing table, notes, verdict line.
void PrintAb(const Ab& ab, bool markdown) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : ab.comparisons) {
    std::string verdict = markdown && c.verdict == Verdict::kRegression ? "**REGRESSION**" : c.text;
    rows.push_back({c.test, MetricCell(c.metric), MeanCell(c.sa, c.sb), MeanCell(c.sb, c.sa),
                    ChangeCell(c.change), PCell(c.p), verdict});
  }
  if (markdown) {
    std::cout << fmt::format(
        "**migtest-compare**: baseline `{}` ({} runs) vs candidate `{}` ({} "
        "runs); {}\n\n",
        ab.base.dir.string(), ab.base.runs, ab.cand.dir.string(), ab.cand.runs, ab.rule);
  } else {
    std::cout << fmt::format("baseline  {} ({} runs)\ncandidate {} ({} runs)\n{}\n\n",
                             ab.base.dir.string(), ab.base.runs, ab.cand.dir.string(), ab.cand.runs,
                             ab.rule);
  }
  std::cout << (markdown ? "**outcomes** (judged before timings)\n\n"
                         : "outcomes (judged before timings)\n");
  PrintTable(OutcomeHead(), ab.outcome_rows, markdown);
  PrintFindings(ab.findings, markdown);
  std::cout << (markdown ? "\n**timings** (completed, measured runs only)\n\n"
                         : "\ntimings (completed, measured runs only)\n");
  PrintTable({"test", "metric", "baseline mean ± sd (n)", "candidate mean ± sd (n)", "change", "p",
              "verdict"},
             rows, markdown);
  std::cout << fmt::format(
      "\n{}{}, {}: {}, {}{}\n", markdown ? "\n" : "", Count(ab.base.tests.size(), "test"),
      Count(ab.comparisons.size(), "comparison"), Count(ab.regressions, "regression"),
      Count(ab.improvements, "improvement"),
      ab.regressions ? ": " + RegressionList(ab.comparisons) : "");
  PrintNotes(ab.notes, markdown);
  PrintVerdict(ab.verdict, markdown);
}

// The page beside the text: written after it, so that a page that cannot be written still leaves
// the verdict on stdout; exit 2 then, naming the file and why.
void WritePage(const Ab& ab, const fs::path& page) {
  const std::string html = AbPage(ab, page);
  errno = 0;
  std::ofstream out(page, std::ios::binary | std::ios::trunc);
  if (out) out << html;
  if (out) out.close();
  if (!out) {
    throw std::runtime_error(fmt::format("cannot write the A/B page {}: {}", page.string(),
                                         errno ? std::strerror(errno) : "write failed"));
  }
}

int Compare(const fs::path& baseline_dir, const fs::path& candidate_dir,
            const Thresholds& thresholds, bool markdown, const fs::path& html) {
  const Ab ab = ComputeAb(baseline_dir, candidate_dir, thresholds);
  PrintAb(ab, markdown);
  if (!html.empty()) WritePage(ab, html);
  return ab.Regressed() ? 1 : 0;
}

int History(const std::vector<fs::path>& dirs, size_t window, const Thresholds& thresholds,
            bool markdown) {
  if (dirs.size() < 2) {
    throw BadInput("--history needs at least two result folders (oldest first)");
  }
  std::vector<Side> nights;
  for (const auto& d : dirs) nights.push_back(Load(d));
  // Dated folders: their names are the column heads unless two share a name.
  std::vector<std::string> names;
  for (const auto& d : dirs) {
    fs::path p = d;
    if (!p.has_filename()) p = p.parent_path();
    names.push_back(p.filename().string());
  }
  if (std::set<std::string>(names.begin(), names.end()).size() != names.size()) {
    names.clear();
    for (const auto& d : dirs) names.push_back(d.string());
  }
  const Side& newest = nights.back();
  const size_t first = nights.size() - 1 > window ? nights.size() - 1 - window : 0;
  std::vector<const Side*> all;
  for (const auto& n : nights) all.push_back(&n);
  const auto metrics = MetricsOf(all);
  std::vector<std::string> notes;
  for (const auto& [test, runs] : newest.tests) {
    if (runs.size() < kMinRuns) {
      throw BadInput(
          fmt::format("{} has {} run{} in {} (at least {} are needed in the newest night)", test,
                      runs.size(), runs.size() == 1 ? "" : "s", newest.dir.string(), kMinRuns));
    }
  }
  // Tests gone from the newest night are said, not failed: suites change between nights.
  std::set<std::string> gone;
  for (size_t i = first; i + 1 < nights.size(); ++i) {
    for (const auto& [test, runs] : nights[i].tests) {
      if (!newest.tests.contains(test)) gone.insert(test);
    }
  }
  for (const auto& t : gone) {
    notes.push_back(fmt::format("{} ran in the window but not in the newest night", t));
  }
  std::vector<Comparison> comparisons;
  std::vector<OutcomeFinding> findings;
  std::vector<std::vector<std::string>> rows;
  const std::string window_name = fmt::format("previous {} night{}", nights.size() - 1 - first,
                                              nights.size() - 1 - first == 1 ? "" : "s");
  for (const auto& [test, newest_runs] : newest.tests) {
    std::vector<Run> window_runs;
    for (size_t i = first; i + 1 < nights.size(); ++i) {
      if (auto it = nights[i].tests.find(test); it != nights[i].tests.end()) {
        window_runs.insert(window_runs.end(), it->second.begin(), it->second.end());
      }
    }
    if (window_runs.empty()) {
      notes.push_back(fmt::format("{} is new: no run in the {}", test, window_name));
    } else {
      PowerNote(notes, test, window_runs.size(), newest_runs.size());
      for (auto& f : JudgeOutcomes(test, window_runs, newest_runs, metrics, window_name)) {
        findings.push_back(std::move(f));
      }
    }
    for (const auto& metric : metrics) {
      std::vector<std::string> row{test, MetricCell(metric)};
      bool any = false;
      for (const auto& night : nights) {
        auto it = night.tests.find(test);
        auto v = it == night.tests.end() ? std::vector<double>{} : Values(it->second, metric);
        if (v.empty()) {
          row.push_back("-");
          continue;
        }
        any = true;
        const double mean = migtest::internal::Summarize(v).mean;
        row.push_back(Num(mean, Digits(mean)));
      }
      if (!any) continue;
      Comparison c;
      c.test = test;
      c.metric = metric;
      c.a = Values(window_runs, metric);
      c.b = Values(newest_runs, metric);
      if (window_runs.empty()) {
        c.text = "new test";
      } else {
        Decide(c, thresholds, "window", "newest night");
      }
      row.push_back(ChangeCell(c.change));
      row.push_back(PCell(c.p));
      row.push_back(markdown && c.verdict == Verdict::kRegression ? "**REGRESSION**" : c.text);
      rows.push_back(std::move(row));
      comparisons.push_back(std::move(c));
    }
  }
  std::vector<std::string> head{"test", "metric"};
  head.insert(head.end(), names.begin(), names.end());
  for (const char* h : {"change", "p", "verdict"}) head.push_back(h);
  const std::string intro = fmt::format(
      "mean per night, oldest first; the newest night ({}, {} runs) against the pooled runs of the "
      "{}; regression = p < {:g} and a change beyond the noise threshold ({:g}% unless set per "
      "metric) in the bad direction",
      names.back(), newest.runs, window_name, kAlpha, thresholds.global);
  std::cout << (markdown ? "**migtest-compare --history**: " + intro + "\n\n" : intro + "\n\n");
  PrintTable(head, rows, markdown);
  size_t regressions = 0, improvements = 0;
  for (const auto& c : comparisons) {
    regressions += c.verdict == Verdict::kRegression;
    improvements += c.verdict == Verdict::kImprovement;
  }
  std::cout << fmt::format("\n{}{} in the newest night: {}, {}{}\n", markdown ? "\n" : "",
                           Count(newest.tests.size(), "test"), Count(regressions, "regression"),
                           Count(improvements, "improvement"),
                           regressions ? ": " + RegressionList(comparisons) : "");
  PrintFindings(findings, markdown);
  PrintNotes(notes, markdown);
  PrintVerdict(VerdictLine(findings, regressions, RegressionList(comparisons)), markdown);
  return regressions > 0 || !findings.empty() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "migtest-compare: A/B verdicts on migration metrics from result.json files (permutation "
      "test, p < 0.01 and a noise threshold). Exit 1 on a regression, 2 on bad input."};
  std::vector<fs::path> dirs;
  std::vector<std::string> threshold_args;
  bool markdown = false, history = false;
  size_t window = 5;
  fs::path html;
  app.add_option("DIRS", dirs,
                 "BASELINE_DIR CANDIDATE_DIR, or with --history the nightly folders, oldest first")
      ->required();
  app.add_option("--threshold", threshold_args,
                 "noise threshold in percent, globally (--threshold 5, the default) or per metric "
                 "(--threshold downtime=10, --threshold phase:destination-load=20); repeatable");
  app.add_flag("--markdown", markdown, "print the table as Markdown (a CI job summary)");
  app.add_flag("--history", history,
               "nightly trend: the mean per folder, and the newest folder tested against the "
               "previous --window folders");
  app.add_option("--html", html,
                 "also write the A/B page here: one self-contained HTML file, the verdict first, "
                 "then per test both sides' runs per metric (the text output is unchanged)");
  app.add_option("--window", window, "with --history: how many nights before the newest to pool")
      ->default_val(5)
      ->check(CLI::PositiveNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    const Thresholds thresholds = ParseThresholds(threshold_args);
    if (history && !html.empty()) {
      throw BadInput("--html draws an A/B comparison (BASELINE_DIR CANDIDATE_DIR), not --history");
    }
    if (history) return History(dirs, window, thresholds, markdown);
    if (dirs.size() != 2) {
      throw BadInput(
          fmt::format("expected BASELINE_DIR CANDIDATE_DIR (or --history DIR...), got {} folder{}",
                      dirs.size(), dirs.size() == 1 ? "" : "s"));
    }
    return Compare(dirs[0], dirs[1], thresholds, markdown, html);
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << "migtest-compare: " << e.what() << "\n";
    return 2;
  }
}
