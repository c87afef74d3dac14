// migtest-compare's A/B answer, computed once: what the text (or Markdown) output prints and what
// the HTML page (--html) draws are the same runs, findings, comparisons and verdict line.
#pragma once

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compare/stats.hpp"
#include "migtest/results/model.hpp"

namespace migtest::internal::compare {

namespace fs = std::filesystem;

// One result.json: its figures by metric (ms, except iterations, µs for postcopy, MiB/s).
struct Run {
  fs::path file;
  std::map<std::string, double> values;
  std::string downtime_from;  // which key the downtime came from
  // What went wrong with it (outcome before timings); its timings count only when TimingsCount.
  std::vector<RunProblem> problems;
  bool timings = true;
  bool Has(RunProblem::Kind kind) const {
    return std::any_of(problems.begin(), problems.end(),
                       [&](const RunProblem& p) { return p.kind == kind; });
  }
  // Its test's own verdict (result.json `verdict`) when the test passed or failed; nullopt when it
  // has none (a parsed log) or the test was skipped.
  std::optional<TestVerdict::Outcome> verdict;
  // A run whose migration did not complete and whose test passed: a catalogue row QEMU must cancel
  // or refuse (cancel/*, negative/*, a mismatched TLS). An expected outcome, not a failure; its
  // timings are still never pooled with completed runs' (TimingsCount says no).
  bool ExpectedNotCompleted() const {
    using K = RunProblem::Kind;
    return verdict == TestVerdict::Outcome::kPassed && Has(K::kNotCompleted) && !Has(K::kHarness);
  }
  // A failed run for the failure-rate rule. With a test's verdict, the verdict says (a harness
  // failure is one whatever it says): a run that did not complete as its test expects is not one,
  // a run whose test failed is one whatever its status. Without one (parsed logs): it did not
  // complete (the harness's failures too), or its test failed.
  bool Failed() const {
    using K = RunProblem::Kind;
    if (Has(K::kHarness)) return true;
    if (verdict) return *verdict == TestVerdict::Outcome::kFailed;
    return Has(K::kNotCompleted) || Has(K::kTestFailed);
  }
  // A migration that did not complete and was not expected to end so (or that the harness could
  // not measure): the "did not complete" rule's count.
  bool FailedToComplete() const {
    using K = RunProblem::Kind;
    return Has(K::kHarness) || (Has(K::kNotCompleted) && !ExpectedNotCompleted());
  }
  // What a problem of this run is called where runs are listed: "not completed", or "did not
  // complete, as its test expects" for an expected one.
  std::string Label(const RunProblem& p) const {
    if (p.kind == RunProblem::Kind::kNotCompleted && ExpectedNotCompleted()) {
      return std::string(kExpectedNotCompleted);
    }
    return std::string(ToString(p.kind));
  }
  static constexpr const char* kExpectedNotCompleted = "did not complete, as its test expects";
  // The folder a person opens: the run's own.
  fs::path Folder() const { return file.parent_path(); }
};

// One folder's runs by test, and the phase names in the order they first appeared.
struct Side {
  fs::path dir;
  std::map<std::string, std::vector<Run>> tests;
  std::vector<std::string> phases;
  size_t runs = 0;
};

enum class Verdict {
  kRegression,
  kImprovement,
  kBelowThreshold,
  kNotSignificant,
  kNotComparable,
  kNoData
};

struct Comparison {
  std::string test, metric;
  std::vector<double> a, b;  // baseline (or the window), candidate (or the newest night)
  MeanSd sa, sb;
  std::optional<double> change;  // percent of the baseline mean
  std::optional<double> p;
  Verdict verdict = Verdict::kNoData;
  std::string text;  // the verdict as printed
};

// A candidate run behind an outcome finding: its folder and why ("memory not verified: …").
struct FindingRun {
  fs::path folder;
  std::string why;
};

// One outcome regression of one test: what the rule found, and the candidate runs behind it.
struct OutcomeFinding {
  std::string test;
  std::string what;  // one line: "memory not verified in 3 of 5 candidate runs, …"
  std::vector<FindingRun> runs;
};

// Everything an A/B comparison concluded, for the renderers.
struct Ab {
  Side base, cand;
  std::vector<std::vector<std::string>> outcome_rows;  // two per test: baseline, candidate
  std::vector<OutcomeFinding> findings;
  std::vector<Comparison> comparisons;  // per test, per metric with data on either side
  std::vector<std::string> notes;
  std::string rule;  // how a regression is decided, one line
  size_t regressions = 0, improvements = 0;
  std::string verdict;  // the last line: "verdict: no regression" or "verdict: REGRESSION: …"
  bool Regressed() const { return regressions > 0 || !findings.empty(); }
};

struct MetricInfo {
  std::string unit;  // "ms", "us", "MiB/s", or "" (a count)
  bool higher_is_better = false;
  // The smallest change of the mean that is judged, in `unit`: below it a change is within the
  // clocks' and the runner's jitter whatever its percentage (a 0.04 ms phase that became 0.14 ms
  // is +255 % and means nothing).
  double floor = 0;
};
// The metrics in the order they are printed; `phase:<name>` rows (QEMU trace phases of the
// downtime) follow in the order the phases first appear.
const std::vector<std::pair<std::string, MetricInfo>>& KnownMetrics();
MetricInfo InfoOf(const std::string& metric);

// Digits by magnitude: 0.85 ms, 61.2 ms, 1843 ms.
int Digits(double v);
std::string Num(double v, int digits);

// Table cells, as both renderers print them.
std::string ChangeCell(const std::optional<double>& change);
std::string PCell(const std::optional<double>& p);
std::string MeanCell(const MeanSd& s, const MeanSd& other);
std::string MetricCell(const std::string& metric);
const std::vector<std::string>& OutcomeHead();
// "3 (2 not completed, 1 memory not verified)": the runs left out of the timings, and why.
std::string LeftOut(const std::vector<Run>& runs);

// The A/B page: one self-contained HTML file (inline SVG and CSS, no scripts), the verdict first.
// Links to run folders are relative to `page` when the page lies in a folder holding both compared
// folders, else file:// URLs.
std::string AbPage(const Ab& ab, const fs::path& page);

}  // namespace migtest::internal::compare
