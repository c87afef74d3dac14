// mig_mon / migmon human outputs (seed 001 and the real tool's forms): mm_dirty's per-second line
// and -L histogram, vm -s's Speed, vm -d's Latency, the prober's spike CSV and live status line.
// migtest's own result.json (one document, or JSON lines of several).
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "migtest/results/json.hpp"
#include "parse_internal.hpp"

namespace migtest::internal {
namespace {

constexpr std::string_view kSpikeInitMarker = "18446744073709551615";

}  // namespace

RunResult ParseMigmon(std::istream& in, std::string_view source) {
  RunResult run;
  run.format = Format::kMigmon;
  run.source = std::string(source);
  DirtyResult dirty;
  ProbeResult probe;
  MigrationResult mig;
  mig.format = Format::kMigmon;
  bool has_dirty = false, has_probe = false, has_mig = false;
  std::vector<Duration> latency_averages;
  std::optional<Duration> latency_max;

  static const std::regex kDirty(
      R"(^dirty-rate: (\d+(?:\.\d+)?) \(MB/s\), time \(ms\): (\d+(?:\.\d+)?), load: (\d+(?:\.\d+)?)%(?:, lat \(us\): p50=(\d+) p99=(\d+) max=(\d+))?$)");
  static const std::regex kBucket(R"(^(\d+) \(us\): (\d+)$)");
  static const std::regex kSpeed(R"(^Speed: (\d+(?:\.\d+)?) \(MB/s\)$)");
  static const std::regex kLatency(
      R"(^Latency: average (\d+(?:\.\d+)?) \(us\), max: (\d+) \(us\)$)");
  static const std::regex kStatus(R"(^\[(\d+)\] max_delay: (\d+) \(ms\), cur: (\d+) \(ms\)$)");
  static const std::regex kSpike(R"(^(\d+),(\d+)$)");
  static const std::regex kPattern(
      R"((?:^|\s)(?:[Dd]irty )?[Pp]attern:\s*(sequential|random|once)\b)");
  static const std::regex kMemory(R"([Mm]emory size:\s*(\d+)\s*\(?MB)");
  static const std::regex kRate(R"([Dd]irty rate:\s*(\d+)\s*\(?MB/s)");

  LineReader r(in, source);
  std::string raw;
  std::vector<LatencyDistribution::Bucket> buckets;
  while (r.Next(raw)) {
    std::string line(Trim(raw));
    if (line.empty()) continue;
    std::smatch m;
    if (line.starts_with("dirty-rate:")) {
      if (!std::regex_match(line, m, kDirty)) {
        r.Fail("'dirty-rate: N (MB/s), time (ms): N, load: N.NN%[, lat (us): p50=N p99=N max=N]'",
               line);
      }
      dirty.rate_mib_s.push_back(std::stod(m[1]));
      dirty.load_percent.push_back(std::stod(m[3]));
      has_dirty = true;
    } else if (line.find(" (us): ") != std::string::npos && !line.starts_with("Latency")) {
      if (!std::regex_match(line, m, kBucket)) r.Fail("'N (us): count'", line);
      const uint64_t label = std::stoull(m[1]);
      if (label == 0 || (label & (label - 1)) != 0) {
        r.Fail("a power-of-two bucket label", line);
      }
      // Label 2^i holds [2^(i-1), 2^i) us; label 1 holds [0, 1); the last (2^20) also holds
      // everything over one second, so it has no upper bound.
      LatencyDistribution::Bucket b;
      b.lower = Duration(label == 1 ? 0 : static_cast<int64_t>(label / 2));
      b.upper = Duration(static_cast<int64_t>(label));
      b.count = std::stoull(m[2]);
      if (label >= (uint64_t{1} << 20)) b.upper.reset();
      buckets.push_back(b);
      has_dirty = true;
    } else if (line.starts_with("Speed:")) {
      if (!std::regex_match(line, m, kSpeed)) r.Fail("'Speed: N (MB/s)'", line);
      mig.bandwidth_mib_s.push_back(std::stod(m[1]));
      has_mig = true;
    } else if (line.starts_with("Latency:")) {
      if (!std::regex_match(line, m, kLatency)) {
        r.Fail("'Latency: average N (us), max: N (us)'", line);
      }
      latency_averages.push_back(Duration(static_cast<int64_t>(std::stod(m[1]))));
      Duration mx(std::stoll(m[2]));
      latency_max = latency_max ? std::max(*latency_max, mx) : mx;
      has_mig = true;
    } else if (line.find("max_delay:") != std::string::npos && line.starts_with("[")) {
      if (!std::regex_match(line, m, kStatus)) {
        r.Fail("'[mono_ms] max_delay: N (ms), cur: N (ms)'", line);
      }
      probe.max_latency = std::chrono::milliseconds(std::stoll(m[2]));
      has_probe = true;
    } else if (std::isdigit(static_cast<unsigned char>(line[0])) &&
               line.find(',') != std::string::npos && line.find(' ') == std::string::npos) {
      if (!std::regex_match(line, m, kSpike)) r.Fail("a spike 'unix_seconds,delay_ms'", line);
      has_probe = true;
      if (m[2].str() == kSpikeInitMarker) continue;  // the log's init marker, not a spike
      auto delay = ToNumber<int64_t>(m[2].str());
      if (!delay) r.Fail("a delay in ms", line);
      probe.spikes.push_back({std::stoll(m[1]), std::chrono::milliseconds(*delay)});
      Duration d = std::chrono::milliseconds(*delay);
      probe.max_latency = probe.max_latency ? std::max(*probe.max_latency, d) : d;
    } else {
      if (std::regex_search(line, m, kPattern)) dirty.pattern = m[1];
      if (std::regex_search(line, m, kMemory)) dirty.memory_mb = std::stoull(m[1]);
      if (std::regex_search(line, m, kRate)) dirty.requested_mib_s = std::stod(m[1]);
    }
  }
  if (!buckets.empty()) {
    if (buckets.size() != 21) {
      throw ParseError(std::string(source), r.line_number(), "21 histogram lines 'N (us): count'",
                       fmt::format("{}", buckets.size()));
    }
    dirty.latency.histogram = std::move(buckets);
  }
  if (!latency_averages.empty()) {
    LatencyDistribution lat;
    Duration::rep sum = 0;
    for (Duration d : latency_averages) sum += d.count();
    lat.reported_avg = Duration(sum / static_cast<Duration::rep>(latency_averages.size()));
    lat.reported_max = latency_max;
    mig.postcopy_latency = std::move(lat);
  }
  if (!has_dirty && !has_probe && !has_mig) {
    throw ParseError(std::string(source), r.line_number(),
                     "mig_mon lines (dirty-rate:, N (us): count, Speed:, Latency:, max_delay:, "
                     "spike CSV)",
                     "none before the end of the input");
  }
  if (has_dirty) run.dirty = std::move(dirty);
  if (has_probe) run.probe = std::move(probe);
  if (has_mig) {
    mig.status = Status::kUnknown;  // a stream emulation reports no migration outcome
    run.migration = std::move(mig);
  }
  return run;
}

std::vector<RunResult> ParseMigtestRuns(std::istream& in, std::string_view source) {
  std::vector<RunResult> runs;
  for (const JsonValue& v : ReadJsonValues(in, source)) {
    try {
      runs.push_back(v.value.get<RunResult>());
    } catch (const nlohmann::json::exception& e) {
      throw ParseError(std::string(source), v.line, "a migtest result.json document",
                       Quote(e.what()));
    }
    if (runs.back().source.empty()) runs.back().source = std::string(source);
  }
  if (runs.empty()) {
    throw ParseError(std::string(source), 0, "a migtest result.json document", "none");
  }
  return runs;
}

}  // namespace migtest::internal
