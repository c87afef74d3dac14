#include "migtest/results/json.hpp"

#include <string>

#include "parse_internal.hpp"

namespace migtest {
namespace {

using json = nlohmann::json;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

// A duration goes out twice: `<key>_ms` (the contract, rounded down) and `<key>_us` (so that a
// round trip keeps microseconds). Reading prefers `_us`.
void PutDuration(json& j, const std::string& key, Duration d) {
  j[key + "_ms"] = duration_cast<milliseconds>(d).count();
  j[key + "_us"] = d.count();
}

void PutDuration(json& j, const std::string& key, const std::optional<Duration>& d) {
  if (d) PutDuration(j, key, *d);
}

// A duration is never negative and must fit a Duration (int64 microseconds): anything else is a
// corrupt document (and converting it would be undefined behaviour), named by its key.
Duration ToDuration(const json& j, const std::string& key, int64_t us_per_unit) {
  const json& v = j.at(key);
  if (!v.is_number()) v.get<Duration::rep>();  // throws nlohmann's type_error
  const double us = v.get<double>() * static_cast<double>(us_per_unit);
  if (us < 0) {
    throw json::out_of_range::create(406, key + " is negative: " + v.dump(), &j);
  }
  // 2^63 is a double exactly; every double below it converts.
  if (!(us < 9223372036854775808.0)) {
    throw json::out_of_range::create(406, key + " is too large: " + v.dump(), &j);
  }
  if (v.is_number_float()) return Duration(static_cast<Duration::rep>(us));
  return Duration(static_cast<Duration::rep>(v.get<uint64_t>()) * us_per_unit);
}

std::optional<Duration> GetDuration(const json& j, const std::string& key) {
  if (auto it = j.find(key + "_us"); it != j.end() && !it->is_null()) {
    return ToDuration(j, key + "_us", 1);
  }
  if (auto it = j.find(key + "_ms"); it != j.end() && !it->is_null()) {
    return ToDuration(j, key + "_ms", 1000);
  }
  return std::nullopt;
}

Duration RequireDuration(const json& j, const std::string& key) {
  auto d = GetDuration(j, key);
  if (!d) throw json::out_of_range::create(403, "key '" + key + "_ms' not found", &j);
  return *d;
}

template <typename T>
void Put(json& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}

template <typename T>
void Get(const json& j, const char* key, std::optional<T>& v) {
  if (auto it = j.find(key); it != j.end() && !it->is_null()) v = internal::GetNumber<T>(*it);
}

// Counts by name (pages, bytes): each checked as GetNumber checks one.
void Get(const json& j, const char* key, std::map<std::string, uint64_t>& v) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  v.clear();
  for (const auto& [name, n] : it->get<std::map<std::string, json>>()) {
    v[name] = internal::GetNumber<uint64_t>(n);
  }
}

template <typename T>
void Get(const json& j, const char* key, std::vector<T>& v) {
  if (auto it = j.find(key); it != j.end() && !it->is_null()) v = it->get<std::vector<T>>();
}

template <typename T>
void Get(const json& j, const char* key, T& v) {
  if (auto it = j.find(key); it != j.end() && !it->is_null()) v = internal::GetNumber<T>(*it);
}

}  // namespace

void to_json(json& j, const Phase& v) {
  j = json{{"phase", v.name},
           {"ms", duration_cast<milliseconds>(v.duration).count()},
           {"us", v.duration.count()}};
}

void from_json(const json& j, Phase& v) {
  v.name = j.at("phase").get<std::string>();
  if (auto it = j.find("us"); it != j.end()) {
    v.duration = ToDuration(j, "us", 1);
  } else {
    v.duration = ToDuration(j, "ms", 1000);
  }
}

void to_json(json& j, const Iteration& v) {
  j = json{{"index", v.index}};
  PutDuration(j, "start", v.start);
  PutDuration(j, "duration", v.duration);
  Put(j, "pages_sent", v.pages_sent);
  Put(j, "pages_dirtied", v.pages_dirtied);
  Put(j, "dirty_pages_rate", v.dirty_pages_rate);
  Put(j, "bytes_sent", v.bytes_sent);
  if (v.sync_time) {
    j["sync_ms"] = duration_cast<milliseconds>(*v.sync_time).count();
    j["sync_us"] = v.sync_time->count();
  }
  Put(j, "io_count", v.io_count);
  Put(j, "progress", v.progress);
  Put(j, "bandwidth_mib_s", v.bandwidth_mib_s);
  PutDuration(j, "est_downtime", v.est_downtime);
  Put(j, "remaining_bytes", v.remaining_bytes);
  Put(j, "cpu_throttle_percent", v.cpu_throttle_percent);
}

void from_json(const json& j, Iteration& v) {
  v = Iteration{};
  v.index = internal::GetNumber<int>(j.at("index"));
  v.start = GetDuration(j, "start");
  v.duration = GetDuration(j, "duration");
  Get(j, "pages_sent", v.pages_sent);
  Get(j, "pages_dirtied", v.pages_dirtied);
  Get(j, "dirty_pages_rate", v.dirty_pages_rate);
  Get(j, "bytes_sent", v.bytes_sent);
  v.sync_time = GetDuration(j, "sync");
  Get(j, "io_count", v.io_count);
  Get(j, "progress", v.progress);
  Get(j, "bandwidth_mib_s", v.bandwidth_mib_s);
  v.est_downtime = GetDuration(j, "est_downtime");
  Get(j, "remaining_bytes", v.remaining_bytes);
  Get(j, "cpu_throttle_percent", v.cpu_throttle_percent);
}

void to_json(json& j, const DeviceDowntime& v) {
  j = json{{"device", v.device}, {"side", v.side}};
  Put(j, "instance", v.instance);
  if (!v.kind.empty()) j["type"] = v.kind;
  j["us"] = v.duration.count();
}

void from_json(const json& j, DeviceDowntime& v) {
  v = DeviceDowntime{};
  v.device = j.at("device").get<std::string>();
  v.side = j.at("side").get<std::string>();
  Get(j, "instance", v.instance);
  Get(j, "type", v.kind);
  v.duration = ToDuration(j, "us", 1);
}

void to_json(json& j, const Stall& v) {
  j = json{{"section", v.section}};
  Put(j, "section_id", v.section_id);
  PutDuration(j, "duration", v.duration);
  Put(j, "count", v.count);
}

void from_json(const json& j, Stall& v) {
  v = Stall{};
  v.section = j.at("section").get<std::string>();
  Get(j, "section_id", v.section_id);
  v.duration = RequireDuration(j, "duration");
  Get(j, "count", v.count);
}

// Latency distributions are in microseconds throughout (`postcopy_latency_us`, `rtt_us`), so the
// figures inside carry no unit suffix.
void to_json(json& j, const LatencyDistribution& v) {
  j = json::object();
  const uint64_t count = v.Count();
  if (count > 0 || v.reported_count) j["count"] = v.reported_count.value_or(count);
  auto put = [&j](const char* key, const std::optional<Duration>& d) {
    if (d) j[key] = d->count();
  };
  put("min", v.samples.empty() ? v.reported_min : v.Min());
  put("avg", v.Average());
  put("max", v.samples.empty() ? v.reported_max : v.Max());
  put("mdev", v.reported_mdev);
  if (!v.samples.empty()) {
    put("p50", v.Percentile(50)->value);
    put("p99", v.Percentile(99)->value);
  } else {
    put("p50", v.reported_p50);
    put("p99", v.reported_p99);
  }
  if (!v.samples.empty()) {
    json samples = json::array();
    for (Duration d : v.samples) samples.push_back(d.count());
    j["samples_us"] = std::move(samples);
  }
  if (!v.histogram.empty()) {
    json buckets = json::array();
    for (const auto& b : v.histogram) {
      json bucket{{"ge_us", b.lower.count()}, {"count", b.count}};
      bucket["le_us"] = b.upper ? json(b.upper->count()) : json(nullptr);
      buckets.push_back(std::move(bucket));
    }
    j["histogram"] = std::move(buckets);
  }
}

void from_json(const json& j, LatencyDistribution& v) {
  v = LatencyDistribution{};
  if (auto it = j.find("samples_us"); it != j.end()) {
    for (const auto& s : *it) v.samples.emplace_back(internal::GetNumber<Duration::rep>(s));
  }
  if (auto it = j.find("histogram"); it != j.end()) {
    for (const auto& b : *it) {
      LatencyDistribution::Bucket bucket;
      bucket.count = internal::GetNumber<uint64_t>(b.at("count"));
      if (auto le = b.find("le_us"); le != b.end() && !le->is_null()) {
        bucket.upper = Duration(internal::GetNumber<Duration::rep>(*le));
      }
      if (auto ge = b.find("ge_us"); ge != b.end()) {
        bucket.lower = Duration(internal::GetNumber<Duration::rep>(*ge));
      }
      v.histogram.push_back(bucket);
    }
  }
  if (v.samples.empty()) {
    // Summary figures are derived from samples when those exist; otherwise they are what a tool
    // reported and must come back as such.
    auto get = [&j](const char* key, std::optional<Duration>& d) {
      if (auto it = j.find(key); it != j.end() && !it->is_null()) {
        d = Duration(internal::GetNumber<Duration::rep>(*it));
      }
    };
    get("min", v.reported_min);
    get("avg", v.reported_avg);
    get("max", v.reported_max);
    get("p50", v.reported_p50);
    get("p99", v.reported_p99);
    if (v.histogram.empty()) Get(j, "count", v.reported_count);
  }
  if (auto it = j.find("mdev"); it != j.end() && !it->is_null()) {
    v.reported_mdev = Duration(internal::GetNumber<Duration::rep>(*it));
  }
}

void to_json(json& j, const MigrationResult& v) {
  j = json{{"format", ToString(v.format)}, {"status", ToString(v.status)}};
  Put(j, "error", v.error);
  Put(j, "converged", v.converged);
  Put(j, "verified", v.verified);
  PutDuration(j, "total_time", v.total_time);
  PutDuration(j, "downtime", v.downtime);
  PutDuration(j, "guest_pause", v.guest_pause);
  PutDuration(j, "downtime_goal", v.downtime_goal);
  PutDuration(j, "setup_time", v.setup_time);
  PutDuration(j, "expected_downtime", v.expected_downtime);
  PutDuration(j, "stop_resume_gap", v.stop_resume_gap);
  PutDuration(j, "downtime_uncertainty", v.downtime_uncertainty);
  if (!v.downtime_breakdown.empty()) j["downtime_breakdown"] = v.downtime_breakdown;
  if (!v.downtime_devices.empty()) j["downtime_devices"] = v.downtime_devices;
  if (!v.iterations.empty()) j["iterations"] = v.iterations;
  if (!v.stalls.empty()) j["stalls"] = v.stalls;
  if (v.postcopy_latency) j["postcopy_latency_us"] = *v.postcopy_latency;
  PutDuration(j, "postcopy_blocktime", v.postcopy_blocktime);
  if (!v.bandwidth_mib_s.empty()) j["bandwidth_mib_s"] = v.bandwidth_mib_s;
  if (!v.pages.empty()) j["pages"] = v.pages;
  if (!v.bytes.empty()) j["bytes"] = v.bytes;
  if (!v.config.empty()) j["config"] = v.config;
}

void from_json(const json& j, MigrationResult& v) {
  v = MigrationResult{};
  if (auto it = j.find("format"); it != j.end()) {
    auto name = it->get<std::string>();
    auto f = FormatFromString(name);
    if (!f) throw json::other_error::create(501, "unknown format '" + name + "'", &j);
    v.format = *f;
  }
  auto status = j.at("status").get<std::string>();
  auto s = StatusFromString(status);
  if (!s) throw json::other_error::create(501, "unknown status '" + status + "'", &j);
  v.status = *s;
  Get(j, "error", v.error);
  Get(j, "converged", v.converged);
  Get(j, "verified", v.verified);
  v.total_time = GetDuration(j, "total_time");
  v.downtime = GetDuration(j, "downtime");
  v.guest_pause = GetDuration(j, "guest_pause");
  v.downtime_goal = GetDuration(j, "downtime_goal");
  v.setup_time = GetDuration(j, "setup_time");
  v.expected_downtime = GetDuration(j, "expected_downtime");
  v.stop_resume_gap = GetDuration(j, "stop_resume_gap");
  v.downtime_uncertainty = GetDuration(j, "downtime_uncertainty");
  Get(j, "downtime_breakdown", v.downtime_breakdown);
  Get(j, "downtime_devices", v.downtime_devices);
  Get(j, "iterations", v.iterations);
  Get(j, "stalls", v.stalls);
  Get(j, "postcopy_latency_us", v.postcopy_latency);
  v.postcopy_blocktime = GetDuration(j, "postcopy_blocktime");
  Get(j, "bandwidth_mib_s", v.bandwidth_mib_s);
  Get(j, "pages", v.pages);
  Get(j, "bytes", v.bytes);
  Get(j, "config", v.config);
}

void to_json(json& j, const Spike& v) {
  j = json{{"t_s", v.t_s}};
  PutDuration(j, "delay", v.delay);
}

void from_json(const json& j, Spike& v) {
  v.t_s = internal::GetNumber<int64_t>(j.at("t_s"));
  v.delay = RequireDuration(j, "delay");
}

void to_json(json& j, const ProbeResult& v) {
  j = json::object();
  PutDuration(j, "interval", v.interval);
  Put(j, "sent", v.sent);
  Put(j, "received", v.received);
  Put(j, "lost", v.lost);
  PutDuration(j, "longest_blackout", v.longest_blackout);
  PutDuration(j, "max_latency", v.max_latency);
  Put(j, "pipe", v.pipe);
  // Anything reported is written (empty() ignores a lone min, p50, p99 or mdev).
  if (v.rtt != LatencyDistribution{}) j["rtt_us"] = v.rtt;
  if (!v.spikes.empty()) j["spikes"] = v.spikes;
}

void from_json(const json& j, ProbeResult& v) {
  v = ProbeResult{};
  v.interval = GetDuration(j, "interval");
  Get(j, "sent", v.sent);
  Get(j, "received", v.received);
  Get(j, "lost", v.lost);
  v.longest_blackout = GetDuration(j, "longest_blackout");
  v.max_latency = GetDuration(j, "max_latency");
  Get(j, "pipe", v.pipe);
  Get(j, "rtt_us", v.rtt);
  Get(j, "spikes", v.spikes);
}

void to_json(json& j, const DirtyResult& v) {
  j = json::object();
  Put(j, "pattern", v.pattern);
  Put(j, "memory_mb", v.memory_mb);
  Put(j, "requested_mib_s", v.requested_mib_s);
  j["rate_mib_s"] = v.rate_mib_s;
  if (!v.load_percent.empty()) j["load_percent"] = v.load_percent;
  if (v.latency != LatencyDistribution{}) j["latency_us"] = v.latency;
  Put(j, "verify_errors", v.verify_errors);
  Put(j, "verify_error", v.verify_error);
}

void from_json(const json& j, DirtyResult& v) {
  v = DirtyResult{};
  Get(j, "pattern", v.pattern);
  Get(j, "memory_mb", v.memory_mb);
  Get(j, "requested_mib_s", v.requested_mib_s);
  Get(j, "rate_mib_s", v.rate_mib_s);
  Get(j, "load_percent", v.load_percent);
  Get(j, "latency_us", v.latency);
  Get(j, "verify_errors", v.verify_errors);
  Get(j, "verify_error", v.verify_error);
}

void to_json(json& j, const ConsoleLine& v) { j = json{{"line", v.line}, {"text", v.text}}; }

void from_json(const json& j, ConsoleLine& v) {
  v = ConsoleLine{};
  Get(j, "line", v.line);
  Get(j, "text", v.text);
}

void to_json(json& j, const GuestResult& v) {
  j = json{{"console", v.console}, {"lines", v.lines}, {"problems", v.problems}};
  Put(j, "dirtier_seconds", v.dirtier_seconds);
  Put(j, "verify_errors", v.verify_errors);
  Put(j, "pages_checked", v.pages_checked);
  Put(j, "working_set_pages", v.working_set_pages);
  Put(j, "answered", v.answered);
}

void from_json(const json& j, GuestResult& v) {
  v = GuestResult{};
  Get(j, "console", v.console);
  Get(j, "lines", v.lines);
  Get(j, "problems", v.problems);
  Get(j, "dirtier_seconds", v.dirtier_seconds);
  Get(j, "verify_errors", v.verify_errors);
  Get(j, "pages_checked", v.pages_checked);
  Get(j, "working_set_pages", v.working_set_pages);
  Get(j, "answered", v.answered);
}

void to_json(json& j, const TestVerdict& v) {
  j = json{{"outcome", ToString(v.outcome)}, {"failures", v.failures}};
}

void from_json(const json& j, TestVerdict& v) {
  v = TestVerdict{};
  if (auto it = j.find("outcome"); it != j.end()) {
    auto name = it->get<std::string>();
    auto o = OutcomeFromString(name);
    if (!o) {
      throw json::other_error::create(
          501, "unknown verdict outcome '" + name + "' (passed, failed or skipped)", &j);
    }
    v.outcome = *o;
  }
  Get(j, "failures", v.failures);
}

void to_json(json& j, const RunResult& v) {
  j = json{{"schema", kResultSchema}, {"format", ToString(v.format)}, {"source", v.source}};
  Put(j, "test", v.test);
  if (!v.scenario.is_null()) j["scenario"] = v.scenario;
  if (v.migration) j["migration"] = *v.migration;
  if (v.probe) j["probe"] = *v.probe;
  if (v.dirty) j["dirty"] = *v.dirty;
  if (v.guest) j["guest"] = *v.guest;
  if (v.verdict) j["verdict"] = *v.verdict;
  if (!v.extra.is_null()) j["extra"] = v.extra;
}

void from_json(const json& j, RunResult& v) {
  v = RunResult{};
  if (!j.is_object()) {
    throw json::type_error::create(
        302, std::string("a result.json document must be an object, not ") + j.type_name(), &j);
  }
  if (auto it = j.find("schema"); it != j.end() && it->get<std::string>() != kResultSchema) {
    throw json::other_error::create(501,
                                    "unsupported schema '" + it->get<std::string>() +
                                        "' (expected " + std::string(kResultSchema) + ")",
                                    &j);
  }
  if (auto it = j.find("format"); it != j.end()) {
    auto name = it->get<std::string>();
    auto f = FormatFromString(name);
    if (!f) throw json::other_error::create(501, "unknown format '" + name + "'", &j);
    v.format = *f;
  }
  Get(j, "source", v.source);
  Get(j, "test", v.test);
  if (auto it = j.find("scenario"); it != j.end()) v.scenario = *it;
  Get(j, "migration", v.migration);
  Get(j, "probe", v.probe);
  Get(j, "dirty", v.dirty);
  Get(j, "guest", v.guest);
  Get(j, "verdict", v.verdict);
  if (auto it = j.find("extra"); it != j.end()) v.extra = *it;
}

// Parsers keep text from their input (config values, section and device names), which need not be
// UTF-8: such bytes become U+FFFD rather than an exception nobody expects from printing.
std::string ToJsonString(const RunResult& run, int indent) {
  return json(run).dump(indent, ' ', false, json::error_handler_t::replace);
}

}  // namespace migtest
