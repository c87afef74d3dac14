// migtest-report: what a run of the suites produced, for people.
//
//   migtest-report summary DIR [--junit FILE ...]
//   migtest-report DIR... -o report.html [--junit FILE ...]
//   migtest-report DIR... --markdown [--junit FILE ...]
//
// `summary` finds every result.json under DIR (<Suite>/<Test>/result.json, as the fixtures write
// them), takes each test's verdict from gtest's JUnit XML files (--junit, or every *.xml under
// DIR), and prints one row per run: downtime (the judged one: the guest's pause when measured, as
// MaxDowntime and migtest-compare judge it), the VMM's own downtime figure, total time,
// iterations, longest dirty-bitmap sync, the worst stall the VMM reported, p99 postcopy request
// latency, STOP→RESUME gap, guest blackout, the guest's health, status, verdict and its reason;
// then every failed assertion of every failed test. A result with no JUnit verdict is judged by
// itself: a failed migration, a guest's problem lines or memory not verified is a FAIL; otherwise
// it is "ok" (the result shows no failure; its SLO assertions were not seen). It decodes
// result.json as migtest::RunResult (its documented keys are a public contract, never renamed), so
// it also reads files written by older versions. Exit code 0 when every test passed (or was
// skipped), 1 when one failed, 2 on bad input.
//
// `-o report.html` writes one self-contained page (inline SVG and CSS, no scripts, no network):
// the same table, then per migration its plots (bytes sent per iteration with sync times and the
// downtime window, pages dirtied, the downtime's phases, the dirtier's achieved rate, the postcopy
// page-request latency histogram, the prober's RTT and spikes) and, for tests run several times,
// strip plots of downtime and total time. When scenarios are named "family/row" (result.json's
// scenario.name, as the QEMU catalogue names them: "multifd/zstd", "tls/psk"), a "Scenario
// families" section: per family one chart of its rows side by side, the judged downtime and the
// total time of each row's runs whose timings count; a row that did not complete has no figure
// and is labelled so ("did not complete (cancelled), as its test expects"), never drawn as 0.
// A plot is drawn only from figures the file has.
// `--markdown` prints the table as Markdown (CI job summaries). Both exit 0 when written and 2 on
// bad input (a garbage result.json is named on stderr; the page lists it too).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "migtest/results/json.hpp"
#include "migtest/results/print.hpp"
#include "report/strip_plot.hpp"
#include "report/svg.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Verdict {
  std::string text;                   // PASS, FAIL, SKIP
  std::string first_failure;          // the first failure's message, or why the test was skipped
  std::vector<std::string> failures;  // every failure's message, in order
};

// gtest's JUnit XML: <testsuites><testsuite name=S><testcase name=T classname=S status=run
// result=completed|skipped ...><failure message=.../></testcase>.
void ReadJunit(const fs::path& file, std::map<std::string, Verdict>& out) {
  boost::property_tree::ptree tree;
  boost::property_tree::read_xml(file.string(), tree);
  auto suites = tree.get_child_optional("testsuites");
  if (!suites) return;
  for (const auto& [tag, suite] : *suites) {
    if (tag != "testsuite") continue;
    for (const auto& [ctag, tc] : suite) {
      if (ctag != "testcase") continue;
      std::string id = tc.get<std::string>("<xmlattr>.classname", "") + "." +
                       tc.get<std::string>("<xmlattr>.name", "");
      Verdict v{"PASS", "", {}};
      std::string result = tc.get<std::string>("<xmlattr>.result", "");
      if (result == "skipped" || tc.get<std::string>("<xmlattr>.status", "") == "notrun" ||
          tc.get_child_optional("skipped")) {
        v.text = "SKIP";
      }
      if (auto skipped = tc.get_child_optional("skipped")) {
        v.first_failure = skipped->get<std::string>("<xmlattr>.message", "");
      }
      for (const auto& [ftag, failure] : tc) {
        if (ftag == "failure" || ftag == "error") {
          v.text = "FAIL";
          v.failures.push_back(failure.get<std::string>("<xmlattr>.message", ""));
          if (v.first_failure.empty()) v.first_failure = v.failures.back();
        }
      }
      out[id] = v;
    }
  }
}

std::optional<double> Number(const json& j, const json::json_pointer& p) {
  if (!j.contains(p)) return std::nullopt;
  const json& v = j.at(p);
  if (!v.is_number()) return std::nullopt;
  return v.get<double>();
}

// One run's cells. "downtime" is the judged downtime (migtest::JudgedDowntime: the guest's pause
// when measured), the one MaxDowntime and migtest-compare judge; "VMM reported" is the VMM's own
// figure (QEMU's: the source's side only). "longest sync" is the longest dirty-bitmap sync;
// "stalls" are what the VMM reported as stalls (QEMU: iterate calls over the downtime limit).
struct Row {
  std::string test, downtime = "-", reported = "-", total = "-", iterations = "-", sync = "-",
                    stalls = "-", p99 = "-", gap = "-", blackout = "-", guest = "-", status = "-",
                    verdict, reason;
  fs::path file;
};

// A message on one line, at most `max` characters ("…" where cut).
std::string OneLine(std::string s, size_t max = 80) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  if (s.size() > max) s = s.substr(0, max - 1) + "…";
  return s;
}

// The verdict of a result with neither its own test's verdict nor a JUnit one, from what the
// result itself says: any problem (not completed, memory not verified, a sick guest, a harness
// failure) is a FAIL; "ok" only when it shows none (its SLO assertions were not seen).
Verdict VerdictOfResult(const migtest::RunResult& run) {
  std::vector<std::string> why;
  for (const auto& p : migtest::ProblemsOf(run)) {
    why.push_back(std::string(migtest::ToString(p.kind)) + ": " + p.why);
  }
  if (why.empty()) return {"ok", "", {}};
  return {"FAIL", why.front(), why};
}

// The verdict its own test wrote into result.json (the fixtures do, at TearDown).
std::optional<Verdict> OwnVerdict(const migtest::RunResult& run) {
  if (!run.verdict) return std::nullopt;
  using O = migtest::TestVerdict::Outcome;
  const auto& v = *run.verdict;
  Verdict out{v.outcome == O::kFailed    ? "FAIL"
              : v.outcome == O::kSkipped ? "SKIP"
                                         : "PASS",
              v.failures.empty() ? "" : v.failures.front(), v.failures};
  return out;
}

// The guest's own verdict (VMM backends): "ok" only when its console shows no problem, its
// dirtier found no corrupted page and it answered the prober; else what went wrong.
std::string GuestCell(const json& j) {
  auto g = j.find("guest");
  if (g == j.end() || !g->is_object()) return "-";
  const size_t problems =
      g->contains("problems") && (*g)["problems"].is_array() ? (*g)["problems"].size() : 0;
  if (problems > 0) return fmt::format("{} problem{}", problems, problems == 1 ? "" : "s");
  if (auto bad = Number(*g, "/verify_errors"_json_pointer); bad && *bad > 0) {
    return fmt::format("{} corrupted page{}", *bad, *bad == 1 ? "" : "s");
  }
  if (g->contains("answered") && (*g)["answered"] == false) return "no answer";
  return "ok";
}

// The migration's status as it ended: completed, failed, cancelled, "cancelled (timed out)" when
// migtest cancelled it at the scenario's timeout, and whether precopy converged.
std::string StatusCell(const json& m) {
  std::string status = m.value("status", std::string("-"));
  const std::string error = m.contains("error") && m["error"].is_string() ? m["error"] : json("");
  if (status == "cancelled" && error.find("timeout") != std::string::npos) {
    status += " (timed out)";
  }
  if (m.contains("converged") && m["converged"].is_boolean() && !m["converged"].get<bool>()) {
    status += ", not converged";
  }
  return status;
}

// Figures as every migtest printer writes them (migtest::FormatDuration: 850us, 6.2ms, 12.3s,
// 3m00s), "-" when absent.
std::string MaybeMs(const std::optional<migtest::Duration>& d) {
  return d ? migtest::FormatDuration(*d) : "-";
}

// A percentile as known: exact from samples, else the histogram bucket's bound ("≤1.0ms").
std::string PercentileCell(const std::optional<migtest::LatencyDistribution::Estimate>& e) {
  if (!e) return "-";
  if (e->exact) return migtest::FormatDuration(e->value);
  if (e->upper_bound) return "≤" + migtest::FormatDuration(*e->upper_bound);
  return "≥" + migtest::FormatDuration(e->lower_bound);
}

// The worst stall the VMM reported: "363.8ms ram" (", 3 times").
std::string StallsCell(const migtest::MigrationResult& m) {
  if (m.stalls.empty()) return "-";
  const auto worst = std::max_element(
      m.stalls.begin(), m.stalls.end(),
      [](const migtest::Stall& a, const migtest::Stall& b) { return a.duration < b.duration; });
  std::string s = migtest::FormatDuration(worst->duration) + " " + worst->section;
  if (worst->count && *worst->count > 1) s += fmt::format(" ×{}", *worst->count);
  return s;
}

Row ReadResult(const fs::path& file, const fs::path& root, const json& j,
               const migtest::RunResult& run) {
  Row row;
  row.file = file;
  fs::path rel = fs::relative(file.parent_path(), root);
  row.test = run.test.value_or("");
  if (row.test.empty()) {
    // <Suite>/<Test>/result.json
    row.test = rel.parent_path().filename().string() + "." + rel.filename().string();
  }
  if (file.filename() != "result.json") row.test += " (" + file.stem().string() + ")";
  if (run.migration) {
    const migtest::MigrationResult& m = *run.migration;
    row.downtime = MaybeMs(migtest::JudgedDowntime(m));
    row.reported = MaybeMs(m.downtime);
    row.total = MaybeMs(m.total_time);
    if (!m.iterations.empty()) row.iterations = std::to_string(m.iterations.size());
    if (auto sync = migtest::WorstStall(m, migtest::StallSources::kSyncOnly)) {
      row.sync = migtest::FormatDuration(sync->duration);
    }
    row.stalls = StallsCell(m);
    if (m.postcopy_latency) row.p99 = PercentileCell(m.postcopy_latency->Percentile(99));
    row.gap = MaybeMs(m.stop_resume_gap);
    row.status = StatusCell(j.value("migration", json::object()));
  }
  if (run.probe) row.blackout = MaybeMs(run.probe->longest_blackout);
  // The guest's own verdict (VMM backends): "ok", or how many problem lines its console shows.
  row.guest = GuestCell(j);
  return row;
}

struct Run {
  Row row;
  json doc;                   // the whole result.json
  migtest::RunResult result;  // decoded, for the figures the plots draw
  Verdict verdict;            // this run's own (its test's, its folder's JUnit, or its result's)
  // Whether its times may be drawn among good runs' (migtest::TimingsCount of its problems).
  bool timings = false;
};

struct Collected {
  std::vector<Run> runs;  // in path order; tests with a verdict but no result.json last
  // JUnit verdicts by the folder of the XML file that holds them, then by test: ci/ab and
  // --gtest_repeat leave one XML per run folder, each with its own verdict of the same test.
  std::map<fs::path, std::map<std::string, Verdict>> junit;
  std::map<std::string, Verdict> verdicts;  // every JUnit verdict by test (the last file's)
  size_t judged_by_result = 0;              // runs with no verdict of a test: by their result
  std::vector<std::string> unreadable;      // "<file>: <why>"
};

// The JUnit verdict of the run in `folder`: from the nearest XML file in it or above it (up to
// `root`), or the only one any file has for the test.
const Verdict* JunitVerdict(const Collected& c, const std::string& id, fs::path folder,
                            const fs::path& root) {
  const fs::path top = root.lexically_normal();
  for (folder = folder.lexically_normal();; folder = folder.parent_path()) {
    if (auto f = c.junit.find(folder); f != c.junit.end()) {
      if (auto v = f->second.find(id); v != f->second.end()) return &v->second;
    }
    if (folder == top || !folder.has_relative_path() || folder == folder.parent_path()) break;
  }
  const Verdict* only = nullptr;
  for (const auto& [dir, tests] : c.junit) {
    if (auto v = tests.find(id); v != tests.end()) {
      if (only != nullptr) return nullptr;  // several files disagree on which run is which
      only = &v->second;
    }
  }
  return only;
}

std::string IdOf(const Row& r) { return r.test.substr(0, r.test.find(' ')); }

// Runs of one test in several folders (ci/ab's baseline/run-<k>, --gtest_repeat's run-<k>): each
// row says which folder it is, "QemuSlo.Busy [candidate/run-3/QemuSlo/Busy]".
void NameRepeatedRuns(Collected& c, const std::vector<fs::path>& dirs) {
  std::map<std::string, std::set<fs::path>> folders;
  for (const Run& r : c.runs) {
    if (!r.row.file.empty()) folders[IdOf(r.row)].insert(r.row.file.parent_path());
  }
  for (Run& r : c.runs) {
    if (r.row.file.empty() || folders[IdOf(r.row)].size() < 2) continue;
    fs::path folder = r.row.file.parent_path();
    for (const auto& d : dirs) {
      fs::path rel = fs::relative(folder, d);
      if (!rel.empty() && *rel.begin() != "..") folder = rel;
    }
    const std::string id = IdOf(r.row);
    // <side>/run-<k>/<Suite>/<Test>: the Suite/Test part repeats the test's name.
    const auto dot = id.find('.');
    if (dot != std::string::npos && folder.filename() == id.substr(dot + 1) &&
        folder.parent_path().filename() == id.substr(0, dot) &&
        folder.parent_path().has_parent_path()) {
      folder = folder.parent_path().parent_path();
    }
    r.row.test = id + " [" + folder.string() + "]" + r.row.test.substr(id.size());
  }
}

// Every result.json and result-*.json under the dirs, with verdicts from the JUnit XML files
// (default: every *.xml under the dirs). Throws on an unreadable JUnit file (bad input); a
// garbage result.json is recorded in `unreadable` and named on stderr.
Collected Collect(const std::vector<fs::path>& dirs, std::vector<fs::path> junit) {
  Collected c;
  std::vector<std::pair<fs::path, fs::path>> results;  // file, its root
  const bool find_junit = junit.empty();
  for (const auto& dir : dirs) {
    if (!fs::is_directory(dir)) throw std::runtime_error(dir.string() + " is not a directory");
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (!e.is_regular_file()) continue;
      std::string name = e.path().filename().string();
      if (name == "result.json" ||
          (name.rfind("result-", 0) == 0 && e.path().extension() == ".json")) {
        results.emplace_back(e.path(), dir);
      }
      if (find_junit && e.path().extension() == ".xml") junit.push_back(e.path());
    }
  }
  std::sort(results.begin(), results.end());
  for (const auto& x : junit) {
    try {
      auto& tests = c.junit[x.parent_path().lexically_normal()];
      ReadJunit(x, tests);
      for (const auto& [id, v] : tests) c.verdicts[id] = v;
    } catch (const std::exception& e) {
      throw std::runtime_error(x.string() + ": not a JUnit XML file: " + e.what());
    }
  }
  for (const auto& [f, root] : results) {
    try {
      Run run;
      std::ifstream in(f);
      run.doc = json::parse(in);  // throws json::parse_error with the byte position
      const auto result = run.doc.get<migtest::RunResult>();
      run.row = ReadResult(f, root, run.doc, result);
      run.result = result;
      run.timings = migtest::TimingsCount(migtest::ProblemsOf(result));
      // Each run folder's own verdict: its test's (result.json), else its JUnit file's, else what
      // its result says.
      if (auto own = OwnVerdict(result)) {
        run.verdict = *own;
      } else if (const Verdict* j = JunitVerdict(c, IdOf(run.row), f.parent_path(), root)) {
        run.verdict = *j;
      } else {
        run.verdict = VerdictOfResult(result);
        ++c.judged_by_result;
      }
      const Verdict& v = run.verdict;
      run.row.verdict = v.text;
      run.row.reason = OneLine(v.first_failure);
      if (v.failures.size() > 1) {
        run.row.reason =
            OneLine(v.first_failure, 64) + fmt::format(" (+{} more)", v.failures.size() - 1);
      }
      c.runs.push_back(std::move(run));
    } catch (const std::exception& e) {
      std::cerr << "migtest-report: " << f.string() << ": " << e.what() << "\n";
      c.unreadable.push_back(f.string() + ": " + e.what());
    }
  }
  // Tests with a verdict but no result.json (failed before migrating, or no migration at all).
  for (const auto& [id, v] : c.verdicts) {
    bool seen =
        std::any_of(c.runs.begin(), c.runs.end(), [&](const Run& r) { return IdOf(r.row) == id; });
    if (!seen) {
      Run run;
      run.row.test = id;
      run.row.status = "no result.json";
      run.row.verdict = v.text;
      run.row.reason = OneLine(v.first_failure);
      run.verdict = v;
      c.runs.push_back(std::move(run));
    }
  }
  NameRepeatedRuns(c, dirs);
  return c;
}

// "1 test", "2 tests".
std::string Plural(size_t n, std::string_view noun) {
  return fmt::format("{} {}{}", n, noun, n == 1 ? "" : "s");
}

// "4 runs: 2 passed, 1 failed, 1 ok by their results": every verdict there is, none that is 0
// (a table of runs judged by their results alone does not say "0 passed, 0 failed").
std::string Counts(const Collected& c) {
  size_t passed = 0, failed = 0, skipped = 0, ok = 0;
  for (const auto& r : c.runs) {
    passed += r.row.verdict == "PASS";
    failed += r.row.verdict == "FAIL";
    skipped += r.row.verdict == "SKIP";
    ok += r.row.verdict == "ok";
  }
  std::vector<std::string> parts;
  if (passed) parts.push_back(fmt::format("{} passed", passed));
  if (failed) parts.push_back(fmt::format("{} failed", failed));
  if (skipped) parts.push_back(fmt::format("{} skipped", skipped));
  if (ok) parts.push_back(fmt::format("{} ok by their results", ok));
  if (!c.unreadable.empty()) {
    parts.push_back(Plural(c.unreadable.size(), "unreadable result file"));
  }
  std::string s = Plural(c.runs.size(), "run");
  if (!parts.empty()) s += ": " + fmt::format("{}", fmt::join(parts, ", "));
  return s;
}

int Summary(const fs::path& dir, std::vector<fs::path> junit) {
  if (!fs::is_directory(dir)) {
    std::cerr << "migtest-report: " << dir.string() << " is not a directory\n";
    return 2;
  }
  Collected collected;
  try {
    collected = Collect({dir}, junit);
  } catch (const std::exception& e) {
    std::cerr << "migtest-report: " << e.what() << "\n";
    return 2;
  }
  const auto& verdicts = collected.verdicts;
  std::vector<Row> rows;
  for (const auto& r : collected.runs) rows.push_back(r.row);
  const int bad = static_cast<int>(collected.unreadable.size());
  const std::vector<std::string> head = {
      "test",         "downtime",    "VMM reported", "total", "iters",  "longest sync", "stalls",
      "p99 postcopy", "stop-resume", "blackout",     "guest", "status", "verdict",      "reason"};
  std::vector<size_t> w(head.size());
  for (size_t i = 0; i < head.size(); ++i) w[i] = head[i].size();
  auto cells = [](const Row& r) {
    return std::vector<std::string>{r.test,  r.downtime, r.reported, r.total, r.iterations,
                                    r.sync,  r.stalls,   r.p99,      r.gap,   r.blackout,
                                    r.guest, r.status,   r.verdict,  r.reason};
  };
  // Columns as wide as their widest cell in characters (fmt pads "≤1.0ms" by characters too).
  const auto width = [](const std::string& cell) {
    return static_cast<size_t>(
        std::count_if(cell.begin(), cell.end(), [](char ch) { return (ch & 0xC0) != 0x80; }));
  };
  for (const auto& r : rows) {
    auto c = cells(r);
    for (size_t i = 0; i < c.size(); ++i) w[i] = std::max(w[i], width(c[i]));
  }
  auto print = [&](const std::vector<std::string>& c) {
    std::string line;
    // The test left-aligned, the figures right-aligned, the reason (last) as it is.
    for (size_t i = 0; i < c.size(); ++i) {
      line += i == 0              ? fmt::format("{:<{}}", c[i], w[i])
              : i + 1 == c.size() ? "  " + c[i]
                                  : fmt::format("  {:>{}}", c[i], w[i]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << "\n";
  };
  print(head);
  std::string rule;
  for (size_t i = 0; i + 1 < w.size(); ++i) rule += std::string(w[i] + (i == 0 ? 0 : 2), '-');
  rule += "  " + std::string(head.back().size(), '-');
  std::cout << rule << "\n";
  int failed = 0;
  for (const auto& r : rows) {
    print(cells(r));
    if (r.verdict == "FAIL") ++failed;
  }
  std::cout << "\n" << Counts(collected) << "\n";
  if (collected.judged_by_result > 0) {
    std::cout << fmt::format(
        "{} of them without a test's verdict (none in result.json, no JUnit): judged by their "
        "result.json (not completed, memory not verified, a sick guest or a harness failure fails; "
        "SLO assertions are not seen)\n",
        collected.judged_by_result);
  }
  // Why tests were skipped, once per distinct reason.
  std::map<std::string, int> skip_reasons;
  for (const auto& [id, v] : verdicts) {
    if (v.text == "SKIP") ++skip_reasons[v.first_failure];
  }
  for (const auto& [reason, n] : skip_reasons) {
    std::string why = reason;
    std::replace(why.begin(), why.end(), '\n', ' ');
    std::cout << fmt::format("SKIP ({}): {}\n", Plural(static_cast<size_t>(n), "test"),
                             why.empty() ? "no reason given" : why);
  }
  // Every failed assertion of every failed run, one line each (a verdict two result files of one
  // run share, once).
  std::set<std::string> said;
  for (const auto& r : collected.runs) {
    if (r.verdict.text != "FAIL") continue;
    const std::string name = r.row.test.substr(0, r.row.test.find(" ("));
    for (const auto& failure : r.verdict.failures) {
      std::string line = fmt::format("FAIL {}: {}\n", name, OneLine(failure, 400));
      if (said.insert(line).second) std::cout << line;
    }
  }
  return failed > 0 || bad > 0 ? 1 : 0;
}

// ---- HTML report ---------------------------------------------------------------------------

using migtest::internal::Axis;
using migtest::internal::Escape;
using migtest::internal::Svg;

constexpr double kMiB = 1024.0 * 1024.0;
const char* const kPalette[] = {"#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756",
                                "#72b7b2", "#eeca3b", "#9d755d", "#bab0ac", "#ff9da6"};

std::string Num(double v) { return migtest::internal::TickLabel(v); }
// A time in a label, as every migtest printer writes it ("850us", "6.2ms", "12.3s").
std::string DurMs(double ms) {
  return migtest::FormatDuration(migtest::Duration(std::llround(ms * 1000)));
}
std::string DurUs(double us) {
  return migtest::FormatDuration(migtest::Duration(std::llround(us)));
}
double MsOf(migtest::Duration d) { return static_cast<double>(d.count()) / 1000.0; }

const json* Array(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_array() || it->empty()) return nullptr;
  return &*it;
}

std::vector<std::string> TableHead() {
  return {"test",         "verdict", "downtime",     "VMM reported", "total", "iters",
          "longest sync", "stalls",  "p99 postcopy", "blackout",     "guest"};
}
std::vector<std::string> TableCells(const Row& r) {
  return {r.test, r.verdict, r.downtime, r.reported, r.total, r.iterations,
          r.sync, r.stalls,  r.p99,      r.blackout, r.guest};
}

// A plot the file has no figures for: its name behind a marker byte, gathered by Html() into one
// "no data: …" line per section.
constexpr char kNoData = '\x01';
std::string NoData(std::string_view what) { return kNoData + std::string(what); }

// Where each iteration sits on the time axis: its start_ms when the file has it, else the sum of
// the durations before it (from setup_time_ms), else nothing (the axis is then the index).
struct IterSpan {
  double x0, x1;
  const json* it;
};
std::pair<std::vector<IterSpan>, bool> IterationSpans(const json& m, const json& iters) {
  std::vector<IterSpan> spans;
  bool timed = true;
  for (const auto& it : iters) {
    if (!Number(it, "/duration_ms"_json_pointer)) timed = false;
  }
  double t = Number(m, "/setup_time_ms"_json_pointer).value_or(0);
  double index = 0;
  for (const auto& it : iters) {
    index = Number(it, "/index"_json_pointer).value_or(index + 1);
    if (timed) {
      const double d = *Number(it, "/duration_ms"_json_pointer);
      const double start = Number(it, "/start_ms"_json_pointer).value_or(t);
      spans.push_back({start, start + d, &it});
      t = start + d;
    } else {
      spans.push_back({index - 0.4, index + 0.4, &it});
    }
  }
  return {spans, timed};
}

// Bytes sent per iteration, each iteration's dirty-bitmap sync time above its bar, the downtime
// window shaded: the judged downtime (the guest's pause when measured), from when the source
// stopped (its total time less the VMM's own downtime, which ends there).
std::string BytesPlot(const json& m, const migtest::MigrationResult& mr) {
  const json* iters = Array(m, "iterations");
  bool any = false;
  if (iters) {
    for (const auto& it : *iters) any |= Number(it, "/bytes_sent"_json_pointer).has_value();
  }
  if (!any) return NoData("Bytes sent per iteration");
  auto [spans, timed] = IterationSpans(m, *iters);
  const auto total = Number(m, "/total_time_ms"_json_pointer);
  std::optional<double> downtime, stop;
  if (auto judged = migtest::JudgedDowntime(mr); judged && total) {
    downtime = MsOf(*judged);
    stop = *total - MsOf(mr.downtime.value_or(*judged));
  }
  double xhi = spans.back().x1, yhi = 0;
  if (timed && total) xhi = std::max(xhi, *total);
  if (timed && stop && downtime) xhi = std::max(xhi, *stop + *downtime);
  for (const auto& s : spans) {
    yhi = std::max(yhi, Number(*s.it, "/bytes_sent"_json_pointer).value_or(0) / kMiB);
  }
  Svg plot("Bytes sent per iteration",
           {.lo = timed ? 0 : spans.front().x0 - 0.2,
            .hi = xhi + (timed ? 0 : 0.2),
            .label = timed ? "time since start (ms)" : "iteration"},
           {.lo = 0, .hi = yhi * 1.18, .label = "sent (MiB)"});
  const double ytop = plot.y().hi;
  if (timed && stop && downtime) {
    plot.Rect(*stop, 0, *stop + *downtime, ytop, "downtime",
              fmt::format("downtime window: {}", DurMs(*downtime)));
    plot.Label(*stop + *downtime, ytop, fmt::format("downtime window {}", DurMs(*downtime)), "end",
               -5);
  }
  double worst = 0;
  const IterSpan* worst_span = nullptr;
  for (const auto& s : spans) {
    const json& it = *s.it;
    const double idx = Number(it, "/index"_json_pointer).value_or(0);
    // An iteration without bytes_sent has no bar (not a 0 MiB one); its sync is still drawn.
    if (auto bytes = Number(it, "/bytes_sent"_json_pointer)) {
      const double mib = *bytes / kMiB;
      const auto ms = Number(it, "/duration_ms"_json_pointer);
      plot.Rect(s.x0, 0, s.x1, mib, "bar",
                fmt::format("iteration {}: {} MiB{}", Num(idx), Num(mib),
                            ms ? fmt::format(" in {}", DurMs(*ms)) : std::string()));
    }
    std::optional<double> sync = Number(it, "/sync_ms"_json_pointer);
    if (auto us = Number(it, "/sync_us"_json_pointer)) sync = *us / 1000;
    if (sync && *sync > 0) {
      // The sync at the start of its iteration (the dirty-bitmap sync precedes the sending).
      const double x1 = timed ? s.x0 + *sync : s.x1;
      plot.Rect(s.x0, ytop * 0.93, x1, ytop, "sync",
                fmt::format("iteration {}: sync time {}", Num(idx), DurMs(*sync)));
      if (*sync > worst) {
        worst = *sync;
        worst_span = &s;
      }
    }
  }
  if (worst_span) {
    const bool right = plot.x().Frac(worst_span->x0) > 0.5;
    plot.Label(worst_span->x0, ytop * 0.93, fmt::format("longest sync {}", DurMs(worst)),
               right ? "end" : "start", 14, "note");
  }
  return plot.Finish();
}

std::string DirtiedPlot(const json& m) {
  const json* iters = Array(m, "iterations");
  const char* key = nullptr;
  if (iters) {
    for (const char* k : {"pages_dirtied", "dirty_pages_rate"}) {
      for (const auto& it : *iters) {
        if (!key && it.contains(k) && it[k].is_number()) key = k;
      }
    }
  }
  if (!key) return NoData("Pages dirtied per iteration");
  const bool rate = std::string_view(key) == "dirty_pages_rate";
  auto [spans, timed] = IterationSpans(m, *iters);
  double yhi = 0;
  for (const auto& s : spans) yhi = std::max(yhi, s.it->value(key, 0.0));
  Svg plot(rate ? "Dirty page rate per iteration" : "Pages dirtied per iteration",
           {.lo = timed ? 0 : spans.front().x0 - 0.2,
            .hi = spans.back().x1 + (timed ? 0 : 0.2),
            .label = timed ? "time since start (ms)" : "iteration"},
           {.lo = 0, .hi = yhi * 1.1, .label = rate ? "dirtied (pages/s)" : "dirtied (pages)"});
  for (const auto& s : spans) {
    if (!s.it->contains(key) || !(*s.it)[key].is_number()) continue;
    const double v = (*s.it)[key].get<double>();
    plot.Rect(s.x0, 0, s.x1, v, "bar2",
              fmt::format("iteration {}: {} {}", Num(s.it->value("index", 0.0)), Num(v),
                          rate ? "pages/s" : "pages"));
  }
  return plot.Finish();
}

// The downtime's phases as one stacked bar, named in a legend. The bar's length is the sum of the
// phases; the judged downtime is marked where it is (with QEMU's trace, the phases run from the
// source's stop to the destination's vCPUs running: the guest's pause, so the two agree), and the
// VMM's own figure, when it is not the judged one, beside it under its own name.
std::string BreakdownPlot(const json& m, const migtest::MigrationResult& mr) {
  const json* phases = Array(m, "downtime_breakdown");
  if (!phases) return NoData("Downtime breakdown");
  std::vector<std::pair<std::string, double>> parts;
  double rounding = 0;  // how far the sum may be off: each phase's resolution (1 µs or 1 ms)
  for (const auto& p : *phases) {
    std::optional<double> ms = Number(p, "/ms"_json_pointer);
    double resolution = 1;
    if (auto us = Number(p, "/us"_json_pointer)) {
      ms = *us / 1000;
      resolution = 0.001;
    }
    if (ms) {
      parts.emplace_back(p.value("phase", std::string("?")), *ms);
      rounding += resolution;
    }
  }
  if (parts.empty()) return NoData("Downtime breakdown");
  double sum = 0;
  for (const auto& [name, ms] : parts) sum += ms;
  const auto judged = migtest::JudgedDowntime(mr);
  const auto reported = migtest::ReportedDowntimeBeside(mr);
  double hi = sum;
  if (judged) hi = std::max(hi, MsOf(*judged));
  if (reported) hi = std::max(hi, MsOf(*reported));
  Svg plot(fmt::format("Downtime breakdown: phases in order, {} in all", DurMs(sum)),
           {.lo = 0, .hi = hi * 1.05, .label = "time (ms)"},
           {.lo = 0, .hi = 1, .label = "phase", .ticks = false}, 860, 190);
  plot.ReserveLegend();
  double x = 0, legend = 78;
  for (size_t i = 0; i < parts.size(); ++i) {
    const auto& [name, ms] = parts[i];
    const char* fill = kPalette[i % std::size(kPalette)];
    plot.Rect(x, 0.2, x + ms, 0.8, "phase", fmt::format("{}: {}", name, DurMs(ms)), fill);
    const std::string text = fmt::format("{} {}", name, DurMs(ms));
    plot.Legend(legend, text, fill);
    legend += 24 + 7.5 * static_cast<double>(text.size());
    x += ms;
  }
  if (judged) {
    const double d = MsOf(*judged);
    const bool agrees = std::abs(d - sum) <= rounding + 1e-9;
    plot.Line(d, 0, d, 1, "marker");
    plot.Label(d, 1,
               agrees ? fmt::format("downtime {} (the phases' sum)", DurMs(d))
                      : fmt::format("downtime {}", DurMs(d)),
               "end", -5);
  }
  if (reported) {
    const double r = MsOf(*reported);
    plot.Line(r, 0, r, 1, "marker2");
    plot.Label(r, 0.05, fmt::format("{} {}", migtest::ReportedDowntimeName(mr.format), DurMs(r)),
               "end", -3, "note");
  }
  return plot.Finish();
}

// Per-device downtime (QEMU 10's trace: each device's save on the source and load on the
// destination while the guest was paused), one row per device, the slowest first: which device
// to look at when the downtime or one of its phases broke its SLO.
std::string DevicesPlot(const migtest::MigrationResult& mr) {
  if (mr.downtime_devices.empty()) return NoData("Per-device downtime");
  struct Device {
    double save = 0, load = 0;
    bool saved = false, loaded = false;
    double Worst() const { return std::max(save, load); }
  };
  std::map<std::string, Device> by_name;
  for (const auto& d : mr.downtime_devices) {
    Device& dev = by_name[migtest::DeviceName(d)];
    if (d.side == "destination") {
      dev.load += MsOf(d.duration);
      dev.loaded = true;
    } else {
      dev.save += MsOf(d.duration);
      dev.saved = true;
    }
  }
  std::vector<std::pair<std::string, Device>> devices(by_name.begin(), by_name.end());
  std::stable_sort(devices.begin(), devices.end(), [](const auto& a, const auto& b) {
    return a.second.Worst() > b.second.Worst();
  });
  constexpr size_t kShown = 10;
  const size_t more = devices.size() > kShown ? devices.size() - kShown : 0;
  devices.resize(std::min(devices.size(), kShown));
  const double hi = std::max(devices.front().second.Worst(), 1e-3);
  const auto rows = static_cast<double>(devices.size());
  std::string title = "Per-device downtime: save (source) and load (destination), slowest first";
  if (more) title += fmt::format(" ({} more not shown)", more);
  Svg plot(title, {.lo = 0, .hi = hi * 1.6, .label = "time (ms)"},
           {.lo = 0, .hi = rows, .label = "device", .ticks = false}, 860,
           110 + static_cast<int>(28 * devices.size()));
  plot.ReserveLegend();
  const char* save_fill = kPalette[1];
  const char* load_fill = kPalette[0];
  for (size_t i = 0; i < devices.size(); ++i) {
    const auto& [name, d] = devices[i];
    const double top = rows - static_cast<double>(i);  // the slowest at the top
    std::vector<std::string> parts;
    if (d.saved) {
      plot.Rect(0, top - 0.5, d.save, top - 0.1, "device",
                fmt::format("{}: save {}", name, DurMs(d.save)), save_fill);
      parts.push_back("save " + DurMs(d.save));
    }
    if (d.loaded) {
      plot.Rect(0, top - 0.9, d.load, top - 0.5, "device",
                fmt::format("{}: load {}", name, DurMs(d.load)), load_fill);
      parts.push_back("load " + DurMs(d.load));
    }
    plot.Label(d.Worst(), top - 0.5, fmt::format("{}: {}", name, fmt::join(parts, ", ")), "start",
               4);
  }
  plot.Legend(78, "save (source)", save_fill);
  plot.Legend(210, "load (destination)", load_fill);
  return plot.Finish();
}

std::string DirtierPlot(const json& j) {
  const json* rates = j.contains("dirty") ? Array(j["dirty"], "rate_mib_s") : nullptr;
  if (!rates) return NoData("Dirtier's achieved rate");
  std::vector<std::pair<double, double>> pts;
  double yhi = 0;
  for (size_t i = 0; i < rates->size(); ++i) {
    if (!(*rates)[i].is_number()) continue;
    pts.emplace_back(static_cast<double>(i + 1), (*rates)[i].get<double>());
    yhi = std::max(yhi, pts.back().second);
  }
  if (pts.empty()) return NoData("Dirtier's achieved rate");
  const auto requested = Number(j, "/dirty/requested_mib_s"_json_pointer);
  if (requested) yhi = std::max(yhi, *requested);
  Svg plot("Dirtier's achieved rate, per second",
           {.lo = 0, .hi = pts.back().first + 1, .label = "time (s)"},
           {.lo = 0, .hi = yhi * 1.15, .label = "dirtied (MiB/s)"});
  if (requested) {
    plot.Line(0, *requested, plot.x().hi, *requested, "marker");
    plot.Label(plot.x().hi, *requested, fmt::format("requested {} MiB/s", Num(*requested)), "end",
               -5);
  }
  plot.Polyline(pts, "series");
  for (const auto& [s, v] : pts)
    plot.Dot(s, v, "dot", fmt::format("second {}: {} MiB/s", s, Num(v)));
  return plot.Finish();
}

// Buckets [ge, le] µs → count; from the histogram when the file has one, else from the raw
// samples in power-of-two buckets (the samples are the file's own figures).
std::vector<std::tuple<double, double, double>> LatencyBuckets(const json& lat) {
  std::vector<std::tuple<double, double, double>> b;
  if (const json* h = Array(lat, "histogram")) {
    double prev = 0;
    for (const auto& e : *h) {
      auto le = Number(e, "/le_us"_json_pointer);
      auto count = Number(e, "/count"_json_pointer);
      if (!le || !count) continue;
      const double ge = Number(e, "/ge_us"_json_pointer).value_or(prev);
      prev = *le;
      b.emplace_back(ge, *le, *count);
    }
  } else if (const json* s = Array(lat, "samples_us")) {
    std::map<int, double> bins;
    for (const auto& v : *s) {
      if (v.is_number())
        ++bins[static_cast<int>(std::ceil(std::log2(std::max(v.get<double>(), 1.0))))];
    }
    for (const auto& [k, n] : bins) b.emplace_back(k == 0 ? 0 : std::exp2(k - 1), std::exp2(k), n);
  }
  return b;
}

std::string PostcopyPlot(const json& m) {
  const json lat = m.value("postcopy_latency_us", json::object());
  auto buckets = LatencyBuckets(lat.is_object() ? lat : json::object());
  // Only the buckets from the first to the last non-empty one.
  while (!buckets.empty() && std::get<2>(buckets.back()) == 0) buckets.pop_back();
  while (!buckets.empty() && std::get<2>(buckets.front()) == 0) buckets.erase(buckets.begin());
  if (buckets.empty()) return NoData("Postcopy page-request latency");
  double ymax = 0, total = 0;
  for (const auto& [ge, le, n] : buckets) {
    ymax = std::max(ymax, n);
    total += n;
  }
  const double lo = std::max(std::get<0>(buckets.front()), std::get<1>(buckets.front()) / 2);
  Svg plot(fmt::format("Postcopy page-request latency ({} requests)", Num(total)),
           {.lo = std::max(lo, 1.0),
            .hi = std::get<1>(buckets.back()),
            .log = true,
            .label = "latency (µs, log scale)"},
           {.lo = 0, .hi = ymax * 1.15, .label = "requests (count)"});
  for (const auto& [ge, le, n] : buckets) {
    if (n > 0) {
      plot.Rect(std::max(ge, plot.x().lo), 0, le, n, "bar3",
                fmt::format("{}–{}: {}", DurUs(ge), DurUs(le), Num(n)));
    }
  }
  for (const char* p : {"p50", "p99"}) {
    if (auto v = Number(lat, json::json_pointer(std::string("/") + p))) {
      plot.Line(*v, 0, *v, plot.y().hi, "marker");
      plot.Label(*v, plot.y().hi, fmt::format("{} {}", p, DurUs(*v)), "start", 14);
    }
  }
  return plot.Finish();
}

std::string RttPlot(const json& j) {
  const json rtt = j.contains("probe") && j["probe"].is_object()
                       ? j["probe"].value("rtt_us", json::object())
                       : json::object();
  std::vector<std::pair<std::string, double>> bars;
  for (const char* k : {"min", "p50", "avg", "p99", "max"}) {
    if (auto v = Number(rtt, json::json_pointer(std::string("/") + k))) bars.emplace_back(k, *v);
  }
  if (bars.empty()) return NoData("Prober round-trip time");
  double hi = 1;
  for (const auto& [k, v] : bars) hi = std::max(hi, v);
  Svg plot("Prober round-trip time",
           {.lo = 0, .hi = static_cast<double>(bars.size()), .label = "statistic"},
           {.lo = 1, .hi = hi, .log = true, .label = "RTT (µs, log)"}, 860, 220);
  std::vector<std::pair<double, std::string>> cats;
  for (size_t i = 0; i < bars.size(); ++i) {
    const auto& [k, v] = bars[i];
    const double x = static_cast<double>(i);
    plot.Rect(x + 0.25, plot.y().lo, x + 0.75, v, "bar4", fmt::format("{}: {}", k, DurUs(v)));
    plot.Label(x + 0.5, v, DurUs(v), "middle", -4);
    cats.emplace_back(x + 0.5, k);
  }
  plot.Categories(cats);
  return plot.Finish();
}

std::string SpikesPlot(const json& j) {
  const json* spikes = j.contains("probe") ? Array(j["probe"], "spikes") : nullptr;
  std::vector<std::pair<double, double>> pts;
  if (spikes) {
    for (const auto& s : *spikes) {
      auto t = Number(s, "/t_s"_json_pointer);
      auto d = Number(s, "/delay_ms"_json_pointer);
      if (t && d) pts.emplace_back(*t, *d);
    }
  }
  if (pts.empty()) return NoData("Prober spikes over time");
  std::sort(pts.begin(), pts.end());
  const double t0 = pts.front().first;
  double yhi = 0;
  for (const auto& [t, d] : pts) yhi = std::max(yhi, d);
  const auto blackout = Number(j, "/probe/longest_blackout_ms"_json_pointer);
  if (blackout) yhi = std::max(yhi, *blackout);
  Svg plot("Prober delay spikes",
           {.lo = -0.5,
            .hi = std::max(pts.back().first - t0, 1.0) + 0.5,
            .label = "time since first spike (s)"},
           {.lo = 0, .hi = yhi * 1.2, .label = "delay (ms)"});
  if (blackout) {
    plot.Line(plot.x().lo, *blackout, plot.x().hi, *blackout, "blackout");
    plot.Label(plot.x().hi, *blackout, fmt::format("longest blackout {}", DurMs(*blackout)), "end",
               -5, "note stalltext");
  }
  for (const auto& [t, d] : pts) {
    plot.Line(t - t0, 0, t - t0, d, "stem");
    plot.Dot(t - t0, d, "dot", fmt::format("+{} s: {}", Num(t - t0), DurMs(d)));
  }
  return plot.Finish();
}

// One dot per run, one row per test, for tests with several runs.
std::string StripPlot(const std::string& title, const char* key,
                      const std::vector<std::pair<std::string, std::vector<double>>>& tests) {
  double hi = 0;
  for (const auto& [name, v] : tests) {
    for (double x : v) hi = std::max(hi, x);
  }
  std::vector<migtest::internal::StripRow> rows;
  for (const auto& [name, v] : tests) {
    std::vector<std::string> tooltips;
    for (size_t k = 0; k < v.size(); ++k) {
      tooltips.push_back(fmt::format("{}: run {}: {}", name, k + 1, DurMs(v[k])));
    }
    rows.push_back({.label = fmt::format("{} ({} runs)", name, v.size()),
                    .values = v,
                    .tooltips = std::move(tooltips),
                    .cls = "dot"});
  }
  return migtest::internal::StripPlot(
             title, {.lo = 0, .hi = hi * 1.1, .label = fmt::format("{} (ms)", key)}, rows)
      .Finish();
}

std::string Anchor(size_t i) { return fmt::format("run-{}", i + 1); }

// ---- Scenario families ----------------------------------------------------------------------
// The catalogue names its scenarios "family/row" ("multifd/zstd", "tls/psk"): result.json's
// scenario.name. Per family, its rows side by side: the judged downtime and the total time of each
// row's runs whose timings count; a row that did not complete has no figure and says so.

struct FamilyRow {
  std::string name;          // "zstd"
  std::vector<size_t> runs;  // indices into Collected::runs
};
struct Family {
  std::string name;  // "multifd"
  std::vector<FamilyRow> rows;
};

// {"multifd", "zstd"} of a run whose scenario.name is "multifd/zstd"; nullopt for any other name.
std::optional<std::pair<std::string, std::string>> FamilyOf(const Run& r) {
  const json& sc = r.result.scenario;
  if (!sc.is_object()) return std::nullopt;
  auto it = sc.find("name");
  if (it == sc.end() || !it->is_string()) return std::nullopt;
  const std::string name = it->get<std::string>();
  const auto slash = name.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == name.size()) return std::nullopt;
  return std::pair{name.substr(0, slash), name.substr(slash + 1)};
}

// Families and their rows in the order their runs come (path order).
std::vector<Family> Families(const Collected& c) {
  std::vector<Family> out;
  for (size_t i = 0; i < c.runs.size(); ++i) {
    if (c.runs[i].doc.is_null()) continue;
    auto fr = FamilyOf(c.runs[i]);
    if (!fr) continue;
    auto f =
        std::find_if(out.begin(), out.end(), [&](const Family& x) { return x.name == fr->first; });
    if (f == out.end()) f = out.insert(out.end(), Family{fr->first, {}});
    auto row = std::find_if(f->rows.begin(), f->rows.end(),
                            [&](const FamilyRow& x) { return x.name == fr->second; });
    if (row == f->rows.end()) row = f->rows.insert(f->rows.end(), FamilyRow{fr->second, {}});
    row->runs.push_back(i);
  }
  return out;
}

// Why a run's figures are not drawn: "did not complete (cancelled), as its test expects", "did not
// complete (failed); its test failed", "memory not verified", ...
std::string LeftOutWhy(const Run& r) {
  using K = migtest::RunProblem::Kind;
  const auto problems = migtest::ProblemsOf(r.result);
  for (const auto& p : problems) {
    if (p.kind == K::kHarness) return "not measured (harness failure)";
  }
  for (const auto& p : problems) {
    if (p.kind != K::kNotCompleted) continue;
    // "cancelled (timed out)" → "cancelled, timed out": one pair of parentheses in the label.
    std::string status = r.result.migration ? r.row.status : "no migration result";
    if (auto at = status.find(" ("); at != std::string::npos && status.back() == ')') {
      status = status.substr(0, at) + ", " + status.substr(at + 2, status.size() - at - 3);
    }
    if (r.verdict.text == "PASS") {
      return fmt::format("did not complete ({}), as its test expects", status);
    }
    if (r.verdict.text == "FAIL")
      return fmt::format("did not complete ({}); its test failed", status);
    return fmt::format("did not complete ({})", status);
  }
  std::vector<std::string> why;
  for (const auto& p : problems) {
    if (p.kind != K::kTestFailed) why.push_back(std::string(migtest::ToString(p.kind)));
  }
  return fmt::format("left out: {}", fmt::join(why, ", "));
}

// One panel of a family's chart: per row the figure of its runs whose timings count (one dot a
// run), labelled with the figure or, for a row with none, why.
std::string FamilyPanel(const Family& f, const Collected& c, bool downtime) {
  const char* what = downtime ? "downtime" : "total time";
  std::vector<migtest::internal::StripRow> rows;
  double hi = 0;
  for (const FamilyRow& fr : f.rows) {
    migtest::internal::StripRow row{.label = fr.name, .values = {}, .tooltips = {}, .cls = "dot"};
    std::vector<std::string> left_out;  // why, per run not drawn
    size_t good = 0;
    for (size_t i : fr.runs) {
      const Run& r = c.runs[i];
      if (!r.timings) {
        left_out.push_back(LeftOutWhy(r));
        continue;
      }
      ++good;
      std::optional<migtest::Duration> v;
      if (r.result.migration) {
        v = downtime ? migtest::JudgedDowntime(*r.result.migration)
                     : r.result.migration->total_time;
      }
      if (!v) continue;  // absent: no dot, never a 0
      row.values.push_back(MsOf(*v));
      row.tooltips.push_back(fmt::format("{}/{}: {} {} ({})", f.name, fr.name, what,
                                         migtest::FormatDuration(*v), r.row.test));
      hi = std::max(hi, MsOf(*v));
    }
    std::vector<double> sorted = row.values;
    std::sort(sorted.begin(), sorted.end());
    std::string label = fr.name + ": ";
    if (sorted.size() == 1) {
      label += DurMs(sorted[0]);
    } else if (!sorted.empty()) {
      const double median = sorted.size() % 2
                                ? sorted[sorted.size() / 2]
                                : (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]) / 2;
      label += fmt::format("{} runs, median {}", sorted.size(), DurMs(median));
    } else if (good > 0) {
      label += fmt::format("no {} figure", what);
    }
    if (!left_out.empty()) {
      // One reason said once: "did not complete (cancelled), as its test expects" (×3).
      std::vector<std::string> reasons = left_out;
      std::sort(reasons.begin(), reasons.end());
      reasons.erase(std::unique(reasons.begin(), reasons.end()), reasons.end());
      if (good > 0) label += fmt::format("; {} of {} runs ", left_out.size(), fr.runs.size());
      label += fmt::format("{}", fmt::join(reasons, "; "));
    }
    row.label = std::move(label);
    rows.push_back(std::move(row));
  }
  const std::string title = downtime
                                ? fmt::format("Downtime per row (the judged figure): {}", f.name)
                                : fmt::format("Total time per row: {}", f.name);
  return migtest::internal::StripPlot(
             title, {.lo = 0, .hi = hi * 1.1, .label = fmt::format("{} (ms)", what)}, rows, 640)
      .Finish();
}

std::string FamiliesSection(const Collected& c) {
  const auto families = Families(c);
  if (families.empty()) return "";
  std::string h =
      "<h2 id=\"families\">Scenario families</h2>\n<p class=\"facts\">Per family (scenario names "
      "<code>family/row</code>) its rows side by side: one dot per run whose timings count; a row "
      "that did not complete has no figure and says why.</p>\n";
  for (const Family& f : families) {
    h += fmt::format("<section class=\"familysection\" id=\"family-{}\">\n<h3>{}</h3>\n",
                     Escape(f.name), Escape(f.name));
    h += "<figure class=\"family\">\n<div class=\"panel\">\n" + FamilyPanel(f, c, true) +
         "</div>\n<div class=\"panel\">\n" + FamilyPanel(f, c, false) + "</div>\n<figcaption>runs:";
    for (const FamilyRow& fr : f.rows) {
      for (size_t i : fr.runs) {
        h += fmt::format(" <a href=\"#{}\">{}/{}</a>", Anchor(i), Escape(f.name), Escape(fr.name));
      }
    }
    h += "</figcaption>\n</figure>\n</section>\n";
  }
  return h;
}

const char* const kCss = R"(
body{font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#222;
background:#fff;margin:0}
main{max-width:1100px;margin:0 auto;padding:16px 24px}
h1{font-size:1.6em;margin:.4em 0}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
h3{font-size:1.05em;margin:1.2em 0 .3em}
.family{display:flex;flex-wrap:wrap;gap:8px;margin:6px 0}.family .panel{flex:1 1 480px;min-width:0}
.family figcaption{flex-basis:100%;font-size:14px;color:#444}
table{border-collapse:collapse;font-size:14px;width:100%}
th,td{padding:4px 8px;border-bottom:1px solid #e4e4e4;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left;white-space:normal;overflow-wrap:anywhere}
th{background:#f3f3f3;position:sticky;top:0}
.PASS{color:#1a7f37;font-weight:600}.FAIL{color:#cf222e;font-weight:600}.SKIP{color:#9a6700}
.facts{font-size:14px;color:#444}.nodata{color:#888;font-style:italic;margin:.3em 0}
.error{color:#cf222e}
svg{display:block;width:100%;height:auto;margin:10px 0;font-family:inherit}
svg .title{font-size:15px;font-weight:600;fill:#222}
svg .tick{font-size:12px;fill:#555}svg .axislabel{font-size:13px;fill:#222}
svg .note,svg .legend{font-size:12px;fill:#333}svg .stalltext{fill:#c62828;font-weight:600}
svg .rowname{font-weight:600}
svg .frame{fill:none;stroke:#999}svg .grid{stroke:#eee}svg .axis{stroke:#999}
svg .bar,svg .bar2,svg .bar3{stroke:#fff;stroke-width:1}
svg .bar{fill:#4c78a8}svg .bar2{fill:#72b7b2}svg .bar3{fill:#b279a2}svg .bar4{fill:#54a24b}
svg .sync{fill:#6a51a3}svg .downtime{fill:#f58518;opacity:.25}
svg .marker{stroke:#333;stroke-dasharray:4 3}svg .marker2{stroke:#888;stroke-dasharray:2 3}svg .blackout{stroke:#d62728;stroke-width:2;stroke-dasharray:6 3}
svg .series{fill:none;stroke:#4c78a8;stroke-width:2}svg .dot{fill:#4c78a8;fill-opacity:.8}
svg .stem{stroke:#4c78a8}
)";

std::string Html(const std::vector<fs::path>& dirs, const Collected& c) {
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>migtest report</title>\n<style>";
  h += kCss;
  h += "</style></head>\n<body><main>\n<h1>migtest report</h1>\n<p class=\"facts\">From ";
  for (size_t i = 0; i < dirs.size(); ++i) {
    h += (i ? ", " : "") + std::string("<code>") + Escape(dirs[i].string()) + "</code>";
  }
  h += ": " + Escape(Counts(c)) + ".</p>\n";
  if (!c.unreadable.empty()) {
    h += "<p class=\"error\">Unreadable result files:</p><ul class=\"error\">\n";
    for (const auto& u : c.unreadable) h += "<li>" + Escape(u) + "</li>\n";
    h += "</ul>\n";
  }
  h += "<h2>Summary</h2>\n<table>\n<thead><tr>";
  for (const auto& th : TableHead()) h += "<th>" + Escape(th) + "</th>";
  h += "</tr></thead>\n<tbody>\n";
  for (size_t i = 0; i < c.runs.size(); ++i) {
    const Row& r = c.runs[i].row;
    auto cells = TableCells(r);
    h += "<tr>";
    for (size_t k = 0; k < cells.size(); ++k) {
      if (k == 0 && !c.runs[i].doc.is_null()) {
        h += fmt::format("<td><a href=\"#{}\">{}</a></td>", Anchor(i), Escape(cells[k]));
      } else if (k == 1) {
        h += fmt::format("<td class=\"{}\">{}</td>", Escape(cells[k]), Escape(cells[k]));
      } else {
        h += "<td>" + Escape(cells[k]) + "</td>";
      }
    }
    h += "</tr>\n";
  }
  h += "</tbody></table>\n";
  for (const auto& r : c.runs) {
    if (r.verdict.text == "FAIL") {
      h += fmt::format("<p class=\"facts\"><span class=\"FAIL\">FAIL</span> {}: {}</p>\n",
                       Escape(r.row.test), Escape(r.verdict.first_failure.substr(0, 400)));
    }
  }

  // Repetitions: tests with several runs.
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> reps;
  std::map<std::string, int> count;
  for (const auto& r : c.runs) {
    if (!r.doc.is_null()) ++count[IdOf(r.row)];
  }
  for (const auto& r : c.runs) {
    if (r.doc.is_null() || count[IdOf(r.row)] < 2) continue;
    // A failed, cancelled, unverified or unhealthy run's times are not drawn among good ones.
    if (!r.timings) continue;
    if (!r.result.migration) continue;
    const migtest::MigrationResult& m = *r.result.migration;
    auto& [down, total] = reps[IdOf(r.row)];
    if (auto v = migtest::JudgedDowntime(m)) down.push_back(MsOf(*v));
    if (m.total_time) total.push_back(MsOf(*m.total_time));
  }
  if (!reps.empty()) {
    h += "<h2>Repeated tests</h2>\n";
    for (int which = 0; which < 2; ++which) {
      std::vector<std::pair<std::string, std::vector<double>>> tests;
      for (const auto& [id, v] : reps) {
        const auto& values = which == 0 ? v.first : v.second;
        if (!values.empty()) tests.emplace_back(id, values);
      }
      const char* name = which == 0 ? "Downtime per run" : "Total time per run";
      h += tests.empty() ? fmt::format("<p class=\"nodata\">no data: {}</p>\n", name)
                         : StripPlot(name, which == 0 ? "downtime" : "total time", tests);
    }
  }
  h += FamiliesSection(c);

  for (size_t i = 0; i < c.runs.size(); ++i) {
    const Run& r = c.runs[i];
    if (r.doc.is_null()) continue;
    const json& j = r.doc;
    const json m = j.value("migration", json::object());
    h += fmt::format("<section id=\"{}\">\n<h2>{} <span class=\"{}\">{}</span></h2>\n", Anchor(i),
                     Escape(r.row.test), Escape(r.row.verdict), Escape(r.row.verdict));
    std::string facts = fmt::format("status {}, downtime {}, total {}, iterations {}", r.row.status,
                                    r.row.downtime, r.row.total, r.row.iterations);
    if (r.result.migration) {
      if (auto beside = migtest::ReportedDowntimeBeside(*r.result.migration)) {
        facts =
            fmt::format("status {}, downtime {} ({} {}), total {}, iterations {}", r.row.status,
                        r.row.downtime, migtest::ReportedDowntimeName(r.result.migration->format),
                        migtest::FormatDuration(*beside), r.row.total, r.row.iterations);
      }
    }
    if (auto sc = j.find("scenario"); sc != j.end() && sc->is_object()) {
      for (const char* k :
           {"name", "backend", "mode", "memory_mib", "dirty_rate_mib_s", "pattern"}) {
        if (sc->contains(k)) {
          const json& v = (*sc)[k];
          facts += fmt::format(", {} {}", k, v.is_string() ? v.get<std::string>() : v.dump());
        }
      }
    }
    h += "<p class=\"facts\">" + Escape(facts) + "<br>file <code>" + Escape(r.row.file.string()) +
         "</code></p>\n";
    if (m.contains("error") && m["error"].is_string()) {
      h += "<p class=\"error\">" + Escape(m["error"].get<std::string>()) + "</p>\n";
    }
    std::vector<std::string> missing;
    const migtest::MigrationResult mr = r.result.migration.value_or(migtest::MigrationResult{});
    for (std::string plot :
         {BytesPlot(m, mr), DirtiedPlot(m), BreakdownPlot(m, mr), DevicesPlot(mr), DirtierPlot(j),
          PostcopyPlot(m), RttPlot(j), SpikesPlot(j)}) {
      if (!plot.empty() && plot[0] == kNoData) {
        missing.push_back(Escape(plot.substr(1)));
      } else {
        h += plot;
      }
    }
    if (!missing.empty()) {
      h += "<p class=\"nodata\">no data: ";
      for (size_t k = 0; k < missing.size(); ++k) h += (k ? ", " : "") + missing[k];
      h += "</p>\n";
    }
    h += "</section>\n";
  }
  h += "</main></body></html>\n";
  return h;
}

std::string MarkdownCell(std::string s) {
  std::string out;
  for (char ch : s) {
    if (ch == '|')
      out += "\\|";
    else if (ch == '\n')
      out += ' ';
    else
      out += ch;
  }
  return out;
}

std::string Markdown(const Collected& c) {
  std::string md = "| ";
  const auto head = TableHead();
  for (const auto& th : head) md += th + " | ";
  md.pop_back();
  md += "\n|";
  for (size_t i = 0; i < head.size(); ++i) md += i == 0 ? " :--- |" : " ---: |";
  md += "\n";
  for (const auto& r : c.runs) {
    md += "|";
    for (const auto& cell : TableCells(r.row)) md += " " + MarkdownCell(cell) + " |";
    md += "\n";
  }
  md += "\n" + Counts(c) + "\n";
  return md;
}

int Report(const std::vector<fs::path>& dirs, const std::vector<fs::path>& junit,
           const fs::path& out, bool markdown) {
  Collected c;
  try {
    c = Collect(dirs, junit);
  } catch (const std::exception& e) {
    std::cerr << "migtest-report: " << e.what() << "\n";
    return 2;
  }
  if (markdown) std::cout << Markdown(c);
  if (!out.empty()) {
    std::ofstream f(out, std::ios::binary | std::ios::trunc);
    f << Html(dirs, c);
    f.close();
    if (!f) {
      std::cerr << "migtest-report: cannot write " << out.string() << "\n";
      return 2;
    }
  }
  return c.unreadable.empty() ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"migtest-report: summaries and reports of migtest runs"};
  app.require_subcommand(0, 1);
  fs::path dir;
  std::vector<fs::path> junit;
  auto* summary = app.add_subcommand(
      "summary", "one row per test from DIR's result.json files and JUnit XML verdicts");
  summary->add_option("DIR", dir, "the artifact folder (MIGTEST_ARTIFACTS)")->required();
  summary->add_option("--junit", junit, "gtest JUnit XML files (default: every *.xml under DIR)")
      ->check(CLI::ExistingFile);
  std::vector<fs::path> dirs;
  fs::path out;
  bool markdown = false;
  app.add_option("DIR", dirs, "artifact folders: every result.json and result-*.json under them");
  app.add_option("-o,--output", out, "write the HTML report (one self-contained file) here");
  app.add_flag("--markdown", markdown, "print the summary table as Markdown (CI job summaries)");
  app.add_option("--junit", junit, "gtest JUnit XML files (default: every *.xml under the DIRs)")
      ->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);
  try {
    if (*summary) return Summary(dir, junit);
    if (dirs.empty() || (out.empty() && !markdown)) {
      std::cerr << "migtest-report: give `summary DIR`, or DIR... with -o report.html and/or "
                   "--markdown\n"
                << app.help();
      return 2;
    }
    return Report(dirs, junit, out, markdown);
  } catch (const std::exception& e) {
    std::cerr << "migtest-report: " << e.what() << "\n";
    return 2;
  }
}
