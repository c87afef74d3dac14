// QEMU QMP: one query-migrate reply, or a transcript (JSON lines, or pretty-printed objects one
// after another) mixing {"return": MigrationInfo} replies, bare MigrationInfo objects and events
// (MIGRATION, MIGRATION_PASS, STOP, RESUME). Figures come from the last MigrationInfo.
//
// Iterations come from the steps of ram.dirty-sync-count across polled replies, and are
// poll-bounded: a step first seen at poll k happened between poll k-1 and poll k, and iteration N
// is taken from the poll that first showed sync N to the one that first showed sync N+1 (the last
// one: to the completed or failed reply). Only the first sync is known better: QEMU makes it in
// the setup, before any page is sent, so iteration 1 starts at 0 bytes about setup-time. The result
// says so in config["iteration_bounds"] ("poll 205ms": the median interval between the polls'
// total-time). The iterations are built by IterationsFromSyncs, which a trace's exact sync times
// can feed as well.
//
// STOP→RESUME is the guest's pause only when the STOP is the source's and the RESUME the
// destination's. migtest's QEMU backend tags each event with "migtest-side": "source" or
// "destination"; events without the tag (a plain transcript of one QMP socket) give no gap, since
// a RESUME there may be the source's own (a failed or cancelled migration resumes the source).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "parse_internal.hpp"
#include "sync_iterations.hpp"

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
  auto s = it->find("seconds"), us = it->find("microseconds");
  if (s == it->end() || us == it->end() || !s->is_number() || !us->is_number()) return std::nullopt;
  if (s->get<double>() < 0) return std::nullopt;  // QEMU's -1: no time
  return s->get<double>() + us->get<double>() / 1e6;
}

enum class Side { kUntagged, kSource, kDestination, kOther };

Side SideOf(const json& event) {
  auto it = event.find("migtest-side");
  if (it == event.end()) return Side::kUntagged;
  if (*it == "source") return Side::kSource;
  if (*it == "destination") return Side::kDestination;
  return Side::kOther;
}

// The guest's pause: a source STOP and the first destination RESUME after it; of several such
// pairs (a transcript of retried migrations), the last.
std::optional<Duration> StopResumeGap(std::vector<double> stops, std::vector<double> resumes) {
  std::sort(stops.begin(), stops.end());
  std::sort(resumes.begin(), resumes.end());
  std::optional<Duration> gap;
  for (size_t i = 0; i < stops.size(); ++i) {
    auto r = std::lower_bound(resumes.begin(), resumes.end(), stops[i]);
    if (r == resumes.end()) break;
    // A later STOP before that RESUME is the one the RESUME ends.
    if (i + 1 < stops.size() && stops[i + 1] <= *r) continue;
    gap = Duration(std::llround((*r - stops[i]) * 1e6));
  }
  return gap;
}

// The median of the intervals between polls' total-time, in ms; nullopt with fewer than two.
std::optional<int64_t> MedianPollInterval(const std::vector<int64_t>& elapsed_ms) {
  std::vector<int64_t> steps;
  for (size_t i = 1; i < elapsed_ms.size(); ++i) {
    if (elapsed_ms[i] >= elapsed_ms[i - 1]) steps.push_back(elapsed_ms[i] - elapsed_ms[i - 1]);
  }
  if (steps.empty()) return std::nullopt;
  std::sort(steps.begin(), steps.end());
  const size_t n = steps.size();
  if (n % 2 == 1) return steps[n / 2];
  return (steps[n / 2 - 1] + steps[n / 2] + 1) / 2;
}

template <typename T>
std::optional<T> Opt(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return GetNumber<T>(*it);
}

// Milliseconds that must convert to a Duration (int64 microseconds) with room for the sums made of
// them: a negative or larger figure (over 30,000 years) is a malformed reply, where converting it
// would be undefined behaviour.
std::optional<int64_t> OptMs(const json& j, const char* key) {
  auto ms = Opt<int64_t>(j, key);
  if (ms && (*ms < 0 || *ms > int64_t{1'000'000'000'000'000})) {
    throw json::out_of_range::create(406, fmt::format("{} out of range: {}", key, *ms), &j);
  }
  return ms;
}

}  // namespace

Detection DetectMigtest(std::string_view head);  // parse_migtest.cc

// Detection (formats.cc): any JSON but a migtest result.json.
Detection DetectQemuQmp(std::string_view head) {
  return Yes(StartsAsJson(head) && DetectMigtest(head) == Detection::kNo);
}

RunResult ParseQemuQmp(std::istream& in, std::string_view source) {
  RunResult run;
  run.format = Format::kQemuQmp;
  run.source = std::string(source);
  MigrationResult m;
  m.format = Format::kQemuQmp;

  const std::vector<JsonValue> values = ReadJsonValues(in, source);
  std::vector<double> stops, resumes;  // source STOPs, destination RESUMEs (unix seconds)
  bool any_stop = false;
  std::optional<std::string> event_status;
  const json* last_info = nullptr;
  size_t last_info_line = 0, last_info_index = 0;
  std::vector<SyncMark> marks;
  std::vector<int64_t> poll_elapsed_ms;  // total-time of each poll, for the median interval
  std::optional<Duration> setup_time;
  bool polled_a_second_past_setup = false;  // by an earlier poll than the one being read
  bool rate_measured = false;
  std::map<int64_t, double> mbps_per_second;  // elapsed second → last rate seen in it
  for (size_t index = 0; index < values.size(); ++index) {
    const JsonValue& v = values[index];
    const json& j = v.value;
    if (!j.is_object()) {
      throw ParseError(std::string(source), v.line, "a QMP object", Quote(j.dump()));
    }
    try {
      if (auto ev = j.find("event"); ev != j.end()) {
        const auto name = ev->get<std::string>();
        const Side side = SideOf(j);
        auto t = EventSeconds(j);
        if (name == "STOP") any_stop = true;
        if (name == "STOP" && t && side == Side::kSource) stops.push_back(*t);
        if (name == "RESUME" && t && side == Side::kDestination) resumes.push_back(*t);
        // The destination's MIGRATION events tell the incoming side's state, not the migration's.
        if (name == "MIGRATION" && (side == Side::kSource || side == Side::kUntagged)) {
          event_status = j.at("data").at("status").get<std::string>();
        }
        continue;
      }
      // The destination's replies (its own query-migrate, …) are not the migration's
      // MigrationInfo; commands the backend sent carry "execute" and are no replies.
      if (SideOf(j) == Side::kDestination || j.contains("execute") || j.contains("exec-oob")) {
        continue;
      }
      const json* info = nullptr;
      if (auto ret = j.find("return"); ret != j.end()) {
        if (ret->is_object() && ret->contains("status")) info = &*ret;
      } else if (j.contains("status") && !j.contains("QMP")) {
        info = &j;
      }
      if (!info) continue;  // greetings, other replies, errors of other commands
      const auto status = info->at("status").get<std::string>();
      const auto elapsed = OptMs(*info, "total-time");
      const json* ram = nullptr;
      if (auto it = info->find("ram"); it != info->end() && it->is_object()) ram = &*it;
      // 0 when absent: no sync is numbered 0 (QEMU counts from the setup's, 1).
      const uint64_t sync = ram ? Opt<uint64_t>(*ram, "dirty-sync-count").value_or(0) : uint64_t{0};
      // Every sync becomes an iteration (those between two polls too): a count no migration
      // reaches (QEMU syncs about once a second; this is 27 hours of it) would fill the memory.
      if (sync > 100'000) {
        throw json::out_of_range::create(
            406, fmt::format("dirty-sync-count out of range: {}", sync), ram);
      }
      // A new migration in the same transcript (a retry): the iterations are the last one's.
      if (status == "setup" || (sync > 0 && !marks.empty() && sync < marks.back().sync)) {
        marks.clear();
        poll_elapsed_ms.clear();
        polled_a_second_past_setup = false;
        setup_time.reset();
        rate_measured = false;
      }
      last_info = info;
      last_info_line = v.line;
      last_info_index = index;
      if (auto st = OptMs(*info, "setup-time")) setup_time = std::chrono::milliseconds(*st);
      if (ram) {
        if (auto mbps = Opt<double>(*ram, "mbps"); mbps && elapsed) {
          mbps_per_second[*elapsed / 1000] = MbpsToMiBps(*mbps);
        }
        auto rate = Opt<double>(*ram, "dirty-pages-rate");
        // QEMU measures dirty-pages-rate at a sync at least a second after its last measurement
        // (the first window opens at the first sync, in the setup), and reports 0 until then: a 0
        // is a measurement only once a poll a second past the setup has been seen.
        if (rate && *rate != 0) rate_measured = true;
        if (polled_a_second_past_setup) rate_measured = true;
        if (sync > 0 && (marks.empty() || sync > marks.back().sync)) {
          SyncMark mark;
          mark.sync = sync;
          mark.poll = index;
          if (elapsed) mark.at = std::chrono::milliseconds(*elapsed);
          mark.transferred = Opt<uint64_t>(*ram, "transferred");
          // Pages sent: whole pages (normal) and zero pages (duplicate: sent as a header only).
          auto normal = Opt<uint64_t>(*ram, "normal"), zero = Opt<uint64_t>(*ram, "duplicate");
          if (normal && zero) mark.pages = *normal + *zero;
          mark.remaining_bytes = Opt<uint64_t>(*ram, "remaining");
          if (auto mbps = Opt<double>(*ram, "mbps")) mark.bandwidth_mib_s = MbpsToMiBps(*mbps);
          if (auto ed = OptMs(*info, "expected-downtime")) {
            mark.est_downtime = std::chrono::milliseconds(*ed);
          }
          if (rate_measured) mark.dirty_pages_rate = rate;
          // The first sync is QEMU's setup's, before any page is sent: its bounds are exact.
          if (sync == 1) {
            mark.poll.reset();
            mark.at = setup_time;
            mark.transferred = 0;
            mark.pages = 0;
          }
          marks.push_back(mark);
        }
      }
      if (elapsed) {
        poll_elapsed_ms.push_back(*elapsed);
        if (setup_time &&
            std::chrono::milliseconds(*elapsed) >= *setup_time + std::chrono::seconds(1)) {
          polled_a_second_past_setup = true;
        }
      }
    } catch (const json::exception& e) {
      throw ParseError(std::string(source), v.line, "a QMP reply or event as QEMU documents it",
                       Quote(fmt::format("{} ({})", j.dump(), e.what())));
    }
  }
  if (!last_info && !event_status && !any_stop) {
    throw ParseError(std::string(source), values.empty() ? 0 : values.front().line,
                     "a query-migrate reply or MIGRATION events", "none");
  }
  try {
    if (last_info) {
      const json& info = *last_info;
      m.status = MapStatus(info.at("status").get<std::string>());
      if (auto e = Opt<std::string>(info, "error-desc")) m.error = e;
      // QEMU before 9.0 reports "completed" before it computes total-time and downtime (its
      // migration_calculate_complete runs after the state changes): a reply in between says 0
      // for both. No migration completes in 0 ms, so such a reply carries neither figure.
      const bool not_yet_computed =
          m.status == Status::kCompleted && OptMs(info, "total-time") == 0;
      if (auto v = OptMs(info, "total-time"); v && !not_yet_computed) {
        m.total_time = std::chrono::milliseconds(*v);
      }
      if (auto v = OptMs(info, "downtime"); v && !not_yet_computed) {
        m.downtime = std::chrono::milliseconds(*v);
      }
      if (not_yet_computed) {
        m.config["qmp_note"] =
            "the last reply says completed with total-time 0: QEMU had not computed total-time "
            "and downtime yet (QEMU < 9.0), so neither is known";
      }
      if (auto v = OptMs(info, "setup-time")) m.setup_time = std::chrono::milliseconds(*v);
      if (auto v = OptMs(info, "expected-downtime")) {
        m.expected_downtime = std::chrono::milliseconds(*v);
      }
      if (auto v = OptMs(info, "postcopy-blocktime")) {
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
        // Bucket n is [2^n, 2^(n+1)) us: beyond 62 a bound overflows a Duration.
        if (dist->size() > 62) {
          throw json::out_of_range::create(
              406, fmt::format("postcopy-latency-dist has {} buckets, at most 62", dist->size()),
              &info);
        }
        for (size_t n = 0; n < dist->size(); ++n) {
          lat.histogram.push_back({Duration(int64_t{1} << n), Duration(int64_t{1} << (n + 1)),
                                   GetNumber<uint64_t>(dist->at(n))});
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
  // The last iteration ends with the migration: the completed (or failed) reply.
  // A MIGRATION event newer than the last reply says it ended, but not when nor after how many
  // bytes: then the last iteration stays open.
  std::optional<SyncMark> end;
  const Status replied = last_info ? MapStatus(last_info->value("status", "")) : Status::kUnknown;
  if (last_info && !marks.empty() &&
      (replied == Status::kCompleted || replied == Status::kFailed ||
       replied == Status::kCancelled)) {
    const json& info = *last_info;
    SyncMark e;
    e.sync = marks.back().sync;
    e.poll = last_info_index;
    e.at = m.total_time;
    if (auto ram = info.find("ram"); ram != info.end() && ram->is_object()) {
      e.transferred = Opt<uint64_t>(*ram, "transferred");
      auto normal = Opt<uint64_t>(*ram, "normal"), zero = Opt<uint64_t>(*ram, "duplicate");
      if (normal && zero) e.pages = *normal + *zero;
    }
    end = e;
  }
  m.iterations = IterationsFromSyncs(marks, end);
  if (!m.iterations.empty()) {
    auto interval = MedianPollInterval(poll_elapsed_ms);
    m.config["iteration_bounds"] = interval ? fmt::format("poll {}ms", *interval) : "poll";
  }
  for (auto [second, rate] : mbps_per_second) m.bandwidth_mib_s.push_back(rate);
  m.stop_resume_gap = StopResumeGap(std::move(stops), std::move(resumes));
  run.migration = std::move(m);
  return run;
}

}  // namespace migtest::internal
