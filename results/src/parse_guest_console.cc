// A guest's serial console: Linux's kernel messages and migtest's guest /init and migmon lines.
// What counts as a problem is the table below: the kernel's own words for a crash or a corrupted
// structure, migmon's corruption report, and /init's MIGTEST-GUEST-ERROR. A console can hold
// anything (a guest writing garbage to its serial port, half a line at a kill), so nothing in its
// content is an error; only an unreadable file is.
#include <fstream>
#include <regex>
#include <set>

#include "migtest/results/parse.hpp"

namespace migtest {
namespace {

// Substrings that mark a line as a problem, and why. Kept literal (no regex) so that a reader can
// see exactly what matches; the kernel's text for these has been stable for many releases.
constexpr std::string_view kProblems[] = {
    "Kernel panic",   // "Kernel panic - not syncing: …"
    "BUG:",           // "BUG: kernel NULL pointer dereference", "BUG: Bad page state"
    "kernel BUG at",  // BUG_ON()
    "Oops",           // "Oops: 0010 [#1] PREEMPT SMP NOPTI"
    "general protection fault",
    "Fatal exception",
    "Unable to handle",  // "… kernel paging request"
    "invalid opcode:",
    "double fault",
    "stack-protector",
    "segfault at",  // a user process (the dirtier, the echo server) crashed
    "list_del corruption",
    "list_add corruption",
    "memory corrupted",     // migmon mm_dirty --verify
    "MIGTEST-GUEST-ERROR",  // the guest's /init: a workload ended or could not start
    "soft lockup",
    "hard LOCKUP",
    "rcu: INFO",
    "self-detected stall",
    "traps:",  // "traps: migmon[42] general protection …"
};
constexpr size_t kMaxProblems = 20;
constexpr size_t kMaxQuote = 200;

// Printable text: no \r, no ANSI escape sequences, no control bytes; long lines cut with "…".
std::string Clean(const std::string& raw) {
  static const std::regex ansi("\x1b\\[[0-9;?]*[ -/]*[@-~]");
  std::string s = std::regex_replace(raw, ansi, "");
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c == '\t') {
      out += ' ';
    } else if (c >= 0x20 && c != 0x7f) {
      out += static_cast<char>(c);
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() > kMaxQuote) {
    size_t cut = kMaxQuote;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
    out = out.substr(0, cut) + "…";
  }
  return out;
}

// The dirtier's sweeps (migmon mm_dirty --sweep-port): "verify-sweep N: started, T pages in the
// working set", then "verify-sweep N: checked C of T pages". Only a sweep whose start this console
// shows counts: a host asks for one once the guest runs where this console was recorded, so its
// pages were checked there. The best sweep's figures are kept.
class SweepCoverage {
 public:
  void Read(const std::string& line) {
    static const std::regex kSweep(
        R"(verify-sweep (\d{1,19}): (?:started, (\d{1,19}) pages in the working set|checked (\d{1,19}) of (\d{1,19}) pages))");
    std::smatch m;
    if (line.find("verify-sweep ") == std::string::npos || !std::regex_search(line, m, kSweep)) {
      return;
    }
    const uint64_t id = std::stoull(m[1]);
    if (m[2].matched) {
      begun_.insert(id);
      return;
    }
    const uint64_t checked = std::stoull(m[3]), total = std::stoull(m[4]);
    if (!begun_.contains(id) || total == 0 || checked > total) return;
    const double coverage = static_cast<double>(checked) / static_cast<double>(total);
    if (!total_ || coverage > static_cast<double>(checked_) / static_cast<double>(*total_)) {
      checked_ = checked;
      total_ = total;
    }
  }
  void Fill(GuestResult& g) const {
    if (!total_) return;
    g.pages_checked = checked_;
    g.working_set_pages = total_;
  }

 private:
  std::set<uint64_t> begun_;
  uint64_t checked_ = 0;
  std::optional<uint64_t> total_;
};

}  // namespace

bool IsGuestProblemLine(std::string_view line) {
  for (std::string_view p : kProblems) {
    if (line.find(p) != std::string_view::npos) return true;
  }
  return false;
}

GuestResult ParseGuestConsole(std::istream& in, std::string_view console_name) {
  GuestResult g;
  g.console = std::string(console_name);
  std::string raw;
  uint64_t seconds = 0, corruptions = 0;
  bool dirtier_seen = false;
  SweepCoverage sweeps;
  while (std::getline(in, raw)) {
    ++g.lines;
    sweeps.Read(raw);
    if (raw.find("dirty-rate: ") != std::string::npos) {
      ++seconds;
      dirtier_seen = true;
    }
    if (raw.find("memory corrupted") != std::string::npos) {
      ++corruptions;
      dirtier_seen = true;
    }
    if (IsGuestProblemLine(raw) && g.problems.size() < kMaxProblems) {
      g.problems.push_back({g.lines, Clean(raw)});
    }
  }
  if (seconds > 0) g.dirtier_seconds = seconds;
  if (dirtier_seen) g.verify_errors = corruptions;
  sweeps.Fill(g);
  return g;
}

GuestResult ParseGuestConsoleFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw ParseError(path.string(), 0, "a readable guest console log",
                     "a file that cannot be opened");
  return ParseGuestConsole(in, path.string());
}

}  // namespace migtest
