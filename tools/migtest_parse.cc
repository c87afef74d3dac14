// migtest-parse: turns migration logs of any supported format into result.json documents.
//
//   migtest-parse [--format NAME] [--pretty] [--summary] [--all-runs] FILE...
//
// NAME: auto (the default: detected from content) or a format's name (migtest-parse --help lists
// them; migtest::FormatNames()).
//
// Exit status: 0 parsed, 1 a file did not parse (file:line: expected …, found …), 2 usage.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <string>
#include <vector>

#include "migtest/results.hpp"

namespace {

std::string Ms(const std::optional<migtest::Duration>& d) {
  if (!d) return "-";
  return fmt::format("{:.1f}ms", static_cast<double>(d->count()) / 1000.0);
}

void PrintSummary(const std::vector<migtest::RunResult>& runs) {
  fmt::print("{:<40} {:<17} {:<10} {:>12} {:>12} {:>6} {:>12} {:>12}\n", "source", "format",
             "status", "total", "downtime", "iters", "worst stall", "blackout");
  for (const auto& run : runs) {
    std::string status = "-", total = "-", downtime = "-", iters = "-", stall = "-";
    if (run.migration) {
      const auto& m = *run.migration;
      status = std::string(migtest::ToString(m.status));
      total = Ms(m.total_time);
      downtime = Ms(m.downtime);
      iters = m.iterations.empty() ? "-" : std::to_string(m.iterations.size());
      if (auto worst = migtest::WorstStall(m)) stall = Ms(worst->duration);
    }
    std::string blackout = run.probe ? Ms(run.probe->longest_blackout) : "-";
    std::string source =
        run.source.size() > 40 ? "…" + run.source.substr(run.source.size() - 39) : run.source;
    fmt::print("{:<40} {:<17} {:<10} {:>12} {:>12} {:>6} {:>12} {:>12}\n", source,
               migtest::ToString(run.format), status, total, downtime, iters, stall, blackout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Parse migration logs (TLMZ, QEMU debug/QMP, cloud-hypervisor, mig_mon, migtest "
      "JSON) into result.json"};
  std::string format_name = "auto";
  bool pretty = false, summary = false, all_runs = false;
  std::vector<std::string> files;
  app.add_option("--format,-f", format_name, "input format")
      ->check(CLI::IsMember(migtest::FormatNames()));
  app.add_flag("--pretty", pretty, "indent the JSON");
  app.add_flag("--summary", summary, "print a human table instead of JSON");
  app.add_flag("--all-runs", all_runs, "every run a file holds, not only the first");
  app.add_option("files", files, "log files")->required()->check(CLI::ExistingFile);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return e.get_exit_code() == 0 ? code : 2;
  }
  const migtest::Format format = *migtest::FormatFromString(format_name);
  std::vector<migtest::RunResult> results;
  try {
    for (const auto& file : files) {
      auto runs = migtest::ParseFileRuns(file, format);
      if (!all_runs) runs.resize(1);
      for (auto& run : runs) results.push_back(std::move(run));
    }
  } catch (const migtest::ParseError& e) {
    fmt::print(stderr, "migtest-parse: {}\n", e.what());
    return 1;
  }
  if (summary) {
    PrintSummary(results);
  } else {
    for (const auto& run : results) fmt::print("{}\n", migtest::ToJsonString(run, pretty ? 2 : -1));
  }
  return 0;
}
