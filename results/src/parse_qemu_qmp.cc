// QEMU QMP: one query-migrate reply, or a transcript (JSON lines, or pretty-printed objects one
// after another) mixing {"return": MigrationInfo} replies, bare MigrationInfo objects and events
// (MIGRATION, MIGRATION_PASS, STOP, RESUME). Figures come from the last MigrationInfo; iterations
// from the steps of ram.dirty-sync-count across polled replies; STOP→RESUME from event timestamps.
#include <fmt/format.h>

#include <cmath>

#include "parse_internal.hpp"

namespace migtest::internal {
namespace {

using json = nlohmann::json;

Status MapStatus(const std::string& s) {
  if (s == "completed") return Status::kCompleted;
  if (s == "failed") return Status::kFailed;
  if (s == "cancelled" || s == "cancelling") return Status::kCancelled;
  if (s == "setup" || s == "active" || s == "device" || s == "pre-switchover" ||
      s == "postcopy-active" || s == "postcopy-paused" || s == "postcopy-recover" ||
      s == "postcopy-recover-setup" || s == "colo" || s == "wait-unplug") {
    return Status::kActive;
  }
  return Status::kUnknown;  // "none" and whatever a newer QEMU adds
}

// QEMU's "mbps" is megabits per second; the model's rates are MiB/s.
double MbpsToMiBps(double mbps) { return mbps * 1e6 / 8.0 / 1048576.0; }

std::optional<double> EventSeconds(const json& j) {
  auto it = j.find("timestamp");
  if (it == j.end() || !it->is_object()) return std::nullopt;
  return it->value("seconds", 0.0) + it->value("microseconds", 0.0) / 1e6;
}

template <typename T>
std::optional<T> Opt(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return it->get<T>();
}

}  // namespace

RunResult ParseQemuQmp(std::istream& in, std::string_view source) {
  RunResult run;
  run.format = Format::kQemuQmp;
  run.source = std::string(source);
  MigrationResult m;
  m.format = Format::kQemuQmp;

  const std::vector<JsonValue> values = ReadJsonValues(in, source);
  std::optional<double> stop_at, resume_at;
  std::optional<std::string> event_status;
  const json* last_info = nullptr;
  size_t last_info_line = 0;
  uint64_t last_sync = 0, last_transferred = 0;
  std::optional<Duration> last_elapsed;
  std::map<int64_t, double> mbps_per_second;  // elapsed second → last rate seen in it
  for (const JsonValue& v : values) {
    const json& j = v.value;
    if (!j.is_object()) {
      throw ParseError(std::string(source), v.line, "a QMP object", Quote(j.dump()));
    }
    try {
      if (auto ev = j.find("event"); ev != j.end()) {
        const auto name = ev->get<std::string>();
        auto t = EventSeconds(j);
        if (name == "STOP" && t && !stop_at) stop_at = t;
        if (name == "RESUME" && t && stop_at) resume_at = t;
        if (name == "MIGRATION") event_status = j.at("data").at("status").get<std::string>();
        continue;
      }
      const json* info = nullptr;
      if (auto ret = j.find("return"); ret != j.end()) {
        if (ret->is_object() && ret->contains("status")) info = &*ret;
      } else if (j.contains("status") && !j.contains("QMP")) {
        info = &j;
      }
      if (!info) continue;  // greetings, other replies, errors of other commands
      last_info = info;
      last_info_line = v.line;
      auto elapsed = Opt<int64_t>(*info, "total-time");
      if (auto ram = info->find("ram"); ram != info->end()) {
        auto sync = Opt<uint64_t>(*ram, "dirty-sync-count").value_or(0);
        auto transferred = Opt<uint64_t>(*ram, "transferred").value_or(0);
        if (auto mbps = Opt<double>(*ram, "mbps"); mbps && elapsed) {
          mbps_per_second[*elapsed / 1000] = MbpsToMiBps(*mbps);
        }
        if (sync > last_sync) {
          Iteration it;
          it.index = static_cast<int>(sync);
          if (elapsed) it.start = std::chrono::milliseconds(*elapsed);
          if (!m.iterations.empty() && it.start && m.iterations.back().start) {
            m.iterations.back().duration = *it.start - *m.iterations.back().start;
          }
          it.bytes_sent = transferred - std::min(transferred, last_transferred);
          it.remaining_bytes = Opt<uint64_t>(*ram, "remaining");
          if (auto mbps = Opt<double>(*ram, "mbps")) it.bandwidth_mib_s = MbpsToMiBps(*mbps);
          if (auto ed = Opt<int64_t>(*info, "expected-downtime")) {
            it.est_downtime = std::chrono::milliseconds(*ed);
          }
          if (auto rate = Opt<uint64_t>(*ram, "dirty-pages-rate")) it.pages_dirtied = rate;
          m.iterations.push_back(it);
          last_sync = sync;
          last_transferred = transferred;
        }
      }
      if (elapsed) last_elapsed = std::chrono::milliseconds(*elapsed);
    } catch (const json::exception& e) {
      throw ParseError(std::string(source), v.line, "a QMP reply or event as QEMU documents it",
                       Quote(fmt::format("{} ({})", j.dump(), e.what())));
    }
  }
  if (!last_info && !event_status && !stop_at) {
    throw ParseError(std::string(source), values.empty() ? 0 : values.front().line,
                     "a query-migrate reply or MIGRATION events", "none");
  }
  try {
    if (last_info) {
      const json& info = *last_info;
      m.status = MapStatus(info.at("status").get<std::string>());
      if (auto e = Opt<std::string>(info, "error-desc")) m.error = e;
      if (auto v = Opt<int64_t>(info, "total-time")) m.total_time = std::chrono::milliseconds(*v);
      if (auto v = Opt<int64_t>(info, "downtime")) m.downtime = std::chrono::milliseconds(*v);
      if (auto v = Opt<int64_t>(info, "setup-time")) m.setup_time = std::chrono::milliseconds(*v);
      if (auto v = Opt<int64_t>(info, "expected-downtime")) {
        m.expected_downtime = std::chrono::milliseconds(*v);
      }
      if (auto v = Opt<int64_t>(info, "postcopy-blocktime")) {
        m.postcopy_blocktime = std::chrono::milliseconds(*v);
      }
      if (auto ram = info.find("ram"); ram != info.end()) {
        static constexpr std::pair<const char*, const char*> kBytes[] = {
            {"transferred", "transferred"},
            {"remaining", "remaining"},
            {"total", "total"},
            {"precopy-bytes", "precopy"},
            {"downtime-bytes", "downtime"},
            {"postcopy-bytes", "postcopy"},
            {"multifd-bytes", "multifd"}};
        for (auto [qemu, ours] : kBytes) {
          if (auto v = Opt<uint64_t>(*ram, qemu)) m.bytes[ours] = *v;
        }
        static constexpr std::pair<const char*, const char*> kPages[] = {
            {"normal", "normal"},
            {"duplicate", "duplicate"},
            {"dirty-sync-count", "dirty_sync_count"},
            {"postcopy-requests", "postcopy_requests"},
            {"pages-per-second", "per_second"},
            {"dirty-pages-rate", "dirty_rate"}};
        for (auto [qemu, ours] : kPages) {
          if (auto v = Opt<uint64_t>(*ram, qemu)) m.pages[ours] = *v;
        }
      }
      // QEMU 10.1+: average fault latency (ns) and a log2 histogram, bucket N = [2^N, 2^(N+1)) us.
      LatencyDistribution lat;
      if (auto v = Opt<double>(info, "postcopy-latency")) {
        lat.reported_avg = Duration(static_cast<Duration::rep>(*v / 1000.0));
      }
      if (auto dist = info.find("postcopy-latency-dist"); dist != info.end() && dist->is_array()) {
        for (size_t n = 0; n < dist->size(); ++n) {
          lat.histogram.push_back({Duration(int64_t{1} << n), Duration(int64_t{1} << (n + 1)),
                                   dist->at(n).get<uint64_t>()});
        }
      }
      if (!lat.empty() || !lat.histogram.empty()) m.postcopy_latency = std::move(lat);
    } else if (event_status) {
      m.status = MapStatus(*event_status);
    }
  } catch (const json::exception& e) {
    throw ParseError(std::string(source), last_info_line,
                     "a query-migrate reply as QEMU documents it", Quote(e.what()));
  }
  // A transcript's last MIGRATION event can be newer than its last poll.
  if (event_status && m.status == Status::kActive && MapStatus(*event_status) != Status::kActive) {
    m.status = MapStatus(*event_status);
  }
  // The last iteration lasted until the migration ended (or the last poll).
  if (!m.iterations.empty() && m.iterations.back().start && !m.iterations.back().duration) {
    if (auto end = m.total_time ? m.total_time : last_elapsed;
        end && *end >= *m.iterations.back().start) {
      m.iterations.back().duration = *end - *m.iterations.back().start;
    }
  }
  for (auto [second, rate] : mbps_per_second) m.bandwidth_mib_s.push_back(rate);
  if (stop_at && resume_at && *resume_at >= *stop_at) {
    m.stop_resume_gap = Duration(std::llround((*resume_at - *stop_at) * 1e6));
  }
  run.migration = std::move(m);
  return run;
}

}  // namespace migtest::internal
