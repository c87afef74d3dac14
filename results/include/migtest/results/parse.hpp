// Parsers: turn what a migration printed into a RunResult.
//
// Every parser reads a stream line by line, skips lines that belong to no record (real logs
// interleave), and rejects a recognised record that is malformed with a ParseError naming
// file:line, what was expected and what was found. Parsers do no I/O beyond the istream given.
//
// **Example**:
//
//   try {
//     migtest::RunResult run = migtest::ParseFile("src.log");            // format detected
//     migtest::RunResult ch = migtest::ParseFile("ch.log", migtest::Format::kCloudHypervisor);
//   } catch (const migtest::ParseError& e) {
//     std::cerr << e.what() << "\n";   // "ch.log:12: expected a duration like 55ms, found '5x'"
//   }
#pragma once

#include <filesystem>
#include <istream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "migtest/results/model.hpp"

namespace migtest {

// A recognised record that does not read as its format says. what() is
// "<file>:<line>: expected <expected>, found <found>".
class ParseError : public std::runtime_error {
 public:
  ParseError(std::string file, size_t line, std::string expected, std::string found);
  const std::string& file() const { return file_; }
  size_t line() const { return line_; }  // 1-based; 0 when the error concerns the whole input
  const std::string& expected() const { return expected_; }
  const std::string& found() const { return found_; }

 private:
  std::string file_;
  size_t line_;
  std::string expected_;
  std::string found_;
};

// Guesses the format from the first part of an input; kAuto when nothing matches.
Format DetectFormat(std::string_view head);

// Parses `in` as `format` (kAuto: detected from content). `source_name` is used in errors and as
// RunResult::source. Throws ParseError.
RunResult Parse(std::istream& in, Format format, std::string_view source_name);

// Opens and parses a file. Throws ParseError (also when it cannot be opened).
RunResult ParseFile(const std::filesystem::path& path, Format format = Format::kAuto);

// A log may hold several runs (the QEMU debug text of a patch series does; so do JSON lines of
// several result.json documents). These return each; Parse/ParseFile return the first.
// Formats that describe one migration give one RunResult.
std::vector<RunResult> ParseRuns(std::istream& in, Format format, std::string_view source_name);
std::vector<RunResult> ParseFileRuns(const std::filesystem::path& path,
                                     Format format = Format::kAuto);

// QEMU trace events of a migration (QEMU >= 8.2, the `log` trace backend with -msg timestamp=on;
// both sides' lines may be in one stream or in several files): per-iteration dirty-bitmap sync
// times with the iterations bounded by the syncs themselves, stalls (per section, the iterate calls
// longer than `stall_threshold`, worst and count), the downtime breakdown between the checkpoints
// of both sides (stop, iterable-save, non-iterable-save, source-complete, destination-load,
// resume-scheduled, announce, vcpu-start), the guest's real pause (src-downtime-start → the
// destination's vm-started), per-device save/load times, and postcopy fault latencies (request →
// page placed). What a log cannot support is absent, and config "trace_note" says why in one line.
// Throws ParseError when the input holds no trace event at all.
struct QemuTraceOptions {
  // The run's downtime budget (downtime-limit): an iterate call longer than this is a stall.
  // QEMU's default downtime-limit.
  Duration stall_threshold = std::chrono::milliseconds(300);
};
RunResult ParseQemuTrace(std::istream& in, std::string_view source_name,
                         const QemuTraceOptions& options = {});
RunResult ParseQemuTraceFiles(const std::vector<std::filesystem::path>& logs,
                              const QemuTraceOptions& options = {});
// A QEMU run's result from its QMP transcript (`qmp`) completed with what its trace logs measured:
// the trace's iterations (exact boundaries; bytes and rates from the polled iteration of the same
// number), stalls, downtime breakdown, per-device times, guest pause, fault latencies.
void CombineQemuTrace(MigrationResult& qmp, const MigrationResult& trace);

// Reads a guest's serial console (what the kernel and migtest's guest /init printed): the
// problems it shows (a panic, an oops, a BUG, a corruption report, MIGTEST-GUEST-ERROR lines),
// quoted with their line numbers, and the dirtier's per-second lines. Any content is read, binary
// included; only a file that cannot be read throws ParseError.
GuestResult ParseGuestConsole(std::istream& in, std::string_view console_name);
GuestResult ParseGuestConsoleFile(const std::filesystem::path& path);
// Whether one console line is such a problem (the same table): a backend watching a guest's
// console stops waiting at the first one.
bool IsGuestProblemLine(std::string_view line);

// What `ss` (iproute2) printed: one entry per socket line, trimmed; the header line ("Netid State
// …" or "State …") and blank lines skipped. `ss -K FILTER` lists the sockets it destroyed and only
// those: it exits 0 when the kernel destroyed none, so an empty list is the sign.
std::vector<std::string> ParseSsSockets(std::istream& in);

}  // namespace migtest
