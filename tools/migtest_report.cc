// migtest-report: what a run of the suites produced, for people.
//
//   migtest-report summary DIR [--junit FILE ...]
//
// `summary` finds every result.json under DIR (<Suite>/<Test>/result.json, as the fixtures write
// them), takes each test's verdict from gtest's JUnit XML files (--junit, or every *.xml under
// DIR), and prints one row per test: downtime, the guest's pause, total time, iterations, worst stall, p99 postcopy
// request latency, STOP→RESUME gap, guest blackout, the guest's health, verdict. It reads result.json's documented keys (a public
// contract: never renamed), so it also reads files written by older versions. Exit code 0 when
// every test passed (or was skipped), 1 when one failed, 2 on bad input.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Verdict {
  std::string text;  // PASS, FAIL, SKIP
  std::string first_failure;
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
      Verdict v{"PASS", ""};
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
          if (v.first_failure.empty()) {
            v.first_failure = failure.get<std::string>("<xmlattr>.message", "");
          }
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

std::string Ms(std::optional<double> ms) {
  if (!ms) return "-";
  if (*ms >= 10000) return fmt::format("{:.1f}s", *ms / 1000);
  return fmt::format("{:.0f}ms", *ms);
}
std::string Us(std::optional<double> us) {
  if (!us) return "-";
  if (*us >= 10000) return fmt::format("{:.1f}ms", *us / 1000);
  return fmt::format("{:.0f}us", *us);
}

struct Row {
  std::string test, downtime, pause, total, iterations, stall, p99, gap, blackout, guest, status, verdict;
  fs::path file;
};

Row ReadResult(const fs::path& file, const fs::path& root) {
  Row row;
  row.file = file;
  std::ifstream in(file);
  json j = json::parse(in);  // throws json::parse_error with the byte position
  fs::path rel = fs::relative(file.parent_path(), root);
  row.test = j.value("test", std::string());
  if (row.test.empty()) {
    // <Suite>/<Test>/result.json
    row.test = rel.parent_path().filename().string() + "." + rel.filename().string();
  }
  if (file.filename() != "result.json") row.test += " (" + file.stem().string() + ")";
  const json m = j.value("migration", json::object());
  row.downtime = Ms(Number(m, "/downtime_ms"_json_pointer));
  // The guest's pause measured apart from the VMM (QEMU's trace checkpoints); QEMU's own
  // downtime is the source's side only.
  row.pause = Ms(Number(m, "/guest_pause_ms"_json_pointer));
  row.total = Ms(Number(m, "/total_time_ms"_json_pointer));
  row.iterations =
      m.contains("iterations") && m["iterations"].is_array() && !m["iterations"].empty()
          ? std::to_string(m["iterations"].size())
          : "-";
  std::optional<double> worst;
  auto consider = [&](std::optional<double> v) {
    if (v && (!worst || *v > *worst)) worst = v;
  };
  if (m.contains("iterations") && m["iterations"].is_array()) {
    for (const auto& it : m["iterations"]) consider(Number(it, "/sync_ms"_json_pointer));
  }
  if (m.contains("stalls") && m["stalls"].is_array()) {
    for (const auto& st : m["stalls"]) consider(Number(st, "/duration_ms"_json_pointer));
  }
  row.stall = Ms(worst);
  row.p99 = Us(Number(m, "/postcopy_latency_us/p99"_json_pointer));
  row.gap = Ms(Number(m, "/stop_resume_gap_ms"_json_pointer));
  row.blackout = Ms(Number(j, "/probe/longest_blackout_ms"_json_pointer));
  // The guest's own verdict (VMM backends): "ok", or how many problem lines its console shows.
  row.guest = "-";
  if (auto g = j.find("guest"); g != j.end() && g->is_object()) {
    const size_t problems = g->contains("problems") && (*g)["problems"].is_array()
                                ? (*g)["problems"].size()
                                : 0;
    row.guest = problems == 0 ? "ok" : fmt::format("{} problem{}", problems, problems == 1 ? "" : "s");
  }
  row.status = m.value("status", std::string("-"));
  if (m.contains("converged") && m["converged"].is_boolean() && !m["converged"].get<bool>()) {
    row.status += ", not converged";
  }
  return row;
}

int Summary(const fs::path& dir, std::vector<fs::path> junit) {
  if (!fs::is_directory(dir)) {
    std::cerr << "migtest-report: " << dir.string() << " is not a directory\n";
    return 2;
  }
  std::vector<fs::path> results;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::string name = e.path().filename().string();
    if (name == "result.json" ||
        (name.rfind("result-", 0) == 0 && e.path().extension() == ".json")) {
      results.push_back(e.path());
    }
    if (junit.empty() && e.path().extension() == ".xml") junit.push_back(e.path());
  }
  std::sort(results.begin(), results.end());
  std::map<std::string, Verdict> verdicts;
  for (const auto& x : junit) {
    try {
      ReadJunit(x, verdicts);
    } catch (const std::exception& e) {
      std::cerr << "migtest-report: " << x.string() << ": not a JUnit XML file: " << e.what()
                << "\n";
      return 2;
    }
  }
  std::vector<Row> rows;
  int bad = 0;
  for (const auto& f : results) {
    try {
      Row r = ReadResult(f, dir);
      std::string id = r.test.substr(0, r.test.find(' '));
      auto it = verdicts.find(id);
      r.verdict = it == verdicts.end() ? "?" : it->second.text;
      rows.push_back(r);
    } catch (const std::exception& e) {
      std::cerr << "migtest-report: " << f.string() << ": " << e.what() << "\n";
      ++bad;
    }
  }
  // Tests with a verdict but no result.json (failed before migrating, or no migration at all).
  for (const auto& [id, v] : verdicts) {
    bool seen = std::any_of(rows.begin(), rows.end(),
                            [&](const Row& r) { return r.test.substr(0, r.test.find(' ')) == id; });
    if (!seen) rows.push_back(
          {id, "-", "-", "-", "-", "-", "-", "-", "-", "-", "no result.json", v.text, {}});
  }
  const std::vector<std::string> head = {
      "test",        "downtime", "guest pause", "total",  "iters",  "worst stall",
      "p99 postcopy", "stop-resume", "blackout", "guest", "status", "verdict"};
  std::vector<size_t> w(head.size());
  for (size_t i = 0; i < head.size(); ++i) w[i] = head[i].size();
  auto cells = [](const Row& r) {
    return std::vector<std::string>{r.test, r.downtime, r.pause,    r.total, r.iterations,
                                    r.stall, r.p99,     r.gap,      r.blackout, r.guest,
                                    r.status, r.verdict};
  };
  for (const auto& r : rows) {
    auto c = cells(r);
    for (size_t i = 0; i < c.size(); ++i) w[i] = std::max(w[i], c[i].size());
  }
  auto print = [&](const std::vector<std::string>& c) {
    std::string line;
    for (size_t i = 0; i < c.size(); ++i) {
      line += i == 0 ? fmt::format("{:<{}}", c[i], w[i]) : fmt::format("  {:>{}}", c[i], w[i]);
    }
    std::cout << line << "\n";
  };
  print(head);
  std::string rule;
  for (size_t i = 0; i < w.size(); ++i) rule += std::string(w[i] + (i == 0 ? 0 : 2), '-');
  std::cout << rule << "\n";
  int failed = 0, passed = 0, skipped = 0;
  for (const auto& r : rows) {
    print(cells(r));
    if (r.verdict == "FAIL") ++failed;
    if (r.verdict == "PASS") ++passed;
    if (r.verdict == "SKIP") ++skipped;
  }
  std::cout << fmt::format("\n{} tests: {} passed, {} failed, {} skipped", rows.size(), passed,
                           failed, skipped);
  if (bad) std::cout << fmt::format(", {} unreadable result files", bad);
  std::cout << "\n";
  // Why tests were skipped, once per distinct reason.
  std::map<std::string, int> skip_reasons;
  for (const auto& [id, v] : verdicts) {
    if (v.text == "SKIP") ++skip_reasons[v.first_failure];
  }
  for (const auto& [reason, n] : skip_reasons) {
    std::string why = reason;
    std::replace(why.begin(), why.end(), '\n', ' ');
    std::cout << fmt::format("SKIP ({} tests): {}\n", n, why.empty() ? "no reason given" : why);
  }
  for (const auto& [id, v] : verdicts) {
    if (v.text == "FAIL") {
      std::string msg = v.first_failure.substr(0, 400);
      std::replace(msg.begin(), msg.end(), '\n', ' ');
      std::cout << fmt::format("FAIL {}: {}\n", id, msg);
    }
  }
  return failed > 0 || bad > 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"migtest-report: summaries of migtest runs"};
  app.require_subcommand(1);
  fs::path dir;
  std::vector<fs::path> junit;
  auto* summary = app.add_subcommand(
      "summary", "one row per test from DIR's result.json files and JUnit XML verdicts");
  summary->add_option("DIR", dir, "the artifact folder (MIGTEST_ARTIFACTS)")->required();
  summary->add_option("--junit", junit, "gtest JUnit XML files (default: every *.xml under DIR)")
      ->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);
  try {
    if (*summary) return Summary(dir, junit);
  } catch (const std::exception& e) {
    std::cerr << "migtest-report: " << e.what() << "\n";
    return 2;
  }
  return 2;
}
