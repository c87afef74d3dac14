// migtest-parse: turns migration logs of any supported format into result.json documents.
//
//   migtest-parse [--format NAME] [--pretty] [--summary] [--all-runs] FILE|DIR...
//
// NAME: auto (the default: detected from content) or a format's name (migtest-parse --help lists
// them; migtest::FormatNames()). A DIR stands for every file under it (an artifact folder), in
// name order. With --format auto, a file that is not a migration log (empty, no known format, a
// guest's serial console, or nothing a result holds) is skipped with a note on stderr.
//
// Exit status: 0 parsed, 1 a file did not parse (file:line: expected …, found …; the other files
// are still parsed) or no file was a migration log, 2 usage.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <string>
#include <vector>

#include "migtest/results.hpp"

namespace {

namespace fs = std::filesystem;

std::string Ms(const std::optional<migtest::Duration>& d) {
  return d ? migtest::FormatDuration(*d) : "-";
}

// A guest's serial console (the QEMU backend's *.stdout.log): kernel messages with printk
// timestamps. It may quote a dirtier's lines, which would otherwise read as a mig_mon output.
bool IsGuestConsole(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  static const std::regex printk(R"(^\[\s*\d+\.\d{6}\] )");
  for (int i = 0; i < 50 && std::getline(in, line); ++i) {
    if (std::regex_search(line, printk)) return true;
  }
  return false;
}

bool HoldsNothing(const migtest::RunResult& r) {
  return !r.migration && !r.probe && !r.dirty && !r.guest;
}

// FILE and DIR arguments as the files to parse: a folder's regular files, recursively, sorted.
std::vector<fs::path> Expand(const std::vector<std::string>& args) {
  std::vector<fs::path> files;
  for (const auto& a : args) {
    if (!fs::is_directory(a)) {
      files.emplace_back(a);
      continue;
    }
    std::vector<fs::path> found;
    for (const auto& e : fs::recursive_directory_iterator(a)) {
      if (e.is_regular_file()) found.push_back(e.path());
    }
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

void PrintSummary(const std::vector<migtest::RunResult>& runs) {
  fmt::print("{:<40} {:<17} {:<10} {:>10} {:>10} {:>6} {:>12} {:>10}  {}\n", "source", "format",
             "status", "total", "downtime", "iters", "worst stall", "blackout", "error");
  for (const auto& run : runs) {
    std::string status = "-", total = "-", downtime = "-", iters = "-", stall = "-", error;
    if (run.migration) {
      const auto& m = *run.migration;
      status = std::string(migtest::ToString(m.status));
      total = Ms(m.total_time);
      downtime = Ms(m.downtime);
      iters = m.iterations.empty() ? "-" : std::to_string(m.iterations.size());
      if (auto worst = migtest::WorstStall(m)) stall = Ms(worst->duration);
      if (m.error) error = *m.error;
    }
    std::string blackout = run.probe ? Ms(run.probe->longest_blackout) : "-";
    std::string source =
        run.source.size() > 40 ? "…" + run.source.substr(run.source.size() - 39) : run.source;
    fmt::print("{:<40} {:<17} {:<10} {:>10} {:>10} {:>6} {:>12} {:>10}  {}\n", source,
               migtest::ToString(run.format), status, total, downtime, iters, stall, blackout,
               error);
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
  app.add_option("files", files, "log files, or folders of them (every file under it)")
      ->required()
      ->check(CLI::ExistingPath);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return e.get_exit_code() == 0 ? code : 2;
  }
  const migtest::Format format = *migtest::FormatFromString(format_name);
  const bool detect = format == migtest::Format::kAuto;
  std::vector<migtest::RunResult> results;
  int status = 0;
  size_t skipped = 0;
  const auto skip = [&](const fs::path& file, std::string_view why) {
    fmt::print(stderr, "migtest-parse: skipped {}: {}\n", file.string(), why);
    ++skipped;
  };
  const std::vector<fs::path> paths = Expand(files);
  for (const auto& file : paths) {
    if (detect && IsGuestConsole(file)) {
      skip(file, "a guest's serial console, not a migration log");
      continue;
    }
    std::vector<migtest::RunResult> runs;
    try {
      runs = migtest::ParseFileRuns(file, format);
    } catch (const migtest::ParseError& e) {
      // Line 0 concerns the whole input (empty, unreadable); detection failing names line 1 and
      // expects "a known format". Both say "not a migration log"; anything else is a log of a
      // known format with a malformed record: an error, though the other files still count.
      if (detect && (e.line() == 0 || e.expected().starts_with("a known format"))) {
        skip(file,
             fmt::format("not a migration log (expected {}, found {})", e.expected(), e.found()));
      } else {
        fmt::print(stderr, "migtest-parse: {}\n", e.what());
        status = 1;
      }
      continue;
    }
    if (!all_runs) runs.resize(1);
    if (detect && std::all_of(runs.begin(), runs.end(), HoldsNothing)) {
      skip(file, "no migration, prober or dirtier figures in it");
      continue;
    }
    for (auto& run : runs) results.push_back(std::move(run));
  }
  if (results.empty() && status == 0) {
    fmt::print(stderr, "migtest-parse: none of the {} file{} is a migration log\n", paths.size(),
               paths.size() == 1 ? "" : "s");
    status = 1;
  }
  if (summary) {
    PrintSummary(results);
  } else {
    for (const auto& run : results) fmt::print("{}\n", migtest::ToJsonString(run, pretty ? 2 : -1));
  }
  if (skipped > 0 && summary) {
    fmt::print("({} file{} skipped: not migration logs; the notes are on stderr)\n", skipped,
               skipped == 1 ? "" : "s");
  }
  return status;
}
