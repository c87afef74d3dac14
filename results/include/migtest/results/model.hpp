// The result model: what one migration experiment measured, whatever printed it.
//
// A parser fills what its format carries and nothing else: every figure a format may lack is a
// std::optional, and absence is never written as 0. Durations are std::chrono types (microsecond
// resolution) so that matchers compare 100ms, 0.1s and 100000us alike.
//
// **Example**:
//
//   migtest::RunResult run = migtest::ParseFile("qemu-debug.log");
//   if (run.migration && run.migration->downtime) fmt::print("{}\n", *run.migration->downtime);
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace migtest {

// Every duration in the model. Microseconds: fine enough for postcopy page requests and RTTs,
// coarse enough to hold days without overflow.
using Duration = std::chrono::microseconds;

// Where a result came from: which parser (or producer) filled it.
enum class Format {
  kAuto,             // only as a request: detect from content
  kTlmz,             // TLMZ report (s221/s222/s3/s4 lines)
  kQemuDebug,        // QEMU DEBUG_MIGRATION / DEBUG_SAVEVM text
  kQemuQmp,          // QEMU QMP query-migrate replies and events
  kCloudHypervisor,  // cloud-hypervisor log
  kMigmon,           // mig_mon / migmon human outputs
  kMigtest,          // migtest's own result.json
  kQemuTrace,        // QEMU trace events (log backend, -msg timestamp=on)
};

enum class Status { kUnknown, kActive, kCompleted, kFailed, kCancelled };

// One named phase of the downtime, in the order the VMM reported them.
struct Phase {
  std::string name;  // e.g. final_memory_delta, snapshot, final_iter, state, resume
  Duration duration{};
  friend bool operator==(const Phase&, const Phase&) = default;
};

// One precopy iteration (a dirty-bitmap sync followed by sending what it found).
struct Iteration {
  int index = 0;                     // 1-based, in the order reported
  std::optional<Duration> start;     // offset from the migration's start
  std::optional<Duration> duration;  // the iteration's length (TLMZ: epoch)
  std::optional<uint64_t> pages_sent;
  // Pages dirtied during the iteration: a count, only when the VMM reports one (TLMZ s222).
  std::optional<uint64_t> pages_dirtied;
  // The VMM's dirty-page rate as it reported it during the iteration, in pages per second (QEMU's
  // dirty-pages-rate, measured at a bitmap sync over at least the second before it).
  std::optional<double> dirty_pages_rate;
  std::optional<uint64_t> bytes_sent;
  // How long the copy threads stood still to collect dirty bits: the stall a guest's migration
  // pays per iteration (TLMZ s222 mig_duration).
  std::optional<Duration> sync_time;
  std::optional<uint64_t> io_count;
  std::optional<double> progress;         // 0..1
  std::optional<double> bandwidth_mib_s;  // MiB/s
  std::optional<Duration> est_downtime;   // the VMM's estimate after this iteration
  std::optional<uint64_t> remaining_bytes;
  // The vCPU throttle in effect during the iteration, in percent (QEMU's auto-converge:
  // cpu-throttle-percentage as the poll that first showed the iteration's sync reported it).
  std::optional<double> cpu_throttle_percent;
  friend bool operator==(const Iteration&, const Iteration&) = default;
};

// A section of the migration that kept the VM's main loop busy (QEMU DEBUG_SAVEVM).
struct Stall {
  std::string section;  // e.g. "ram"
  std::optional<int> section_id;
  Duration duration{};
  std::optional<uint64_t> count;  // how many times it took that long
  friend bool operator==(const Stall&, const Stall&) = default;
};

// How long one device's state took to save (source) or load (destination) while the guest was
// paused (QEMU's vmstate_downtime_save/_load trace events).
struct DeviceDowntime {
  std::string device;                // QEMU's idstr, e.g. "0000:00:01.0/virtio-net"
  std::optional<uint32_t> instance;  // instance_id, when several share an idstr
  std::string side;                  // "source" (save) or "destination" (load)
  std::string kind;                  // "iterable" (RAM, block) or "non-iterable" (devices)
  Duration duration{};
  friend bool operator==(const DeviceDowntime&, const DeviceDowntime&) = default;
};

// A latency distribution: exact samples when we have them, otherwise a histogram and/or the
// summary figures a tool printed. Percentiles from a histogram are bounds, and say so.
struct LatencyDistribution {
  // One histogram bucket holding samples in [lower, upper). `upper` is nullopt for an open-ended
  // last bucket (mig_mon's "over one second").
  struct Bucket {
    Duration lower{};
    std::optional<Duration> upper;
    uint64_t count = 0;
    friend bool operator==(const Bucket&, const Bucket&) = default;
  };
  // A percentile as computed: `value` is the estimate; [lower_bound, upper_bound] holds the true
  // value. Exact when computed from samples (then all three are equal).
  struct Estimate {
    Duration value{};
    Duration lower_bound{};
    std::optional<Duration> upper_bound;  // nullopt: open-ended bucket, no upper bound
    bool exact = false;
  };

  std::vector<Duration> samples;  // exact samples, in arrival order
  std::vector<Bucket> histogram;  // sorted by lower bound
  // Summary figures as a tool reported them (used when neither samples nor histogram say more).
  std::optional<uint64_t> reported_count;
  std::optional<Duration> reported_min, reported_avg, reported_max, reported_p50, reported_p99,
      reported_mdev;

  bool empty() const;
  uint64_t Count() const;  // samples, else histogram sum, else reported
  std::optional<Duration> Min() const;
  std::optional<Duration> Average() const;
  std::optional<Duration> Max() const;
  // p in [0, 100]. nullopt when nothing is known.
  std::optional<Estimate> Percentile(double p) const;
  friend bool operator==(const LatencyDistribution&, const LatencyDistribution&) = default;
};

// MigrationResult::error of a run the harness could not measure (a VMM that never started, a
// guest that never booted): the fixture reported the reason once, in full; matchers say only this.
inline constexpr std::string_view kHarnessFailure =
    "the run could not be measured (harness failure, reported once above)";

// What a migration reported about itself.
struct MigrationResult {
  Format format = Format::kMigtest;
  Status status = Status::kUnknown;
  std::optional<std::string> error;  // why it failed, when it did
  std::optional<bool> converged;     // precopy reached the downtime goal by itself
  std::optional<bool> verified;      // destination memory checked equal to source
  std::optional<Duration> total_time;
  std::optional<Duration> downtime;  // as the VMM reports it
  // The guest's real pause, measured apart from the VMM's own figure: source stop → destination
  // vCPUs running (QEMU: trace checkpoints src-downtime-start → dst-*-vm-started). QEMU's
  // `downtime` is source-side only; this is what the guest lived through. config
  // "guest_pause_from" says what it was measured from.
  std::optional<Duration> guest_pause;
  std::optional<Duration> downtime_goal;  // downtime-limit / "goal was"
  std::optional<Duration> setup_time;
  std::optional<Duration> expected_downtime;     // QEMU, while active
  std::optional<Duration> stop_resume_gap;       // STOP event on source to RESUME on destination
  std::optional<Duration> downtime_uncertainty;  // ± on `downtime` when clocks differ
  std::vector<Phase> downtime_breakdown;
  std::vector<DeviceDowntime> downtime_devices;  // worst first
  std::vector<Iteration> iterations;
  std::vector<Stall> stalls;
  std::optional<LatencyDistribution> postcopy_latency;
  std::optional<Duration> postcopy_blocktime;
  std::vector<double> bandwidth_mib_s;        // per-second samples, MiB/s
  std::map<std::string, uint64_t> pages;      // e.g. stage3, dtx, mtx, total, duplicate
  std::map<std::string, uint64_t> bytes;      // e.g. transferred, remaining, total, precopy
  std::map<std::string, std::string> config;  // the configuration the run reported
  friend bool operator==(const MigrationResult&, const MigrationResult&) = default;
};

// One spike the prober logged (mig_mon's CSV: unix seconds, delay).
struct Spike {
  int64_t t_s = 0;  // unix seconds
  Duration delay{};
  friend bool operator==(const Spike&, const Spike&) = default;
};

// What a UDP prober (or ping) saw of the guest's network while it migrated.
struct ProbeResult {
  std::optional<Duration> interval;
  std::optional<uint64_t> sent, received, lost;
  // From the first unanswered probe's send to the first reply received after it.
  std::optional<Duration> longest_blackout;
  std::optional<Duration> max_latency;  // largest delay the tool reported
  std::optional<uint64_t> pipe;         // ping's "pipe N": most probes outstanding at once
  LatencyDistribution rtt;
  std::vector<Spike> spikes;
  friend bool operator==(const ProbeResult&, const ProbeResult&) = default;
};

// What the guest's memory dirtier achieved.
struct DirtyResult {
  std::optional<std::string> pattern;       // sequential | random | once
  std::optional<uint64_t> memory_mb;        // MiB
  std::optional<double> requested_mib_s;    // nullopt: unlimited
  std::vector<double> rate_mib_s;           // achieved, one per second
  std::vector<double> load_percent;         // one per second, when reported
  LatencyDistribution latency;              // memory-access latency (mm_dirty -L)
  std::optional<uint64_t> verify_errors;    // pages found corrupted (--verify)
  std::optional<std::string> verify_error;  // first corruption, in words
  friend bool operator==(const DirtyResult&, const DirtyResult&) = default;
};

// One line of a log, quoted: where it was (1-based line in GuestResult::console) and what it said.
struct ConsoleLine {
  uint64_t line = 0;
  std::string text{};
  friend bool operator==(const ConsoleLine&, const ConsoleLine&) = default;
};

// What the guest's own console said after the migration (a VMM backend reads the destination's
// serial log, which holds only what the guest printed once it ran there).
struct GuestResult {
  std::string console{};                // the log read (path or name)
  uint64_t lines = 0;                   // lines read
  std::vector<ConsoleLine> problems{};  // panic, oops, BUG, corruption, MIGTEST-GUEST-ERROR…
  std::optional<uint64_t> dirtier_seconds{};  // the dirtier's per-second lines (nullopt: none)
  std::optional<uint64_t> verify_errors{};    // corruption reports (0: the dirtier ran, none)
  // Distinct pages of the dirtier's working set it checked after the migration (a sweep the
  // host asked for once the guest ran here, with the rewrites' own checks), of how many.
  std::optional<uint64_t> pages_checked{};
  std::optional<uint64_t> working_set_pages{};
  std::optional<bool> answered{};  // answered the prober after resume (set by fixtures)
  friend bool operator==(const GuestResult&, const GuestResult&) = default;
};

// The verdict of the test that made the run, as gtest judged it when the test ended (the fixture
// writes it into result.json at TearDown). A parsed log has none.
struct TestVerdict {
  enum class Outcome { kPassed, kFailed, kSkipped };
  Outcome outcome = Outcome::kPassed;
  // Each failed assertion in full: "file:line: " and gtest's text of it, every line
  // ("Value of: run.migration", "Expected: …", "  Actual: …"), without gtest's trace lines.
  // FailureHeadline gives one line of it.
  std::vector<std::string> failures{};
  friend bool operator==(const TestVerdict&, const TestVerdict&) = default;
};

// Everything one run (or one parsed file) produced. result.json is this, serialised.
struct RunResult {
  Format format = Format::kMigtest;
  std::string source;               // path or description of what was parsed or run
  std::optional<std::string> test;  // Suite.Test, when a fixture wrote it
  nlohmann::json scenario;          // what the fixture asked for (null when parsed)
  std::optional<MigrationResult> migration;
  std::optional<ProbeResult> probe;
  std::optional<DirtyResult> dirty;
  std::optional<GuestResult> guest;
  std::optional<TestVerdict> verdict;  // the test's own, when a fixture ran it
  nlohmann::json extra;                // producer-specific additions, kept verbatim
  friend bool operator==(const RunResult&, const RunResult&) = default;
};

// Names as they appear in result.json and on command lines.
std::string_view ToString(Format format);
std::string_view ToString(Status status);
std::optional<Format> FormatFromString(std::string_view name);
// Every name FormatFromString accepts: "auto", then each format in the order detection tries them.
std::vector<std::string> FormatNames();
std::optional<Status> StatusFromString(std::string_view name);
std::string_view ToString(TestVerdict::Outcome outcome);  // passed | failed | skipped
std::optional<TestVerdict::Outcome> OutcomeFromString(std::string_view name);
// One line for a failed assertion's full text (TestVerdict::failures): its first line, and when
// that is gtest's bare "Value of: x", its "Expected: …" line after a dash.
std::string FailureHeadline(std::string_view failure);

// Fills what `into` lacks from `from` (parts and figures); used to combine a migration log with the
// prober's and the dirtier's outputs into one RunResult.
void Merge(RunResult& into, const RunResult& from);

// The downtime every migtest verdict judges and every printer shows under the name "downtime":
// the guest's pause measured apart from the VMM (guest_pause: QEMU's trace checkpoints), else
// the gap from the source's STOP to the destination's RESUME, else the VMM's own figure. QEMU's
// own `downtime` is the source's side only; where it is not what is judged, it is shown beside
// the judged figure under its own name (ReportedDowntimeName: "QEMU reported").
enum class DowntimeSource { kGuestPause, kStopResumeGap, kReported };
struct JudgedDowntimeFigure {
  Duration value{};
  DowntimeSource from = DowntimeSource::kReported;
};
std::optional<JudgedDowntimeFigure> JudgedDowntimeOf(const MigrationResult& m);
std::optional<Duration> JudgedDowntime(const MigrationResult& m);
// What the judged downtime was measured from, for a reader: "the guest's pause (QEMU trace
// checkpoints src-downtime-start → dst-precopy-bh-vm-started)", "STOP → RESUME", "QEMU's own
// figure"...
std::string DescribeDowntimeSource(const MigrationResult& m, DowntimeSource from);
// The VMM's own downtime figure's name: "QEMU reported", "cloud-hypervisor reported", else
// "VMM reported".
std::string_view ReportedDowntimeName(Format format);
// The VMM's own figure when it is not the judged one (a guest pause or STOP→RESUME gap was
// measured): shown beside the judged downtime under ReportedDowntimeName. nullopt when the VMM's
// figure is what is judged, or when it reported none.
std::optional<Duration> ReportedDowntimeBeside(const MigrationResult& m);

// Per-device times (QEMU's vmstate_downtime_save/_load trace events) placed in the downtime
// phases the trace checkpoints bound: a source device's save in "iterable-save" (RAM, block) or
// "non-iterable-save" (every other device), a destination device's load in "destination-load".
std::string_view DevicePhase(const DeviceDowntime& d);
// "0000:00:01.0/virtio-net", "dma #1": QEMU's idstr, with the instance when it is not the first.
std::string DeviceName(const DeviceDowntime& d);
// The `n` slowest devices whose time falls in `phase` (DevicePhase), or on `side` ("source",
// "destination") when `phase` is empty; slowest first, ties in the VMM's order.
std::vector<const DeviceDowntime*> SlowestDevices(const MigrationResult& m, std::string_view side,
                                                  std::string_view phase, size_t n);

// The longest the migration held the guest's copy still in one go, and what it was: an
// iteration's dirty-bitmap sync (Iteration::sync_time) or a section the VMM reported as a stall
// (QEMU DEBUG_SAVEVM, trace events). An iteration's length is not a stall.
struct WorstStallFigure {
  Duration duration{};
  std::optional<int> iteration;  // Iteration::index, when it was that iteration's sync
  std::optional<Stall> section;  // else the reported stall
};
// Which figures WorstStall weighs: sync times and reported stalls, or the sync times alone (the
// "worst sync" a summary shows).
enum class StallSources { kAll, kSyncOnly };
// nullopt when the result has none of those figures. On a tie the iteration, then the earliest.
std::optional<WorstStallFigure> WorstStall(const MigrationResult& m,
                                           StallSources sources = StallSources::kAll);

// What went wrong with a run, judged before any of its timings: a merge gate never averages such
// a run with good ones, and never shows it as ok. In the order a reader should hear them.
struct RunProblem {
  enum class Kind {
    kHarness,         // the harness could not measure it (a VMM that never started, …)
    kNotCompleted,    // the migration failed, was cancelled, or never finished
    kUnverified,      // memory checked and found different (verified: false)
    kGuestUnhealthy,  // panic/oops/corruption on the console, corrupted pages, no prober answer
    kTestFailed,      // the test's own verdict: an SLO or another assertion failed
  };
  Kind kind;
  std::string why;  // one line, with the run's own words (its error, the first problem line)
};
std::string_view ToString(RunProblem::Kind kind);  // "harness failure", "not completed", …
// Every problem of the run, each kind once. Empty: the run completed, nothing says its memory or
// guest broke, and its test (when it has a verdict) passed.
std::vector<RunProblem> ProblemsOf(const RunResult& run);
// Whether the run's timings may be pooled with other runs': it completed and was measured, and
// neither its memory nor its guest broke (a failed SLO is a measurement: its timings count).
bool TimingsCount(const std::vector<RunProblem>& problems);

}  // namespace migtest
