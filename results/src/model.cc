#include "migtest/results/model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <utility>

#include "format_names.hpp"

namespace migtest {
namespace {

constexpr std::array<std::pair<Status, std::string_view>, 5> kStatusNames{{
    {Status::kUnknown, "unknown"},
    {Status::kActive, "active"},
    {Status::kCompleted, "completed"},
    {Status::kFailed, "failed"},
    {Status::kCancelled, "cancelled"},
}};

template <typename T>
void FillOptional(std::optional<T>& into, const std::optional<T>& from) {
  if (!into && from) into = from;
}

template <typename T>
void FillVector(std::vector<T>& into, const std::vector<T>& from) {
  if (into.empty()) into = from;
}

template <typename K, typename V>
void FillMap(std::map<K, V>& into, const std::map<K, V>& from) {
  for (const auto& [k, v] : from) into.emplace(k, v);  // emplace keeps what `into` has
}

void MergeDistribution(LatencyDistribution& into, const LatencyDistribution& from) {
  FillVector(into.samples, from.samples);
  FillVector(into.histogram, from.histogram);
  FillOptional(into.reported_count, from.reported_count);
  FillOptional(into.reported_min, from.reported_min);
  FillOptional(into.reported_avg, from.reported_avg);
  FillOptional(into.reported_max, from.reported_max);
  FillOptional(into.reported_p50, from.reported_p50);
  FillOptional(into.reported_p99, from.reported_p99);
  FillOptional(into.reported_mdev, from.reported_mdev);
}

void MergeMigration(MigrationResult& into, const MigrationResult& from) {
  if (into.status == Status::kUnknown) into.status = from.status;
  FillOptional(into.error, from.error);
  FillOptional(into.converged, from.converged);
  FillOptional(into.verified, from.verified);
  FillOptional(into.total_time, from.total_time);
  FillOptional(into.downtime, from.downtime);
  FillOptional(into.guest_pause, from.guest_pause);
  FillOptional(into.downtime_goal, from.downtime_goal);
  FillOptional(into.setup_time, from.setup_time);
  FillOptional(into.expected_downtime, from.expected_downtime);
  FillOptional(into.stop_resume_gap, from.stop_resume_gap);
  FillOptional(into.downtime_uncertainty, from.downtime_uncertainty);
  FillVector(into.downtime_breakdown, from.downtime_breakdown);
  FillVector(into.downtime_devices, from.downtime_devices);
  FillVector(into.iterations, from.iterations);
  FillVector(into.stalls, from.stalls);
  if (!into.postcopy_latency) {
    into.postcopy_latency = from.postcopy_latency;
  } else if (from.postcopy_latency) {
    MergeDistribution(*into.postcopy_latency, *from.postcopy_latency);
  }
  FillOptional(into.postcopy_blocktime, from.postcopy_blocktime);
  FillVector(into.bandwidth_mib_s, from.bandwidth_mib_s);
  FillMap(into.pages, from.pages);
  FillMap(into.bytes, from.bytes);
  FillMap(into.config, from.config);
}

void MergeProbe(ProbeResult& into, const ProbeResult& from) {
  FillOptional(into.interval, from.interval);
  FillOptional(into.sent, from.sent);
  FillOptional(into.received, from.received);
  FillOptional(into.lost, from.lost);
  FillOptional(into.longest_blackout, from.longest_blackout);
  FillOptional(into.max_latency, from.max_latency);
  FillOptional(into.pipe, from.pipe);
  MergeDistribution(into.rtt, from.rtt);
  FillVector(into.spikes, from.spikes);
}

void MergeDirty(DirtyResult& into, const DirtyResult& from) {
  FillOptional(into.pattern, from.pattern);
  FillOptional(into.memory_mb, from.memory_mb);
  FillOptional(into.requested_mib_s, from.requested_mib_s);
  FillVector(into.rate_mib_s, from.rate_mib_s);
  FillVector(into.load_percent, from.load_percent);
  MergeDistribution(into.latency, from.latency);
  FillOptional(into.verify_errors, from.verify_errors);
  FillOptional(into.verify_error, from.verify_error);
}

template <typename T>
void MergePart(std::optional<T>& into, const std::optional<T>& from, void (*merge)(T&, const T&)) {
  if (!from) return;
  if (!into) {
    into = from;
  } else {
    merge(*into, *from);
  }
}

}  // namespace

std::string_view ToString(Format format) {
  for (const internal::FormatName& f : internal::kFormatNames) {
    if (f.format == format) return f.name;
  }
  return "unknown";
}

std::string_view ToString(Status status) {
  for (const auto& [s, name] : kStatusNames) {
    if (s == status) return name;
  }
  return "unknown";
}

std::optional<Format> FormatFromString(std::string_view name) {
  for (const internal::FormatName& f : internal::kFormatNames) {
    if (f.name == name) return f.format;
  }
  return std::nullopt;
}

std::vector<std::string> FormatNames() {
  std::vector<std::string> names;
  for (const internal::FormatName& f : internal::kFormatNames) names.emplace_back(f.name);
  return names;
}

std::string_view ToString(TestVerdict::Outcome outcome) {
  switch (outcome) {
    case TestVerdict::Outcome::kPassed:
      return "passed";
    case TestVerdict::Outcome::kFailed:
      return "failed";
    case TestVerdict::Outcome::kSkipped:
      return "skipped";
  }
  return "unknown";
}

std::optional<TestVerdict::Outcome> OutcomeFromString(std::string_view name) {
  for (auto o : {TestVerdict::Outcome::kPassed, TestVerdict::Outcome::kFailed,
                 TestVerdict::Outcome::kSkipped}) {
    if (ToString(o) == name) return o;
  }
  return std::nullopt;
}

std::optional<Status> StatusFromString(std::string_view name) {
  for (const auto& [s, n] : kStatusNames) {
    if (n == name) return s;
  }
  return std::nullopt;
}

bool LatencyDistribution::empty() const { return Count() == 0 && !reported_avg && !reported_max; }

uint64_t LatencyDistribution::Count() const {
  if (!samples.empty()) return samples.size();
  if (!histogram.empty()) {
    return std::accumulate(histogram.begin(), histogram.end(), uint64_t{0},
                           [](uint64_t n, const Bucket& b) { return n + b.count; });
  }
  return reported_count.value_or(0);
}

std::optional<Duration> LatencyDistribution::Min() const {
  if (!samples.empty()) return *std::min_element(samples.begin(), samples.end());
  if (reported_min) return reported_min;
  for (const Bucket& b : histogram) {
    if (b.count > 0) return b.lower;  // a lower bound: the bucket says no more
  }
  return std::nullopt;
}

std::optional<Duration> LatencyDistribution::Average() const {
  if (!samples.empty()) {
    Duration::rep sum = 0;
    for (Duration d : samples) sum += d.count();
    return Duration(sum / static_cast<Duration::rep>(samples.size()));
  }
  return reported_avg;  // a histogram's mean is not known
}

std::optional<Duration> LatencyDistribution::Max() const {
  if (!samples.empty()) return *std::max_element(samples.begin(), samples.end());
  if (reported_max) return reported_max;
  for (auto it = histogram.rbegin(); it != histogram.rend(); ++it) {
    if (it->count > 0) return it->upper.value_or(it->lower);  // an upper bound when closed
  }
  return std::nullopt;
}

std::optional<LatencyDistribution::Estimate> LatencyDistribution::Percentile(double p) const {
  p = std::clamp(p, 0.0, 100.0);
  if (!samples.empty()) {
    std::vector<Duration> sorted = samples;
    std::sort(sorted.begin(), sorted.end());
    // Nearest rank: the smallest sample with at least p % of samples at or below it.
    auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
    Duration v = sorted[rank == 0 ? 0 : rank - 1];
    return Estimate{v, v, v, true};
  }
  auto reported = [](const std::optional<Duration>& d) -> std::optional<Estimate> {
    if (!d) return std::nullopt;
    return Estimate{*d, *d, *d, true};
  };
  // A figure the tool computed exactly beats a bucket bound for that same percentile.
  if (p == 50.0 && reported_p50) return reported(reported_p50);
  if (p == 99.0 && reported_p99) return reported(reported_p99);
  if (p == 100.0 && reported_max) return reported(reported_max);
  const uint64_t total = Count();
  if (!histogram.empty() && total > 0) {
    auto rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total)));
    if (rank == 0) rank = 1;
    uint64_t seen = 0;
    for (const Bucket& b : histogram) {
      seen += b.count;
      if (seen >= rank) {
        // The estimate is the bucket's geometric middle (our buckets are log-spaced), the bounds
        // are the bucket's: the true value lies in [lower, upper).
        Duration value = b.lower;
        if (b.upper) {
          double lo = std::max<double>(1.0, static_cast<double>(b.lower.count()));
          value = Duration(
              static_cast<Duration::rep>(std::sqrt(lo * static_cast<double>(b.upper->count()))));
        }
        return Estimate{value, b.lower, b.upper, false};
      }
    }
  }
  if (p == 50.0) return reported(reported_p50);
  if (p == 99.0) return reported(reported_p99);
  if (p == 100.0) return reported(reported_max);
  if (p == 0.0) return reported(reported_min);
  return std::nullopt;
}

void Merge(RunResult& into, const RunResult& from) {
  if (into.source.empty()) into.source = from.source;
  FillOptional(into.test, from.test);
  if (into.scenario.is_null()) into.scenario = from.scenario;
  MergePart(into.migration, from.migration, &MergeMigration);
  MergePart(into.probe, from.probe, &MergeProbe);
  MergePart(into.dirty, from.dirty, &MergeDirty);
  if (!into.guest) into.guest = from.guest;
  if (into.extra.is_null()) {
    into.extra = from.extra;
  } else if (into.extra.is_object() && from.extra.is_object()) {
    for (const auto& [k, v] : from.extra.items()) {
      if (!into.extra.contains(k)) into.extra[k] = v;
    }
  }
}

std::optional<JudgedDowntimeFigure> JudgedDowntimeOf(const MigrationResult& m) {
  if (m.guest_pause) return JudgedDowntimeFigure{*m.guest_pause, DowntimeSource::kGuestPause};
  if (m.stop_resume_gap) {
    return JudgedDowntimeFigure{*m.stop_resume_gap, DowntimeSource::kStopResumeGap};
  }
  if (m.downtime) return JudgedDowntimeFigure{*m.downtime, DowntimeSource::kReported};
  return std::nullopt;
}

std::optional<Duration> JudgedDowntime(const MigrationResult& m) {
  if (auto j = JudgedDowntimeOf(m)) return j->value;
  return std::nullopt;
}

std::string_view ReportedDowntimeName(Format format) {
  switch (format) {
    case Format::kQemuDebug:
    case Format::kQemuQmp:
    case Format::kQemuTrace:
      return "QEMU reported";
    case Format::kCloudHypervisor:
      return "cloud-hypervisor reported";
    default:
      return "VMM reported";
  }
}

std::string DescribeDowntimeSource(const MigrationResult& m, DowntimeSource from) {
  switch (from) {
    case DowntimeSource::kGuestPause: {
      auto it = m.config.find("guest_pause_from");
      return "the guest's pause, from " +
             (it != m.config.end() ? it->second : std::string("the run's own clocks"));
    }
    case DowntimeSource::kStopResumeGap:
      return "the guest's pause, from the source's STOP event to the destination's RESUME";
    case DowntimeSource::kReported:
      break;
  }
  if (m.format == Format::kQemuQmp || m.format == Format::kQemuTrace ||
      m.format == Format::kQemuDebug) {
    return "QEMU's own figure: the source's side only";
  }
  return "the VMM's own figure";
}

std::optional<Duration> ReportedDowntimeBeside(const MigrationResult& m) {
  const auto judged = JudgedDowntimeOf(m);
  if (!judged || judged->from == DowntimeSource::kReported) return std::nullopt;
  return m.downtime;
}

std::string FailureHeadline(std::string_view failure) {
  auto next_line = [&failure]() {
    const size_t end = failure.find('\n');
    std::string_view line = failure.substr(0, end);
    failure.remove_prefix(end == std::string_view::npos ? failure.size() : end + 1);
    return line;
  };
  const std::string first(next_line());
  if (first.find("Value of: ") == std::string::npos) return first;
  while (!failure.empty()) {
    std::string_view line = next_line();
    if (line.starts_with("Expected: ")) return first + " — " + std::string(line);
  }
  return first;
}

std::string_view DevicePhase(const DeviceDowntime& d) {
  if (d.side == "destination") return "destination-load";
  return d.kind == "iterable" ? "iterable-save" : "non-iterable-save";
}

std::string DeviceName(const DeviceDowntime& d) {
  if (d.instance && *d.instance != 0) return fmt::format("{} #{}", d.device, *d.instance);
  return d.device;
}

std::vector<const DeviceDowntime*> SlowestDevices(const MigrationResult& m, std::string_view side,
                                                  std::string_view phase, size_t n) {
  std::vector<const DeviceDowntime*> out;
  for (const DeviceDowntime& d : m.downtime_devices) {
    if (!side.empty() && d.side != side) continue;
    if (!phase.empty() && DevicePhase(d) != phase) continue;
    out.push_back(&d);
  }
  std::stable_sort(out.begin(), out.end(), [](const DeviceDowntime* a, const DeviceDowntime* b) {
    return a->duration > b->duration;
  });
  if (out.size() > n) out.resize(n);
  return out;
}

std::optional<WorstStallFigure> WorstStall(const MigrationResult& m, StallSources sources) {
  std::optional<WorstStallFigure> worst;
  for (const Iteration& it : m.iterations) {
    if (it.sync_time && (!worst || *it.sync_time > worst->duration)) {
      worst = WorstStallFigure{*it.sync_time, it.index, std::nullopt};
    }
  }
  if (sources == StallSources::kSyncOnly) return worst;
  for (const Stall& s : m.stalls) {
    if (!worst || s.duration > worst->duration) {
      worst = WorstStallFigure{s.duration, std::nullopt, s};
    }
  }
  return worst;
}

std::string_view ToString(RunProblem::Kind kind) {
  switch (kind) {
    case RunProblem::Kind::kHarness:
      return "harness failure";
    case RunProblem::Kind::kNotCompleted:
      return "not completed";
    case RunProblem::Kind::kUnverified:
      return "memory not verified";
    case RunProblem::Kind::kGuestUnhealthy:
      return "guest unhealthy";
    case RunProblem::Kind::kTestFailed:
      return "test failed";
  }
  return "unknown";
}

namespace {

std::string FirstLine(std::string_view text) {
  return std::string(text.substr(0, text.find('\n')));
}

std::optional<RunProblem> HarnessProblem(const RunResult& run) {
  if (auto it = run.extra.is_object() ? run.extra.find("harness_error") : run.extra.end();
      it != run.extra.end() && it->is_string()) {
    return RunProblem{RunProblem::Kind::kHarness, FirstLine(it->get<std::string>())};
  }
  if (run.migration && run.migration->error == kHarnessFailure) {
    return RunProblem{RunProblem::Kind::kHarness, std::string(kHarnessFailure)};
  }
  return std::nullopt;
}

std::optional<RunProblem> CompletionProblem(const RunResult& run) {
  if (!run.migration) return RunProblem{RunProblem::Kind::kNotCompleted, "no migration result"};
  const MigrationResult& m = *run.migration;
  if (m.status == Status::kCompleted) return std::nullopt;
  std::string why = "status " + std::string(ToString(m.status));
  if (m.error) why += ": " + FirstLine(*m.error);
  return RunProblem{RunProblem::Kind::kNotCompleted, why};
}

std::optional<RunProblem> MemoryProblem(const RunResult& run) {
  if (run.migration && run.migration->verified == false) {
    std::string why = "the destination's memory did not verify";
    if (auto by = run.migration->config.find("verified_by"); by != run.migration->config.end()) {
      why += " (checked by " + by->second + ")";
    }
    return RunProblem{RunProblem::Kind::kUnverified, why};
  }
  if (run.dirty && run.dirty->verify_errors.value_or(0) > 0) {
    return RunProblem{
        RunProblem::Kind::kUnverified,
        fmt::format("the dirtier found {} corrupted page(s){}", *run.dirty->verify_errors,
                    run.dirty->verify_error ? ": " + *run.dirty->verify_error : "")};
  }
  return std::nullopt;
}

std::optional<RunProblem> GuestProblem(const RunResult& run) {
  if (!run.guest) return std::nullopt;
  const GuestResult& g = *run.guest;
  if (!g.problems.empty()) {
    return RunProblem{RunProblem::Kind::kGuestUnhealthy,
                      fmt::format("{} problem line(s) on the guest's console, the first: {}",
                                  g.problems.size(), FirstLine(g.problems.front().text))};
  }
  if (g.verify_errors.value_or(0) > 0) {
    return RunProblem{
        RunProblem::Kind::kGuestUnhealthy,
        fmt::format("the guest's dirtier reported {} corrupted page(s)", *g.verify_errors)};
  }
  if (g.answered == false) {
    return RunProblem{RunProblem::Kind::kGuestUnhealthy,
                      "the guest never answered the prober after resume"};
  }
  return std::nullopt;
}

std::optional<RunProblem> VerdictProblem(const RunResult& run) {
  if (!run.verdict || run.verdict->outcome != TestVerdict::Outcome::kFailed) return std::nullopt;
  const auto& f = run.verdict->failures;
  return RunProblem{RunProblem::Kind::kTestFailed,
                    f.empty() ? std::string("the test failed")
                              : fmt::format("{} failed assertion(s), the first: {}", f.size(),
                                            FailureHeadline(f.front()))};
}

}  // namespace

std::vector<RunProblem> ProblemsOf(const RunResult& run) {
  std::vector<RunProblem> out;
  auto add = [&](std::optional<RunProblem> p) {
    if (p) out.push_back(std::move(*p));
  };
  const auto harness = HarnessProblem(run);
  add(harness);
  if (!harness) add(CompletionProblem(run));  // a harness failure is never a completed run
  add(MemoryProblem(run));
  add(GuestProblem(run));
  add(VerdictProblem(run));
  return out;
}

bool TimingsCount(const std::vector<RunProblem>& problems) {
  return std::all_of(problems.begin(), problems.end(),
                     [](const RunProblem& p) { return p.kind == RunProblem::Kind::kTestFailed; });
}

}  // namespace migtest
