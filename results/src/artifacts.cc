// The table of a run's artifact files and the one merge of a run's files into its RunResult.
#include "migtest/results/artifacts.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include "migtest/results/print.hpp"
#include "parse_internal.hpp"

namespace migtest {
namespace {

namespace fs = std::filesystem;
using K = ArtifactKind;

// In the order a person should open them; a backend's migration parts in the order the merge
// reads them (the first one found is the base).
constexpr ArtifactFile kArtifactFiles[] = {
    {R"(result(-\d+)?\.json)", "", K::kRunResult, Format::kMigtest,
     "every figure of the run, merged by the fixture (migtest-parse, -report, -compare read it)"},
    {R"(summary\.txt)", "", K::kNotAResult, Format::kAuto,
     "this index: the test, its verdict, the run's figures, what each file is"},
    // engine
    {R"(source\.json)", "engine", K::kProcessResult, Format::kMigtest,
     "the source engine's own result: the migration, its iterations, the dirtier"},
    {R"(destination\.json)", "engine", K::kProcessResult, Format::kMigtest,
     "the destination engine's own result: the resume on its clock, memory verified"},
    // qemu
    {R"(qmp-transcript\.jsonl)", "qemu", K::kQmpTranscript, Format::kQemuQmp,
     "every QMP command sent and reply or event received, tagged source/destination"},
    {R"(source\.stderr\.log)", "qemu", K::kQemuTrace, Format::kQemuTrace,
     "the source QEMU's stderr: its errors and its trace events"},
    {R"(destination\.stderr\.log)", "qemu", K::kQemuTrace, Format::kQemuTrace,
     "the destination QEMU's stderr: its errors and its trace events"},
    // cloud-hypervisor
    {R"(source-ch\.log)", "cloud-hypervisor", K::kVmmLog, Format::kCloudHypervisor,
     "the source cloud-hypervisor's log (-vv): precopy iterations, downtime, completion"},
    {R"(destination-ch\.log)", "cloud-hypervisor", K::kVmmLog, Format::kCloudHypervisor,
     "the destination cloud-hypervisor's log (-vv): its incoming phases"},
    {R"(source\.stderr\.log)", "cloud-hypervisor", K::kVmmLog, Format::kCloudHypervisor,
     "the source cloud-hypervisor's stderr: its errors"},
    {R"(destination\.stderr\.log)", "cloud-hypervisor", K::kVmmLog, Format::kCloudHypervisor,
     "the destination cloud-hypervisor's stderr: its errors"},
    // command: every output of the user's commands, read by the scenario's parser
    {R"(source\.stdout\.log)", "command", K::kVmmLog, Format::kAuto,
     "the source command's stdout, read by the scenario's parser"},
    {R"(source\.stderr\.log)", "command", K::kVmmLog, Format::kAuto,
     "the source command's stderr, read by the scenario's parser"},
    {R"(destination\.stdout\.log)", "command", K::kVmmLog, Format::kAuto,
     "the destination command's stdout, read by the scenario's parser"},
    {R"(destination\.stderr\.log)", "command", K::kVmmLog, Format::kAuto,
     "the destination command's stderr, read by the scenario's parser"},
    // the prober and the guest
    {R"(prober\.stdout\.log)", "", K::kProberReport, Format::kMigtest,
     "the UDP prober's result.json: blackout, probes lost, RTT"},
    {R"(prober\.stderr\.log)", "", K::kProberLog, Format::kMigmon,
     "the UDP prober's report in words (the same figures, rounded)"},
    {R"(source-after-fault\.console\.log)", "qemu", K::kGuestConsole, Format::kAuto,
     "the guest's console on the source after the injected fault (the run's guest figures)"},
    {R"(destination\.stdout\.log)", "qemu", K::kGuestConsole, Format::kAuto,
     "the guest's serial console after the switchover (the run's guest figures)"},
    {R"(serial\.log)", "cloud-hypervisor", K::kGuestConsole, Format::kAuto,
     "the guest's serial console from boot (the run's guest figures: from the switchover)"},
    {R"(source\.stdout\.log)", "qemu", K::kGuestBootConsole, Format::kAuto,
     "the guest's serial console on the source, from boot"},
    {R"(source\.stdout\.log)", "engine", K::kEngineLog, Format::kTlmz,
     "the source engine's TLMZ report (its figures are in source.json)"},
    {R"(destination\.stdout\.log)", "engine", K::kNotAResult, Format::kAuto,
     "the destination engine's messages (its port, its end)"},
    {R"((source|destination)\.stderr\.log)", "engine", K::kNotAResult, Format::kAuto,
     "the engine's messages and errors"},
    // records of the run, not results
    {R"(progress\.log)", "", K::kNotAResult, Format::kAuto,
     "the migration's progress, one line a second"},
    {R"(commands\.txt)", "", K::kNotAResult, Format::kAuto,
     "the command line of every process the run started"},
    {R"(guest-network\.ip)", "", K::kNotAResult, Format::kAuto,
     "the guest network's setup (ip -batch)"},
    {R"(build-guest\.(stdout|stderr)\.log)", "", K::kNotAResult, Format::kAuto,
     "the build of the test guest's image (once per machine)"},
    {R"(ch-version\.(stdout|stderr)\.log)", "cloud-hypervisor", K::kNotAResult, Format::kAuto,
     "cloud-hypervisor --version"},
    {R"((send|receive)-migration\.(stdout|stderr)\.log)", "cloud-hypervisor", K::kNotAResult,
     Format::kAuto, "ch-remote's output (a refused migration's reason)"},
    {R"(fetch-.*\.(stdout|stderr)\.log)", "engine", K::kNotAResult, Format::kAuto,
     "a result fetched from a remote host (the JSON is beside it)"},
};

bool IsMigrationPart(K kind) {
  return kind == K::kProcessResult || kind == K::kQmpTranscript || kind == K::kVmmLog;
}

std::string Head(const fs::path& path, uint64_t from = 0) {
  std::ifstream in(path, std::ios::binary);
  if (from > 0) in.seekg(static_cast<std::streamoff>(from));
  std::string head(64 * 1024, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  return head;
}

ParseError Unreadable(const fs::path& path) {
  return ParseError(path.string(), 0, "a readable file",
                    fmt::format("'{}' ({})", path.string(), std::strerror(errno)));
}

// The later part's downtime phases of the destination (incoming.*) add to the base's breakdown:
// Merge fills only what is missing.
void AddIncomingPhases(RunResult& run, const RunResult& part) {
  if (!run.migration || !part.migration) return;
  auto& into = run.migration->downtime_breakdown;
  for (const Phase& p : part.migration->downtime_breakdown) {
    const bool have =
        std::any_of(into.begin(), into.end(), [&](const Phase& q) { return q.name == p.name; });
    if (!have && p.name.starts_with("incoming.")) into.push_back(p);
  }
}

// Durations compare exactly; printed as a person reads them, to the microsecond where the short
// form would hide the difference.
std::optional<std::string> Ms(const std::optional<Duration>& d) {
  if (!d) return std::nullopt;
  return FormatDuration(*d);
}
std::optional<std::string> Us(const std::optional<Duration>& d) {
  if (!d) return std::nullopt;
  return fmt::format("{}us", d->count());
}
std::optional<std::string> Count(const std::optional<uint64_t>& n) {
  if (!n) return std::nullopt;
  return std::to_string(*n);
}

}  // namespace

std::string_view ToString(ArtifactKind kind) {
  switch (kind) {
    case K::kRunResult:
      return "run result";
    case K::kProcessResult:
      return "process result";
    case K::kQmpTranscript:
      return "QMP transcript";
    case K::kQemuTrace:
      return "QEMU trace";
    case K::kVmmLog:
      return "VMM log";
    case K::kProberReport:
      return "prober report";
    case K::kProberLog:
      return "prober log";
    case K::kGuestConsole:
      return "guest console";
    case K::kGuestBootConsole:
      return "guest console (boot)";
    case K::kEngineLog:
      return "engine log";
    case K::kNotAResult:
      return "not a result";
  }
  return "unknown";
}

std::span<const ArtifactFile> ArtifactFiles() { return kArtifactFiles; }

const ArtifactFile* FindArtifactFile(std::string_view file_name, std::string_view backend) {
  const std::string name(file_name);
  for (const ArtifactFile& f : kArtifactFiles) {
    if (!f.backend.empty() && f.backend != backend) continue;
    if (std::regex_match(name, std::regex(f.name.begin(), f.name.end()))) return &f;
  }
  return nullptr;
}

RunFolderOptions RunFolderOptionsOf(const RunResult& recorded) {
  RunFolderOptions o;
  const nlohmann::json& s = recorded.scenario;
  if (s.is_object()) {
    if (auto b = s.find("backend"); b != s.end() && b->is_string()) o.backend = *b;
    if (auto c = s.find("command"); c != s.end() && c->is_object()) {
      if (auto p = c->find("parser"); p != c->end() && p->is_string()) {
        if (auto f = FormatFromString(p->get<std::string>())) o.vmm_format = *f;
      }
    }
    if (auto d = s.find("downtime_limit_ms"); d != s.end() && d->is_number_integer()) {
      o.trace.stall_threshold = std::chrono::milliseconds(d->get<int64_t>());
    }
  }
  const nlohmann::json& x = recorded.extra;
  if (x.is_object()) {
    if (auto ch = x.find("cloud_hypervisor"); ch != x.end() && ch->is_object()) {
      if (auto b = ch->find("serial_from_byte"); b != ch->end() && b->is_number_unsigned()) {
        o.console_from_byte = b->get<uint64_t>();
      }
    }
    // The engine says why the prober's figures are not the run's (a string where they would be).
    if (auto p = x.find("probe"); p != x.end() && p->is_string()) o.prober = false;
  }
  return o;
}

std::string GuessBackend(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir / "qmp-transcript.jsonl", ec)) return "qemu";
  if (fs::exists(dir / "source-ch.log", ec) || fs::exists(dir / "destination-ch.log", ec)) {
    return "cloud-hypervisor";
  }
  if (fs::exists(dir / "source.json", ec) || fs::exists(dir / "destination.json", ec)) {
    return "engine";
  }
  return "";
}

std::vector<RunArtifact> RunArtifactsIn(const fs::path& dir, const RunFolderOptions& options) {
  const std::string backend = options.backend.empty() ? GuessBackend(dir) : options.backend;
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::error_code fe;
    if (e.is_regular_file(fe)) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  std::vector<RunArtifact> files;
  for (const ArtifactFile& row : kArtifactFiles) {
    if (row.kind == K::kRunResult || row.kind == K::kNotAResult) continue;
    if (!row.backend.empty() && row.backend != backend) continue;
    const std::regex pattern(row.name.begin(), row.name.end());
    for (const std::string& name : names) {
      if (!std::regex_match(name, pattern)) continue;
      // A name's first row is its meaning (as FindArtifactFile says).
      if (FindArtifactFile(name, backend) != &row) continue;
      if (!options.prober && (row.kind == K::kProberReport || row.kind == K::kProberLog)) continue;
      RunArtifact a{.path = dir / name, .kind = row.kind, .format = row.format};
      if (row.kind == K::kVmmLog && row.format == Format::kAuto) {
        a.format = options.vmm_format;
        a.as_named = true;
      }
      if (row.kind == K::kGuestConsole) a.from_byte = options.console_from_byte;
      files.push_back(std::move(a));
    }
  }
  return files;
}

MergedRun MergeRunArtifacts(const std::vector<RunArtifact>& files,
                            const RunFolderOptions& options) {
  MergedRun out;
  RunResult& run = out.run;
  bool have_base = false, have_prober_report = false, have_console = false;
  for (const RunArtifact& a : files) have_prober_report |= a.kind == K::kProberReport;
  auto read = [&](const RunArtifact& a, auto&& how) {
    try {
      how();
      out.read.push_back(a.path);
    } catch (const ParseError& e) {
      out.errors.push_back(e);
    }
  };

  // 1. The migration: its first part is the base, the others complete it.
  for (const RunArtifact& a : files) {
    if (!IsMigrationPart(a.kind)) continue;
    Format format = a.format;
    if (a.kind == K::kVmmLog) {
      // A VMM's output holds its migration's lines, or none (a "listening" chatter, an empty
      // stderr): a file no parser recognises, or one that reads as another format, is not its.
      const std::string head = a.held ? a.held->substr(0, 64 << 10) : Head(a.path);
      if (internal::Trim(head).empty()) continue;
      const Format detected = DetectFormat(head);
      if (detected == Format::kAuto) continue;
      if (format == Format::kAuto) format = detected;
      if (!a.as_named && detected != format) continue;
    }
    read(a, [&] {
      RunResult part;
      if (a.held) {
        std::istringstream in(*a.held);
        part = Parse(in, format, a.path.string());
      } else {
        part = ParseFile(a.path, format);
      }
      if (!have_base) {
        run = std::move(part);
        have_base = true;
      } else {
        Merge(run, part);
        AddIncomingPhases(run, part);
      }
    });
  }

  // 2. Both QEMUs' trace events complete what QMP said.
  std::vector<fs::path> traces;
  for (const RunArtifact& a : files) {
    std::error_code ec;
    if (a.kind == K::kQemuTrace && fs::exists(a.path, ec)) traces.push_back(a.path);
  }
  if (!traces.empty() && run.migration) {
    try {
      const RunResult trace = ParseQemuTraceFiles(traces, options.trace);
      CombineQemuTrace(*run.migration, *trace.migration);
      out.read.insert(out.read.end(), traces.begin(), traces.end());
    } catch (const ParseError& e) {
      // A QEMU without the trace points (or told to trace none): QMP's figures stand.
      run.migration->config["trace_note"] = std::string("no QEMU trace events: ") + e.what();
    }
  }

  // 3. The prober, 4. the guest.
  for (const RunArtifact& a : files) {
    if (a.kind == K::kProberReport || (a.kind == K::kProberLog && !have_prober_report)) {
      read(a, [&] {
        RunResult probe =
            ParseFile(a.path, a.kind == K::kProberReport ? Format::kMigtest : Format::kMigmon);
        // Only what the prober measured: its "migration" or "dirty" parts are none of the run's.
        RunResult only;
        only.probe = std::move(probe.probe);
        only.extra = std::move(probe.extra);
        Merge(run, only);
      });
    } else if (a.kind == K::kGuestConsole && !have_console) {
      read(a, [&] {
        std::ifstream in(a.path, std::ios::binary);
        if (!in) throw Unreadable(a.path);
        in.seekg(0, std::ios::end);
        const auto size = static_cast<uint64_t>(std::max<std::streamoff>(in.tellg(), 0));
        // A log shorter than the offset was truncated: all of it.
        in.seekg(static_cast<std::streamoff>(a.from_byte <= size ? a.from_byte : 0));
        run.guest = ParseGuestConsole(in, a.path.string());
        have_console = true;
      });
    }
  }
  return out;
}

std::vector<std::string> Disagreements(const RunResult& recorded, const RunResult& merged) {
  std::vector<std::string> out;
  auto compare = [&](std::string_view figure, const std::optional<std::string>& a,
                     const std::optional<std::string>& b) {
    if (a == b) return;
    out.push_back(fmt::format("{}: result.json has {}, the files give {}", figure,
                              a.value_or("none"), b.value_or("none")));
  };
  auto compare_time = [&](std::string_view figure, const std::optional<Duration>& a,
                          const std::optional<Duration>& b) {
    if (a == b) return;
    const bool same_text = Ms(a) == Ms(b);
    compare(figure, same_text ? Us(a) : Ms(a), same_text ? Us(b) : Ms(b));
  };
  const MigrationResult none;
  const MigrationResult& r = recorded.migration ? *recorded.migration : none;
  const MigrationResult& m = merged.migration ? *merged.migration : none;
  if (!r.config.contains("status_from")) {
    compare("status", std::string(ToString(r.status)), std::string(ToString(m.status)));
  }
  compare_time("total time", r.total_time, m.total_time);
  compare_time("downtime", JudgedDowntime(r), JudgedDowntime(m));
  compare_time(ReportedDowntimeName(r.format), r.downtime, m.downtime);
  compare_time("setup time", r.setup_time, m.setup_time);
  compare("iterations", std::to_string(r.iterations.size()), std::to_string(m.iterations.size()));
  auto worst = [](const MigrationResult& x) -> std::optional<Duration> {
    if (auto w = WorstStall(x)) return w->duration;
    return std::nullopt;
  };
  compare_time("worst stall", worst(r), worst(m));
  const ProbeResult no_probe;
  const ProbeResult& rp = recorded.probe ? *recorded.probe : no_probe;
  const ProbeResult& mp = merged.probe ? *merged.probe : no_probe;
  compare_time("guest blackout", rp.longest_blackout, mp.longest_blackout);
  compare("probes sent", Count(rp.sent), Count(mp.sent));
  compare("probes received", Count(rp.received), Count(mp.received));
  compare("probes lost", Count(rp.lost), Count(mp.lost));
  return out;
}

}  // namespace migtest
