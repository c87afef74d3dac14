// migmon migrate: the embedded migration engine, a real userspace live migration of a "guest"
// (memory written by vCPU threads at the dirtier's rate and pattern) with the phases of a VMM:
// setup, a full pass, iterations of dirty-bitmap sync + send until the estimated downtime fits,
// stop-and-copy with the writers paused, verification and resume on the destination.
//
//   migmon migrate -d [-p PORT] [--json FILE]                        # destination
//   migmon migrate -s -H HOST [-p PORT] -m SIZE [--vcpus N] [--dirty-rate RATE] ...  # source
//
// This file is the command line; the engine itself is engine/source*.cc (source.hpp says which
// file holds what), engine/destination.cc and the wire protocol, engine/protocol.hpp.
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string>

#include "engine/destination.hpp"
#include "engine/source.hpp"
#include "subcommands.hpp"

namespace migtest {

// migmon migrate's command line, as given (sizes and knobs still text).
struct MigrateCommandLine {
  bool dst = false, src = false;
  engine::SourceOptions so;
  engine::DestinationOptions dopt;
  std::string size = "256M", rate = "0", bandwidth = "0", stall, drop, slow_phase;
  int64_t lose_dirty = 0;
  bool postcopy = false;
  int postcopy_after = -1;
  int port = 0;
  std::string json_file;
};

void AddMigrateOptions(CLI::App& app, MigrateCommandLine& cl) {
  app.footer(
      "Signals: SIGINT/SIGTERM stop either side. SIGUSR1 cancels the source's migration (as "
      "QEMU's migrate_cancel): status cancelled, the phase named, the guest running on here "
      "(--run-after-failure); refused once the destination runs the guest (postcopy, or "
      "after the resume).");
  app.add_flag("-d", cl.dst, "run the destination (listens; prints 'ready port=N')");
  app.add_flag("-s", cl.src, "run the source (connects to -H)");
  app.add_option("-H,--host", cl.so.host, "the destination's address (source)");
  app.add_option("-p,--port", cl.port, "destination port (0: the kernel chooses)")
      ->check(CLI::Range(0, 65535));
  app.add_option("-m,--memory", cl.size,
                 "guest memory size (M/G suffixes; bare number = MiB); on the destination, "
                 "allocate it before getting ready");
  app.add_option("--vcpus", cl.so.vcpus, "vCPU (writer) threads")->check(CLI::Range(1, 256));
  app.add_option("--dirty-rate", cl.rate, "guest dirty rate (M/G per second; 0 = idle guest)");
  app.add_option("--pattern", cl.so.pattern, "sequential | random")
      ->check(CLI::IsMember({"sequential", "random"}));
  app.add_option("--downtime-limit", cl.so.downtime_limit_ms,
                 "downtime goal in ms (QEMU's default 300)")
      ->check(CLI::Range(int64_t{1}, int64_t{3600000}));
  app.add_option("--max-bandwidth", cl.bandwidth, "link cap in bytes/s (M/G suffixes; 0 = none)");
  app.add_option("--max-iterations", cl.so.max_iterations,
                 "precopy iteration cap (then stop anyway)")
      ->check(CLI::Range(1, 100000));
  app.add_flag("--postcopy", cl.postcopy, "switch to postcopy at once");
  app.add_option("--postcopy-after", cl.postcopy_after, "switch to postcopy after N iterations")
      ->check(CLI::Range(0, 100000));
  app.add_flag("--auto-converge", cl.so.auto_converge, "throttle the vCPUs when precopy lags");
  app.add_option("--dirty-tracking", cl.so.dirty_tracking,
                 "bitmap (writers set an atomic bit per page) or uffd-wp (write-protect "
                 "traps; fails with a clear message where the kernel lacks it)")
      ->check(CLI::IsMember({"bitmap", "uffd-wp"}));
  app.add_option("--json", cl.json_file, "write the result.json document to FILE");
  app.add_flag("--tlmz", cl.so.tlmz, "print TLMZ report lines (s221/s222/s3/s4) on stdout");
  app.add_option("--inject-stall", cl.stall,
                 "ITER:MS: the dirty-bit sync of iteration ITER stalls");
  app.add_option("--inject-drop-after", cl.drop, "BYTES: the connection breaks after BYTES");
  app.add_option("--run-after-failure", cl.so.run_after_failure_ms,
                 "MS: after a failed precopy, run the guest on MS more with its writers "
                 "verifying, then check all of memory (the result's guest part)")
      ->check(CLI::Range(int64_t{0}, int64_t{3600000}));
  app.add_option("--guest-echo-port", cl.so.echo_port,
                 "UDP port (reach it as 127.0.0.1:PORT) where the guest echoes a prober, on "
                 "both sides: the source closes it at stop-and-copy and the destination binds "
                 "it on resume (close-before-bind, no SO_REUSEPORT), so client_rr sees the "
                 "blackout");
  app.add_option("--run-after", cl.dopt.run_after_ms,
                 "ms the guest runs on the destination before "
                 "it exits (destination)");
  app.add_option("--test-corrupt-page", cl.dopt.corrupt_page,
                 "test knob: corrupt this page (destination: before verification; source: once "
                 "a failed migration left the guest here, before --run-after-failure's check)");
  app.add_option("--test-corrupt-header", cl.dopt.corrupt_header,
                 "test knob (destination): P: before its check, flip a bit of page P's header "
                 "checksum, as a copy torn mid-write leaves it (its generation stays right): "
                 "the run must not verify, naming page P")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  app.add_option("--test-stop-writers-after", cl.so.stop_writers_after_ms,
                 "test knob (source): MS: after a failed precopy, the guest's writers stop MS ms "
                 "into --run-after-failure while the guest stays up: the result's guest part "
                 "must show the shorter run (needs --run-after-failure)")
      ->check(CLI::Range(int64_t{0}, int64_t{3600000}));
  app.add_option("--test-lose-dirty", cl.lose_dirty,
                 "test knob (source): N: at the end of iteration 2, dirty tracking (bitmap or "
                 "uffd-wp) breaks for N pages, i*P/N + P/(2N) of P pages: each is written once "
                 "more with its dirty bit lost and no later write to it is logged, so its last "
                 "sent copy is stale and the run must not verify. Precopy runs at least 2 "
                 "iterations; postcopy needs --postcopy-after 2 or more. The JSON's pages "
                 "count test_lost_dirty_pages and test_lost_dirty_writes");
  app.add_option("--test-slow-phase", cl.slow_phase,
                 "test knob (source): NAME:MS: the downtime phase NAME takes MS ms longer. "
                 "Precopy: final_sync, final_pages, send_state, check, resume; postcopy: sync, "
                 "send_state, urgent_channel, discard, resume");
}

// --inject-stall ITER:MS.
void ParseInjectStall(const std::string& stall, engine::SourceOptions& so) {
  const auto colon = stall.find(':');
  try {
    if (colon == std::string::npos) throw std::invalid_argument("no colon");
    so.stall_iteration = std::stoi(stall.substr(0, colon));
    so.stall_ms = std::stoll(stall.substr(colon + 1));
  } catch (const std::exception&) {
    throw UsageError(fmt::format("--inject-stall takes ITER:MS, not '{}'", stall));
  }
  if (so.stall_iteration < 2 || so.stall_ms < 0) {
    throw UsageError("--inject-stall: iterations from 2 on have a dirty-bit sync");
  }
}

// --test-slow-phase NAME:MS, NAME a downtime phase of the mode.
void ParseSlowPhase(const std::string& slow_phase, engine::SourceOptions& so) {
  const auto colon = slow_phase.find(':');
  const std::string name = slow_phase.substr(0, colon);
  const auto& names = so.postcopy_after >= 0 ? engine::kPostcopyPhases : engine::kPrecopyPhases;
  try {
    if (colon == std::string::npos) throw std::invalid_argument("no colon");
    size_t used = 0;
    so.slow_phase.ms = std::stoll(slow_phase.substr(colon + 1), &used);
    if (used != slow_phase.size() - colon - 1) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    throw UsageError(fmt::format("--test-slow-phase takes NAME:MS, not '{}'", slow_phase));
  }
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    throw UsageError(fmt::format("--test-slow-phase: no {} downtime phase '{}' (phases: {})",
                                 so.postcopy_after >= 0 ? "postcopy" : "precopy", name,
                                 fmt::join(names, ", ")));
  }
  if (so.slow_phase.ms <= 0 || so.slow_phase.ms > 600'000) {
    throw UsageError("--test-slow-phase: MS must be between 1 and 600000");
  }
  so.slow_phase.name = name;
}

// --test-lose-dirty N: N pages of the guest, in a run that reaches the iteration it breaks.
void CheckLoseDirty(int64_t lose_dirty, engine::SourceOptions& so) {
  const uint64_t pages = so.memory / kPageSize;
  if (lose_dirty < 1 || static_cast<uint64_t>(lose_dirty) > pages) {
    throw UsageError(
        fmt::format("--test-lose-dirty: N must be between 1 and the guest's {} pages, not {}",
                    pages, lose_dirty));
  }
  if (so.postcopy_after >= 0 && so.postcopy_after < engine::kLoseDirtyIteration) {
    throw UsageError("--test-lose-dirty in postcopy needs --postcopy-after 2 or more");
  }
  if (so.postcopy_after < 0 && so.max_iterations < engine::kLoseDirtyIteration) {
    throw UsageError("--test-lose-dirty needs --max-iterations 2 or more");
  }
  so.lose_dirty = static_cast<uint64_t>(lose_dirty);
}

// The source's options from its command line, every knob checked.
engine::SourceOptions SourceOptionsOf(const CLI::App& app, MigrateCommandLine& cl) {
  engine::SourceOptions& so = cl.so;
  if (so.host.empty()) throw UsageError("the source needs -H HOST");
  if (cl.port == 0) {
    throw UsageError("the source needs -p PORT (the destination's 'ready port=N')");
  }
  so.port = static_cast<uint16_t>(cl.port);
  so.memory = ParseSize(cl.size, "memory size");
  so.memory -= so.memory % kPageSize;
  if (so.memory < kPageSize) {
    throw UsageError(fmt::format("memory size '{}' is below one page", cl.size));
  }
  so.dirty_rate = cl.rate == "0" ? 0 : ParseSize(cl.rate, "dirty rate");
  so.max_bandwidth = cl.bandwidth == "0" ? 0 : ParseSize(cl.bandwidth, "max bandwidth");
  so.postcopy_after = cl.postcopy ? 0 : cl.postcopy_after;
  so.json_file = cl.json_file;
  if (!cl.stall.empty()) ParseInjectStall(cl.stall, so);
  if (!cl.slow_phase.empty()) ParseSlowPhase(cl.slow_phase, so);
  if (app.count("--test-lose-dirty") > 0) CheckLoseDirty(cl.lose_dirty, so);
  if (!cl.drop.empty()) {
    // A bare number is bytes here (a fault position), a suffixed one a size.
    const bool digits = std::all_of(cl.drop.begin(), cl.drop.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c));
    });
    so.drop_after = digits ? std::stoull(cl.drop) : ParseSize(cl.drop, "--inject-drop-after");
    if (so.drop_after == 0) throw UsageError("--inject-drop-after takes a positive byte count");
  }
  so.corrupt_page = cl.dopt.corrupt_page;
  if (so.stop_writers_after_ms >= 0 && so.run_after_failure_ms == 0) {
    throw UsageError("--test-stop-writers-after needs --run-after-failure");
  }
  return so;
}

int RunMigrate(int argc, char** argv) {
  return Guarded("migrate", [&]() -> int {
    CLI::App app{"The embedded migration engine: migrate a userspace guest over TCP"};
    MigrateCommandLine cl;
    AddMigrateOptions(app, cl);
    if (auto code = ParseCommandLine(app, argc, argv)) return *code;
    if (cl.dst == cl.src) throw UsageError("give exactly one of -d (destination) and -s (source)");
    if (cl.dst && cl.so.stop_writers_after_ms >= 0) {
      throw UsageError("--test-stop-writers-after is a knob of the source (-s)");
    }
    if (cl.src && cl.dopt.corrupt_header >= 0) {
      throw UsageError("--test-corrupt-header is a knob of the destination (-d)");
    }
    if (cl.dst) {
      engine::DestinationOptions& dopt = cl.dopt;
      dopt.port = static_cast<uint16_t>(cl.port);
      if (app.count("-m") > 0) {
        dopt.memory = ParseSize(cl.size, "memory size") / kPageSize * kPageSize;
      }
      dopt.json_file = cl.json_file;
      InstallSignalHandlers();
      return engine::RunDestination(dopt);
    }
    const engine::SourceOptions so = SourceOptionsOf(app, cl);
    InstallSignalHandlers();
    InstallCancelHandler();
    return engine::Source(so).Run();
  });
}

}  // namespace migtest
