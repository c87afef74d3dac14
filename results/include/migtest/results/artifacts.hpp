// A run's artifact folder: which file is what (one table, for people and for code), and the one
// merge that turns a run's files into its RunResult. The fixtures' backends call it when they
// collect a run, migtest-parse calls it on a folder afterwards: both read the same files the same
// way, so a folder's merged figures are its result.json's.
//
// **Example**:
//
//   // What the fixture's backend did, again, from the folder it left:
//   migtest::RunResult recorded = migtest::ParseFile(dir / "result.json");
//   migtest::RunFolderOptions o = migtest::RunFolderOptionsOf(recorded);
//   migtest::MergedRun merged = migtest::MergeRunArtifacts(migtest::RunArtifactsIn(dir, o), o);
//   for (const auto& d : migtest::Disagreements(recorded, merged.run)) std::cerr << d << "\n";
//
//   // What one file is:
//   if (const migtest::ArtifactFile* f = migtest::FindArtifactFile("qmp-transcript.jsonl", "qemu"))
//     fmt::print("{}\n", f->what);   // "every QMP command sent and reply or event received, …"
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "migtest/results/model.hpp"
#include "migtest/results/parse.hpp"

namespace migtest {

// What a file of a run's folder holds, and so what the merge does with it.
enum class ArtifactKind {
  kRunResult,         // result.json: the run as the fixture merged it (the merge's output)
  kProcessResult,     // a process's own result.json (the engine's source.json, destination.json)
  kQmpTranscript,     // every QMP command, reply and event of both QEMUs
  kQemuTrace,         // a QEMU's stderr: its errors and its trace events
  kVmmLog,            // a VMM's log, read by the run's parser (cloud-hypervisor; command backend)
  kProberReport,      // the prober's result.json (migmon client_rr --json, its stdout)
  kProberLog,         // the prober's human report (its stderr; the same figures, rounded)
  kGuestConsole,      // the guest's serial console after the migration: the run's guest figures
  kGuestBootConsole,  // a guest console from boot: read, not the run's (the source's)
  kEngineLog,         // the engine's TLMZ report: read, not merged (source.json says more)
  kNotAResult,        // the folder's index, command lines, setup records, build logs, …
};
std::string_view ToString(ArtifactKind kind);

// One row of the table of artifact files.
struct ArtifactFile {
  std::string_view name;     // a regular expression the whole file name matches
  std::string_view backend;  // the backend whose runs write it; empty: any
  ArtifactKind kind;
  Format format;  // how it is read; kAuto: by the run's parser (kVmmLog) or not parsed as a result
  std::string_view what;  // one line for people (summary.txt, migtest-parse, README)
};

// Every row, in the order a person should open the files; within a backend, in the order the
// merge reads them (the first migration part is the base the others complete).
std::span<const ArtifactFile> ArtifactFiles();
// The row of `file_name` in a folder `backend` wrote ("": unknown: rows for any backend only);
// nullptr when the table has none.
const ArtifactFile* FindArtifactFile(std::string_view file_name, std::string_view backend);

// What a backend knows about its run that the file names do not say; migtest-parse reads it back
// from the run's result.json (RunFolderOptionsOf).
struct RunFolderOptions {
  std::string backend{};  // engine | qemu | cloud-hypervisor | command; "": guessed from the files
  // kVmmLog files are read as this (the command backend's parser); kAuto: detected.
  Format vmm_format = Format::kAuto;
  // The guest console counts from this byte: what the guest printed once it ran on the
  // destination (cloud-hypervisor's serial log holds the boot too).
  uint64_t console_from_byte = 0;
  // False when the prober's figures are not the run's (the engine's break-link fault: the guest
  // switched over where the prober cannot follow).
  bool prober = true;
  QemuTraceOptions trace{};  // stall threshold: the run's downtime-limit
};
// The options a fixture's run used, from its result.json (scenario and extra).
RunFolderOptions RunFolderOptionsOf(const RunResult& recorded);
// The backend that wrote a folder, from its file names: "qemu" (qmp-transcript.jsonl),
// "cloud-hypervisor" (source-ch.log), "engine" (source.json); "" when none says.
std::string GuessBackend(const std::filesystem::path& dir);

// One file of a run, as the merge reads it.
struct RunArtifact {
  std::filesystem::path path{};
  ArtifactKind kind = ArtifactKind::kNotAResult;
  // The parser (kVmmLog: a file no parser recognises, or that reads as another format, holds no
  // figures of this run and is left out); kAuto: detected.
  Format format = Format::kAuto;
  // kVmmLog: read as `format` whenever some parser recognises the file, whichever (the command
  // backend: the user named the parser of their VMM's output).
  bool as_named = false;
  uint64_t from_byte = 0;  // kGuestConsole: read from here
  // A migration part the backend already holds (the QEMU backend's QMP transcript, the same bytes
  // it wrote to `path`): read from here instead of the disk; `path` names it in errors.
  std::optional<std::string> held{};
};
// The files in `dir` (not below it) the merge reads, in the table's order. `options.backend`
// empty: GuessBackend(dir).
std::vector<RunArtifact> RunArtifactsIn(const std::filesystem::path& dir,
                                        const RunFolderOptions& options);

// A run's files merged into one RunResult: the first migration part (a process's result, the QMP
// transcript, a VMM log) completed by the later ones (a destination's incoming.* downtime phases
// are added), the QEMU traces' figures (iterations, stalls, breakdown, guest pause), the
// prober's report (its human report when its JSON is absent), the guest's console. A file that
// does not read as its kind says is in `errors` and left out; the rest is merged.
struct MergedRun {
  RunResult run{};
  std::vector<ParseError> errors{};
  std::vector<std::filesystem::path> read{};  // the files whose figures are in `run`
};
MergedRun MergeRunArtifacts(const std::vector<RunArtifact>& files,
                            const RunFolderOptions& options = {});

// Where a run's result.json (`recorded`) and its files merged again (`merged`) differ, by the
// figures a summary shows (status, total time, downtime, QEMU's/the VMM's own downtime, setup
// time, iterations, worst stall, blackout, probes sent/received/lost): one line each, naming the
// figure and both values ("iterations: result.json has 4, the files give 5"). A figure one side
// lacks is a difference. The status a backend took from elsewhere (config "status_from") is not
// compared.
std::vector<std::string> Disagreements(const RunResult& recorded, const RunResult& merged);

}  // namespace migtest
