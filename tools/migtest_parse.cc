// migtest-parse: turns migration logs of any supported format into result.json documents.
//
//   migtest-parse [--format NAME] [--pretty] [--summary] [--all-runs] FILE|DIR...
//
// NAME: auto (the default) or a format's name (migtest-parse --help lists them;
// migtest::FormatNames()). A DIR stands for every file under it (an artifact folder), in name
// order. With --format auto, a file of a run folder is read as the results' table of artifact
// files says (migtest/results/artifacts.hpp: by its name and the backend that wrote the folder,
// which its result.json names); a file the table does not know is detected from its content.
// What is not a result (the folder's index, command lines, build logs, an empty file, …) is
// skipped with a note on stderr saying what it is. Each run folder's files are also merged as
// the fixture merged them (migtest::MergeRunArtifacts, the same function) into a "merged" row,
// which must agree with the folder's result.json figure by figure.
//
// Exit status: 0 parsed, 1 a file did not parse (file:line: expected …, found …; the other files
// are still parsed), a run folder's files disagree with its result.json (each figure named), or no
// file was a migration log; 2 usage.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
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

// A summary row: one file's result, a guest's console, or a run folder's files merged.
struct Row {
  migtest::RunResult run{};
  std::string kind{};   // the format's name, "guest-console" or "merged"
  std::string note{};   // the last column when there is no error
  std::string where{};  // the file or folder read (the summary's first column)
};

std::string Shorten(const std::string& s, size_t width) {
  return s.size() > width ? "…" + s.substr(s.size() - (width - 1)) : s;
}

void PrintSummary(const std::vector<Row>& rows) {
  fmt::print("{:<40} {:<17} {:<10} {:>10} {:>10} {:>6} {:>12} {:>10}  {}\n", "source", "format",
             "status", "total", "downtime", "iters", "worst stall", "blackout", "error");
  for (const auto& row : rows) {
    const migtest::RunResult& run = row.run;
    std::string status = "-", total = "-", downtime = "-", iters = "-", stall = "-", error;
    if (run.migration) {
      const auto& m = *run.migration;
      status = std::string(migtest::ToString(m.status));
      total = Ms(m.total_time);
      downtime = Ms(migtest::JudgedDowntime(m));
      iters = m.iterations.empty() ? "-" : std::to_string(m.iterations.size());
      if (auto worst = migtest::WorstStall(m)) stall = Ms(worst->duration);
      if (m.error) error = *m.error;
    }
    if (error.empty()) error = row.note;
    std::string blackout = run.probe ? Ms(run.probe->longest_blackout) : "-";
    fmt::print("{:<40} {:<17} {:<10} {:>10} {:>10} {:>6} {:>12} {:>10}  {}\n",
               Shorten(row.where.empty() ? run.source : row.where, 40), row.kind, status, total,
               downtime, iters, stall, blackout, error);
  }
}

std::string GuestNote(const migtest::GuestResult& g) {
  std::string note = fmt::format("guest: {} lines, ", g.lines);
  if (g.problems.empty()) return note + "no problems";
  return note + fmt::format("{} problem{} (line {}: {})", g.problems.size(),
                            g.problems.size() == 1 ? "" : "s", g.problems.front().line,
                            g.problems.front().text);
}

// What a run folder's files are read by: its result.json's scenario (the backend, the command
// backend's parser, the downtime-limit), else the backend its file names betray.
struct Folder {
  fs::path dir{};
  std::optional<fs::path> result_json{};
  std::optional<migtest::RunResult> recorded{};
  migtest::RunFolderOptions options{};
};

Folder ReadFolder(const fs::path& dir) {
  Folder f{.dir = dir};
  std::error_code ec;
  if (fs::exists(dir / "result.json", ec)) {
    f.result_json = dir / "result.json";
  } else {
    // A test's second Migrate(): its files in runN/, its result-N.json beside that folder.
    static const std::regex run_n(R"(run(\d+))");
    std::smatch m;
    const std::string name = dir.filename().string();
    if (std::regex_match(name, m, run_n)) {
      const fs::path p = dir.parent_path() / fmt::format("result-{}.json", m[1].str());
      if (fs::exists(p, ec)) f.result_json = p;
    }
  }
  if (f.result_json) {
    try {
      f.recorded = migtest::ParseFile(*f.result_json, migtest::Format::kMigtest);
      f.options = migtest::RunFolderOptionsOf(*f.recorded);
    } catch (const migtest::ParseError&) {
      // Reported when the file itself is read.
    }
  }
  if (f.options.backend.empty()) f.options.backend = migtest::GuessBackend(dir);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Parse migration logs (TLMZ, QEMU debug/QMP/trace, cloud-hypervisor, mig_mon, migtest "
      "JSON) and artifact folders into result.json"};
  std::string format_name = "auto";
  bool pretty = false, summary = false, all_runs = false;
  std::vector<std::string> args;
  app.add_option("--format,-f", format_name, "input format")
      ->check(CLI::IsMember(migtest::FormatNames()));
  app.add_flag("--pretty", pretty, "indent the JSON");
  app.add_flag("--summary", summary, "print a human table instead of JSON");
  app.add_flag("--all-runs", all_runs, "every run a file holds, not only the first");
  app.add_option("files", args, "log files, or folders of them (every file under it)")
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
  std::vector<Row> rows;
  int status = 0;
  size_t skipped = 0, files_seen = 0;
  std::vector<std::string> agreements;
  const auto skip = [&](const fs::path& file, std::string_view why) {
    fmt::print(stderr, "migtest-parse: skipped {}: {}\n", file.string(), why);
    ++skipped;
  };
  const auto fail = [&](std::string_view what) {
    fmt::print(stderr, "migtest-parse: {}\n", what);
    status = 1;
  };
  // Parses one file as `as` (kAuto: detected); a file of no known format is skipped.
  const auto parse = [&](const fs::path& file, migtest::Format as) {
    std::vector<migtest::RunResult> runs;
    try {
      runs = migtest::ParseFileRuns(file, as);
    } catch (const migtest::ParseError& e) {
      // Line 0 concerns the whole input (empty, unreadable); detection failing names line 1 and
      // expects "a known format". Both say "not a migration log"; anything else is a log of a
      // known format with a malformed record: an error, though the other files still count.
      if (as == migtest::Format::kAuto &&
          (e.line() == 0 || e.expected().starts_with("a known format"))) {
        skip(file,
             fmt::format("not a migration log (expected {}, found {})", e.expected(), e.found()));
      } else {
        fail(e.what());
      }
      return;
    }
    if (!all_runs) runs.resize(1);
    if (as == migtest::Format::kAuto && std::all_of(runs.begin(), runs.end(), HoldsNothing)) {
      skip(file, "no migration, prober or dirtier figures in it");
      return;
    }
    for (auto& run : runs) {
      std::string kind(migtest::ToString(run.format));
      rows.push_back({std::move(run), kind, "", file.string()});
    }
  };
  const auto guest_console = [&](const fs::path& file, std::string_view what) {
    if (!summary) {
      skip(file, fmt::format("{} (read into the merged run's guest figures)", what));
      return;
    }
    try {
      migtest::RunResult run;
      run.source = file.string();
      run.guest = migtest::ParseGuestConsoleFile(file);
      std::string note = GuestNote(*run.guest);
      rows.push_back({std::move(run), "guest-console", std::move(note), file.string()});
    } catch (const migtest::ParseError& e) {
      fail(e.what());
    }
  };
  // One file the table knows (`row`), or not (nullptr: detected from its content).
  const auto read = [&](const fs::path& file, const migtest::ArtifactFile* row,
                        const migtest::RunFolderOptions& options) {
    ++files_seen;
    using K = migtest::ArtifactKind;
    std::error_code ec;
    if (fs::file_size(file, ec) == 0 && !ec) {
      skip(file, row != nullptr ? fmt::format("empty ({})", row->what)
                                : std::string("not a migration log (expected a migration log or "
                                              "result.json, found an empty input)"));
      return;
    }
    if (!detect) return parse(file, format);
    if (row == nullptr) {
      if (IsGuestConsole(file)) return guest_console(file, "a guest's serial console");
      return parse(file, migtest::Format::kAuto);
    }
    switch (row->kind) {
      case K::kNotAResult:
        return skip(file, fmt::format("not a result: {}", row->what));
      case K::kGuestConsole:
      case K::kGuestBootConsole:
        return guest_console(file, row->what);
      case K::kQemuTrace: {
        std::ifstream in(file, std::ios::binary);
        std::string head(64 * 1024, '\0');
        in.read(head.data(), static_cast<std::streamsize>(head.size()));
        head.resize(static_cast<size_t>(in.gcount()));
        if (migtest::DetectFormat(head) != migtest::Format::kQemuTrace) {
          return skip(file, fmt::format("no trace events in it ({})", row->what));
        }
        return parse(file, migtest::Format::kQemuTrace);
      }
      case K::kVmmLog: {
        std::ifstream in(file, std::ios::binary);
        std::string head(64 * 1024, '\0');
        in.read(head.data(), static_cast<std::streamsize>(head.size()));
        head.resize(static_cast<size_t>(in.gcount()));
        const migtest::Format detected = migtest::DetectFormat(head);
        const migtest::Format named =
            row->format != migtest::Format::kAuto ? row->format : options.vmm_format;
        if (detected == migtest::Format::kAuto ||
            (row->format != migtest::Format::kAuto && detected != named)) {
          return skip(file, fmt::format("no migration lines in it ({})", row->what));
        }
        return parse(file, named != migtest::Format::kAuto ? named : detected);
      }
      default:
        return parse(file, row->format);
    }
  };
  // A run folder's files merged as its backend merged them, checked against its result.json.
  const auto merge = [&](const Folder& folder) {
    const std::vector<migtest::RunArtifact> inputs =
        migtest::RunArtifactsIn(folder.dir, folder.options);
    const bool has_part = std::any_of(inputs.begin(), inputs.end(), [](const auto& a) {
      return a.kind == migtest::ArtifactKind::kProcessResult ||
             a.kind == migtest::ArtifactKind::kQmpTranscript ||
             a.kind == migtest::ArtifactKind::kVmmLog;
    });
    if (!has_part) return;
    migtest::MergedRun merged = migtest::MergeRunArtifacts(inputs, folder.options);
    for (const auto& e : merged.errors) fail(e.what());
    merged.run.source = "merged: " + folder.dir.string();
    if (!folder.recorded) {
      rows.push_back(
          {std::move(merged.run), "merged", "(no result.json to compare)", folder.dir.string()});
      return;
    }
    const std::string name = folder.result_json->string();
    std::string note;
    if (folder.recorded->extra.is_object() && folder.recorded->extra.contains("harness_error")) {
      note = "not compared: a harness failure (result.json's harness_error)";
    } else {
      const std::vector<std::string> diffs = migtest::Disagreements(*folder.recorded, merged.run);
      for (const auto& d : diffs) {
        fail(fmt::format("{}: the run's files disagree with it: {}", name, d));
      }
      note = diffs.empty() ? "agrees with " + folder.result_json->filename().string()
                           : fmt::format("DISAGREES with {} ({} figure{})",
                                         folder.result_json->filename().string(), diffs.size(),
                                         diffs.size() == 1 ? "" : "s");
      if (diffs.empty()) agreements.push_back(folder.dir.string());
    }
    rows.push_back({std::move(merged.run), "merged", std::move(note), folder.dir.string()});
  };

  for (const auto& a : args) {
    if (!fs::is_directory(a)) {
      const fs::path file(a);
      const Folder folder =
          detect ? ReadFolder(file.parent_path().empty() ? fs::path(".") : file.parent_path())
                 : Folder{};
      read(file,
           detect ? migtest::FindArtifactFile(file.filename().string(), folder.options.backend)
                  : nullptr,
           folder.options);
      continue;
    }
    // Every folder under `a` with files in it, in name order; each read as one run folder.
    std::map<fs::path, std::vector<fs::path>> by_dir;
    for (const auto& e : fs::recursive_directory_iterator(a)) {
      if (e.is_regular_file()) by_dir[e.path().parent_path()].push_back(e.path());
    }
    for (auto& [dir, files] : by_dir) {
      std::sort(files.begin(), files.end());
      const Folder folder = detect ? ReadFolder(dir) : Folder{};
      for (const auto& file : files) {
        read(file,
             detect ? migtest::FindArtifactFile(file.filename().string(), folder.options.backend)
                    : nullptr,
             folder.options);
      }
      if (detect) merge(folder);
    }
  }
  if (rows.empty() && status == 0) {
    fmt::print(stderr, "migtest-parse: none of the {} file{} is a migration log\n", files_seen,
               files_seen == 1 ? "" : "s");
    status = 1;
  }
  if (summary) {
    PrintSummary(rows);
  } else {
    for (const auto& row : rows) {
      // One document per file, as ever: the merged rows are the summary's check.
      if (row.kind == "guest-console" || row.kind == "merged") continue;
      fmt::print("{}\n", migtest::ToJsonString(row.run, pretty ? 2 : -1));
    }
  }
  if (skipped > 0 && summary) {
    fmt::print("({} file{} skipped: not results; the notes on stderr say what each is)\n", skipped,
               skipped == 1 ? "" : "s");
  }
  return status;
}
