// migtest-compare --html: the A/B page. One self-contained file (inline SVG and CSS, no scripts,
// no network), so that a merge gate's artifact opens anywhere years later. In this order:
//  - the verdict: the text output's `verdict:` line, each outcome finding with its candidate run
//    folders (linked), each timing regression with its metric, change and p;
//  - per test: both sides' outcome counts (the outcome table's rows), then per compared metric a
//    strip plot, one dot per run, A (baseline) above B (candidate), each side's mean as a bar; a
//    regression's plot is framed red and says so. Runs left out of the timings (not completed,
//    unverified, a sick guest, unmeasured) are drawn in rows of their own, never among the good;
//  - each run's summary.txt (else its folder), linked.
// Every string that comes from a result.json (test names, reasons, paths) is escaped.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <system_error>

#include "compare/ab.hpp"
#include "report/strip_plot.hpp"
#include "report/svg.hpp"

namespace migtest::internal::compare {
namespace {

constexpr const char* kSideA = "A (baseline)";
constexpr const char* kSideB = "B (candidate)";

// A path as a URL path: every byte but unreserved characters and '/' percent-encoded, so that a
// folder named with spaces, '#' or '?' still links to itself.
std::string UrlPath(const std::string& path) {
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

fs::path Absolute(const fs::path& p) {
  std::error_code ec;
  fs::path a = fs::weakly_canonical(fs::absolute(p, ec), ec);
  return ec ? fs::absolute(p).lexically_normal() : a;
}

bool Inside(const fs::path& p, const fs::path& dir) {
  const fs::path rel = p.lexically_relative(dir);
  return !rel.empty() && *rel.begin() != "..";
}

// Links to run folders: relative to the page when the page lies in a folder holding both compared
// folders (ci/ab's <out>/ab.html beside <out>/baseline and <out>/candidate: the archive keeps
// working when moved), else file:// URLs of absolute paths.
class Linker {
 public:
  Linker(const Ab& ab, const fs::path& page)
      : dir_(Absolute(page).parent_path()),
        relative_(Inside(Absolute(ab.base.dir), dir_) && Inside(Absolute(ab.cand.dir), dir_)) {}

  // The run folder's summary.txt (open it first), else the folder itself.
  std::string Href(const fs::path& folder) const {
    fs::path target = folder / "summary.txt";
    std::error_code ec;
    if (!fs::is_regular_file(target, ec)) target = folder;
    const fs::path abs = Absolute(target);
    if (relative_) return UrlPath(abs.lexically_relative(dir_).generic_string());
    return "file://" + UrlPath(abs.generic_string());
  }

 private:
  fs::path dir_;
  bool relative_;
};

std::string Link(const Linker& link, const fs::path& folder, const std::string& text) {
  return fmt::format(R"(<a href="{}">{}</a>)", Escape(link.Href(folder)), Escape(text));
}

// The folder of a run as its side names it: "run-3/PrecopySlo/Busy".
std::string ShortName(const Run& r, const Side& side) {
  const fs::path rel = r.Folder().lexically_relative(side.dir);
  return rel.empty() ? r.Folder().string() : rel.string();
}

bool NaturalLess(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) &&
        std::isdigit(static_cast<unsigned char>(b[j]))) {
      size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
      const std::string x = a.substr(i, ie - i), y = b.substr(j, je - j);
      if (x.size() != y.size()) return x.size() < y.size();
      if (x != y) return x < y;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

std::string UnitLabel(const std::string& metric) {
  const std::string unit = InfoOf(metric).unit;
  if (unit.empty()) return "count";
  return unit == "us" ? "µs" : unit;
}

std::string FigureId(size_t test, size_t figure) { return fmt::format("t{}-m{}", test, figure); }

// The runs of one side for one metric: those whose timings count, and those left out.
struct SideValues {
  std::vector<double> good, out;
  std::vector<std::string> good_tips, out_tips;
};

SideValues ValuesOf(const std::vector<Run>& runs, const Side& side, const std::string& metric,
                    const char* label) {
  SideValues v;
  for (const Run& r : runs) {
    auto it = r.values.find(metric);
    if (it == r.values.end()) continue;  // absent, never drawn as 0
    const std::string tip = fmt::format("{} {}: {} {}", label, ShortName(r, side),
                                        Num(it->second, Digits(it->second)), UnitLabel(metric));
    if (r.timings) {
      v.good.push_back(it->second);
      v.good_tips.push_back(tip);
    } else {
      v.out.push_back(it->second);
      v.out_tips.push_back(
          tip + (r.ExpectedNotCompleted()
                     ? fmt::format(" (left out of timings: {})", Run::kExpectedNotCompleted)
                     : std::string(" (left out of timings)")));
    }
  }
  return v;
}

std::string Figure(const Comparison& c, const Ab& ab, const std::string& id) {
  const std::vector<Run>& base_runs = ab.base.tests.at(c.test);
  const std::vector<Run>& cand_runs = ab.cand.tests.at(c.test);
  const SideValues a = ValuesOf(base_runs, ab.base, c.metric, kSideA);
  const SideValues b = ValuesOf(cand_runs, ab.cand, c.metric, kSideB);
  std::vector<StripRow> rows;
  std::vector<std::pair<size_t, double>> means;  // row, mean
  auto add = [&](const SideValues& v, const char* label, const char* cls) {
    if (!v.good.empty()) means.emplace_back(rows.size(), Summarize(v.good).mean);
    rows.push_back({.label = v.good.empty() ? fmt::format("{}: absent", label)
                                            : fmt::format("{}: {} run{}", label, v.good.size(),
                                                          v.good.size() == 1 ? "" : "s"),
                    .values = v.good,
                    .tooltips = v.good_tips,
                    .cls = cls});
    if (!v.out.empty()) {
      rows.push_back({.label = fmt::format("{}: {} left out of timings", label, v.out.size()),
                      .values = v.out,
                      .tooltips = v.out_tips,
                      .cls = "dotout"});
    }
  };
  add(a, kSideA, "dotA");
  add(b, kSideB, "dotB");

  double lo = INFINITY, hi = -INFINITY;
  for (const auto* v : {&a.good, &a.out, &b.good, &b.out}) {
    for (double x : *v) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
  }
  const double pad = (hi > lo ? hi - lo : std::max(std::abs(hi), 1.0)) * 0.1;
  const double axis_lo = lo >= 0 ? std::max(0.0, lo - pad) : lo - pad;
  const bool regression = c.verdict == Verdict::kRegression;
  const std::string title = fmt::format(
      "{}: {}{}", MetricCell(c.metric),
      c.p ? fmt::format("change {}, p = {}, ", ChangeCell(c.change), PCell(c.p)) : "", c.text);
  Svg plot = StripPlot(title,
                       {.lo = axis_lo,
                        .hi = hi + pad,
                        .label = fmt::format("{} ({})", c.metric, UnitLabel(c.metric))},
                       rows);
  for (const auto& [row, mean] : means) {
    const double y = StripRowY(row, rows.size());
    plot.Line(mean, y - 0.35, mean, y + 0.35, "mean");
  }

  std::string h =
      fmt::format("<figure class=\"metric{}\" id=\"{}\">\n", regression ? " regression" : "", id);
  if (regression) {
    h += fmt::format("<p class=\"flag\">REGRESSION: {} {}, p = {}</p>\n", Escape(c.metric),
                     Escape(ChangeCell(c.change)), Escape(PCell(c.p)));
  }
  h += plot.Finish();
  h += fmt::format(
      "<figcaption><span class=\"sideA\">{}</span> {} &middot; <span class=\"sideB\">{}</span> {} "
      "&middot; change {} &middot; p {} &middot; {} (bars: means of the runs whose timings "
      "count)</figcaption>\n</figure>\n",
      kSideA, Escape(MeanCell(c.sa, c.sb)), kSideB, Escape(MeanCell(c.sb, c.sa)),
      Escape(ChangeCell(c.change)), Escape(PCell(c.p)), Escape(c.text));
  return h;
}

std::string RunLinks(const Linker& link, const Side& side, const std::vector<Run>& runs,
                     const char* label, const char* cls) {
  std::string h = fmt::format("<p class=\"runs\"><span class=\"{}\">{}</span>:", cls, label);
  // run-2 before run-10: digits compare as numbers.
  std::vector<const Run*> sorted;
  for (const Run& r : runs) sorted.push_back(&r);
  std::stable_sort(sorted.begin(), sorted.end(), [&](const Run* x, const Run* y) {
    return NaturalLess(ShortName(*x, side), ShortName(*y, side));
  });
  for (const Run* run : sorted) {
    const Run& r = *run;
    std::string why;
    for (const auto& p : r.problems) why += (why.empty() ? "" : "; ") + r.Label(p);
    h += " " + Link(link, r.Folder(), ShortName(r, side));
    // A run that did not complete as its test expects is no failure: said, not in red.
    const char* why_cls = r.ExpectedNotCompleted() && r.problems.size() == 1 ? "expected" : "why";
    if (!why.empty()) h += fmt::format(" <span class=\"{}\">(", why_cls) + Escape(why) + ")</span>";
  }
  return h + "</p>\n";
}

const char* const kCss = R"(
body{font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#222;
background:#fff;margin:0}
main{max-width:1100px;margin:0 auto;padding:16px 24px}
h1{font-size:1.6em;margin:.4em 0}h2{font-size:1.3em;margin-top:1.6em;border-bottom:1px solid #ddd}
h3{font-size:1.05em;margin:1em 0 .3em}
table{border-collapse:collapse;font-size:14px;width:100%}
th,td{padding:4px 8px;border-bottom:1px solid #e4e4e4;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left;white-space:normal;overflow-wrap:anywhere}
th{background:#f3f3f3}td.sideA,td.sideB{white-space:nowrap;overflow-wrap:normal}
code,.runs a,.findings a{overflow-wrap:anywhere}
.verdict{padding:10px 16px;border-radius:6px;margin:12px 0}
.verdict h2{margin-top:0;border:0}
.regressed{background:#fff0f0;border:2px solid #cf222e}.clean{background:#effaf1;border:2px solid #1a7f37}
.verdictline{font-size:1.1em;font-weight:600;overflow-wrap:anywhere}
.regressed .verdictline{color:#a40e26}.clean .verdictline{color:#116329}
.facts,.runs,figcaption,.notes{font-size:14px;color:#444}.why{color:#a40e26}.expected{color:#555}
.sideA{color:#2f5d8a;font-weight:600}.sideB{color:#b35c00;font-weight:600}
figure{margin:14px 0;padding:4px 8px;border:1px solid #e4e4e4;border-radius:6px}
figure.regression{border:3px solid #cf222e}.flag{color:#cf222e;font-weight:700;margin:.3em 0}
svg{display:block;width:100%;height:auto;margin:6px 0;font-family:inherit}
svg .title{font-size:15px;font-weight:600;fill:#222}
svg .tick{font-size:12px;fill:#555}svg .axislabel{font-size:13px;fill:#222}
svg .note{font-size:13px;fill:#333}svg .rowname{font-weight:600}
svg .frame{fill:none;stroke:#999}svg .grid{stroke:#eee}svg .axis{stroke:#999}
figure.regression svg .frame{stroke:#cf222e;stroke-width:2}
svg .dotA{fill:#4c78a8;fill-opacity:.85}svg .dotB{fill:#f58518;fill-opacity:.85}
svg .dotout{fill:none;stroke:#888;stroke-width:1.5}
svg .mean{stroke:#222;stroke-width:3}
)";

}  // namespace

std::string AbPage(const Ab& ab, const fs::path& page) {
  const Linker link(ab, page);
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  h += fmt::format("<title>migtest A/B: {}</title>\n<style>{}</style></head>\n<body><main>\n",
                   ab.Regressed() ? "REGRESSION" : "no regression", kCss);
  h += fmt::format(
      "<h1>migtest A/B: <span class=\"sideA\">{}</span> vs <span class=\"sideB\">{}"
      "</span></h1>\n",
      kSideA, kSideB);

  // The answer first: the text output's last line, then what it is made of.
  h += fmt::format(
      "<section id=\"verdict\" class=\"verdict {}\">\n<h2>Verdict</h2>\n"
      "<p class=\"verdictline\">{}</p>\n",
      ab.Regressed() ? "regressed" : "clean", Escape(ab.verdict));
  if (!ab.findings.empty()) {
    h += "<h3>Outcome regressions (judged before timings)</h3>\n<ol class=\"findings\">\n";
    for (const auto& f : ab.findings) {
      h += fmt::format("<li><b>{}</b>: {}<ul>\n", Escape(f.test), Escape(f.what));
      for (const auto& r : f.runs) {
        h += "<li>" + Link(link, r.folder, r.folder.string()) + ": " + Escape(r.why) + "</li>\n";
      }
      h += "</ul></li>\n";
    }
    h += "</ol>\n";
  }
  // Figure ids, in the order the per-test sections draw them.
  std::map<const Comparison*, std::string> ids;
  std::map<std::string, size_t> test_index;
  for (const auto& [test, runs] : ab.base.tests) test_index.emplace(test, test_index.size());
  {
    std::map<std::string, size_t> per_test;
    for (const auto& c : ab.comparisons) {
      ids[&c] = FigureId(test_index.at(c.test), per_test[c.test]++);
    }
  }
  if (ab.regressions > 0) {
    h += fmt::format(
        "<h3>Timing regressions</h3>\n<table>\n<thead><tr><th>test</th><th>metric</th>"
        "<th>{} mean ± sd (n)</th><th>{} mean ± sd (n)</th><th>change</th><th>p</th></tr></thead>"
        "\n<tbody>\n",
        kSideA, kSideB);
    for (const auto& c : ab.comparisons) {
      if (c.verdict != Verdict::kRegression) continue;
      h += fmt::format(
          "<tr class=\"regression\"><td>{}</td><td><a href=\"#{}\">{}</a></td><td>{}</td>"
          "<td>{}</td><td>{}</td><td>{}</td></tr>\n",
          Escape(c.test), ids.at(&c), Escape(MetricCell(c.metric)), Escape(MeanCell(c.sa, c.sb)),
          Escape(MeanCell(c.sb, c.sa)), Escape(ChangeCell(c.change)), Escape(PCell(c.p)));
    }
    h += "</tbody></table>\n";
  }
  if (!ab.notes.empty()) {
    h += "<ul class=\"notes\">\n";
    for (const auto& n : ab.notes) h += "<li>note: " + Escape(n) + "</li>\n";
    h += "</ul>\n";
  }
  h += "</section>\n";
  h += fmt::format(
      "<p class=\"facts\"><span class=\"sideA\">{}</span> <code>{}</code>, {} runs; "
      "<span class=\"sideB\">{}</span> <code>{}</code>, {} runs. {}.</p>\n",
      kSideA, Escape(ab.base.dir.string()), ab.base.runs, kSideB, Escape(ab.cand.dir.string()),
      ab.cand.runs, Escape(ab.rule));

  // Per test: its outcome rows (two per test, in the tests' order), its figures, its runs.
  size_t i = 0;
  for (const auto& [test, base_runs] : ab.base.tests) {
    const auto& cand_runs = ab.cand.tests.at(test);
    h += fmt::format("<section class=\"test\" id=\"t{}\">\n<h2>{}</h2>\n<table>\n<thead><tr>", i,
                     Escape(test));
    const auto& head = OutcomeHead();
    for (size_t k = 1; k < head.size(); ++k) h += "<th>" + Escape(head[k]) + "</th>";
    h += "</tr></thead>\n<tbody>\n";
    for (size_t side = 0; side < 2; ++side) {
      const auto& row = ab.outcome_rows.at(2 * i + side);
      h += fmt::format("<tr><td class=\"{}\">{}</td>", side == 0 ? "sideA" : "sideB",
                       side == 0 ? kSideA : kSideB);
      for (size_t k = 2; k < row.size(); ++k) h += "<td>" + Escape(row[k]) + "</td>";
      h += "</tr>\n";
    }
    h += "</tbody></table>\n";
    for (const auto& c : ab.comparisons) {
      if (c.test == test) h += Figure(c, ab, ids.at(&c));
    }
    h += "<h3>Runs (each links its summary.txt)</h3>\n";
    h += RunLinks(link, ab.base, base_runs, kSideA, "sideA");
    h += RunLinks(link, ab.cand, cand_runs, kSideB, "sideB");
    h += "</section>\n";
    ++i;
  }
  h += "</main></body></html>\n";
  return h;
}

}  // namespace migtest::internal::compare
