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
// destination's: migtest's QEMU backend tags each object with its side
// (migtest/results/qmp_transcript.hpp says how); events without the tag (a plain transcript of one
// QMP socket) give no gap, since a RESUME there may be the source's own.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "migtest/results/qmp_transcript.hpp"
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
  const double seconds = s->get<double>(), micros = us->get<double>();
  if (seconds < 0) return std::nullopt;  // QEMU's -1: no time
  // Seconds since the epoch up to the year 33,000 and a microsecond part below a second: past
  // these, the gap between two events would not fit a Duration (int64 microseconds).
  if (!(seconds <= 1e12) || !(micros >= 0 && micros < 1e6)) {
    throw json::out_of_range::create(406, "timestamp out of range: " + it->dump(), &*it);
  }
  return seconds + micros / 1e6;
}

enum class Side { kUntagged, kSource, kDestination, kOther };

Side SideOf(const json& event) {
  if (!event.contains(kQmpSideKey)) return Side::kUntagged;
  const std::optional<QmpSide> side = QmpSideOf(event);
  if (!side) return Side::kOther;
  return *side == QmpSide::kSource ? Side::kSource : Side::kDestination;
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

// A transcript read value by value: the events (the guest's pause, the last MIGRATION status) and
// the source's MigrationInfo polls (the last one's figures, a mark per sync for the iterations, the
// bandwidth per second), then the result they make.
class QmpTranscript {
 public:
  QmpTranscript(std::istream& in, std::string_view source)
      : source_(source), values_(ReadJsonValues(in, source)) {}
  QmpTranscript(const QmpTranscript&) = delete;  // last_info_ points into values_
  QmpTranscript& operator=(const QmpTranscript&) = delete;

  RunResult Result() &&;  // reads every value: once

 private:
  void Read(size_t index);
  void ReadEvent(const json& j, const json& event);
  void ReadInfo(const json& info, size_t index);
  void ReadRam(const json& info, const json& ram, uint64_t sync, std::optional<int64_t> elapsed,
               size_t index);
  void StartOver();
  void FillFromLastInfo(MigrationResult& m) const;
  std::optional<SyncMark> End(const MigrationResult& m) const;

  std::string source_;
  std::vector<JsonValue> values_;
  // The events.
  std::vector<double> stops_, resumes_;  // source STOPs, destination RESUMEs (unix seconds)
  bool any_stop_ = false;
  std::optional<std::string> event_status_;
  // The polls.
  const json* last_info_ = nullptr;
  size_t last_info_line_ = 0, last_info_index_ = 0;
  std::vector<SyncMark> marks_;
  std::vector<int64_t> poll_elapsed_ms_;  // total-time of each poll, for the median interval
  std::optional<Duration> setup_time_;
  bool polled_a_second_past_setup_ = false;  // by an earlier poll than the one being read
  bool rate_measured_ = false;
  std::map<int64_t, double> mbps_per_second_;  // elapsed second → last rate seen in it
};

// One value of the transcript: an event, a MigrationInfo of the source's, or something else.
void QmpTranscript::Read(size_t index) {
  const JsonValue& v = values_[index];
  const json& j = v.value;
  if (!j.is_object()) {
    throw ParseError(source_, v.line, "a QMP object", Quote(j.dump()));
  }
  try {
    if (auto ev = j.find("event"); ev != j.end()) {
      ReadEvent(j, *ev);
      return;
    }
    // The destination's replies (its own query-migrate, …) are not the migration's
    // MigrationInfo; commands the backend sent carry "execute" and are no replies.
    if (SideOf(j) == Side::kDestination || j.contains("execute") || j.contains("exec-oob")) {
      return;
    }
    const json* info = nullptr;
    if (auto ret = j.find("return"); ret != j.end()) {
      if (ret->is_object() && ret->contains("status")) info = &*ret;
    } else if (j.contains("status") && !j.contains("QMP")) {
      info = &j;
    }
    if (!info) return;  // greetings, other replies, errors of other commands
    ReadInfo(*info, index);
  } catch (const json::exception& e) {
    throw ParseError(source_, v.line, "a QMP reply or event as QEMU documents it",
                     Quote(fmt::format("{} ({})", j.dump(), e.what())));
  }
}

void QmpTranscript::ReadEvent(const json& j, const json& event) {
  const auto name = event.get<std::string>();
  const Side side = SideOf(j);
  auto t = EventSeconds(j);
  if (name == "STOP") any_stop_ = true;
  if (name == "STOP" && t && side == Side::kSource) stops_.push_back(*t);
  if (name == "RESUME" && t && side == Side::kDestination) resumes_.push_back(*t);
  // The destination's MIGRATION events tell the incoming side's state, not the migration's.
  if (name == "MIGRATION" && (side == Side::kSource || side == Side::kUntagged)) {
    event_status_ = j.at("data").at("status").get<std::string>();
  }
}

// A poll of the source's query-migrate (the value at `index` holds it).
void QmpTranscript::ReadInfo(const json& info, size_t index) {
  const auto status = info.at("status").get<std::string>();
  const auto elapsed = OptMs(info, "total-time");
  const json* ram = nullptr;
  if (auto it = info.find("ram"); it != info.end() && it->is_object()) ram = &*it;
  // 0 when absent: no sync is numbered 0 (QEMU counts from the setup's, 1).
  const uint64_t sync = ram ? Opt<uint64_t>(*ram, "dirty-sync-count").value_or(0) : uint64_t{0};
  // Every sync becomes an iteration (those between two polls too): a count no migration
  // reaches (QEMU syncs about once a second; this is 27 hours of it) would fill the memory.
  if (sync > 100'000) {
    throw json::out_of_range::create(406, fmt::format("dirty-sync-count out of range: {}", sync),
                                     ram);
  }
  // A new migration in the same transcript (a retry): the iterations are the last one's.
  if (status == "setup" || (sync > 0 && !marks_.empty() && sync < marks_.back().sync)) {
    StartOver();
  }
  last_info_ = &info;
  last_info_line_ = values_[index].line;
  last_info_index_ = index;
  if (auto st = OptMs(info, "setup-time")) setup_time_ = std::chrono::milliseconds(*st);
  if (ram) ReadRam(info, *ram, sync, elapsed, index);
  if (elapsed) {
    poll_elapsed_ms_.push_back(*elapsed);
    if (setup_time_ &&
        std::chrono::milliseconds(*elapsed) >= *setup_time_ + std::chrono::seconds(1)) {
      polled_a_second_past_setup_ = true;
    }
  }
}

// A poll's ram figures: the bandwidth of its second, and a mark when it shows a new sync.
void QmpTranscript::ReadRam(const json& info, const json& ram, uint64_t sync,
                            std::optional<int64_t> elapsed, size_t index) {
  if (auto mbps = Opt<double>(ram, "mbps"); mbps && elapsed) {
    mbps_per_second_[*elapsed / 1000] = MbpsToMiBps(*mbps);
  }
  auto rate = Opt<double>(ram, "dirty-pages-rate");
  // QEMU measures dirty-pages-rate at a sync at least a second after its last measurement
  // (the first window opens at the first sync, in the setup), and reports 0 until then: a 0
  // is a measurement only once a poll a second past the setup has been seen.
  if (rate && *rate != 0) rate_measured_ = true;
  if (polled_a_second_past_setup_) rate_measured_ = true;
  if (sync == 0 || (!marks_.empty() && sync <= marks_.back().sync)) return;
  SyncMark mark;
  mark.sync = sync;
  mark.poll = index;
  if (elapsed) mark.at = std::chrono::milliseconds(*elapsed);
  mark.transferred = Opt<uint64_t>(ram, "transferred");
  // Pages sent: whole pages (normal) and zero pages (duplicate: sent as a header only).
  auto normal = Opt<uint64_t>(ram, "normal"), zero = Opt<uint64_t>(ram, "duplicate");
  if (normal && zero) mark.pages = *normal + *zero;
  mark.remaining_bytes = Opt<uint64_t>(ram, "remaining");
  if (auto mbps = Opt<double>(ram, "mbps")) mark.bandwidth_mib_s = MbpsToMiBps(*mbps);
  if (auto ed = OptMs(info, "expected-downtime")) {
    mark.est_downtime = std::chrono::milliseconds(*ed);
  }
  if (rate_measured_) mark.dirty_pages_rate = rate;
  // QEMU raises the throttle at a sync (auto-converge): what this poll shows is in effect
  // during the iteration the sync began. Absent while QEMU throttles nothing.
  mark.cpu_throttle_percent = Opt<double>(info, "cpu-throttle-percentage");
  // The first sync is QEMU's setup's, before any page is sent: its bounds are exact.
  if (sync == 1) {
    mark.poll.reset();
    mark.at = setup_time_;
    mark.transferred = 0;
    mark.pages = 0;
  }
  marks_.push_back(mark);
}

// A retried migration: what the polls said of the earlier attempt no longer counts.
void QmpTranscript::StartOver() {
  marks_.clear();
  poll_elapsed_ms_.clear();
  polled_a_second_past_setup_ = false;
  setup_time_.reset();
  rate_measured_ = false;
}

// The RAM counters of a MigrationInfo, under the model's names.
void FillRamCounters(MigrationResult& m, const json& ram) {
  static constexpr std::pair<const char*, const char*> kBytes[] = {{"transferred", "transferred"},
                                                                   {"remaining", "remaining"},
                                                                   {"total", "total"},
                                                                   {"precopy-bytes", "precopy"},
                                                                   {"downtime-bytes", "downtime"},
                                                                   {"postcopy-bytes", "postcopy"},
                                                                   {"multifd-bytes", "multifd"}};
  for (auto [qemu, ours] : kBytes) {
    if (auto v = Opt<uint64_t>(ram, qemu)) m.bytes[ours] = *v;
  }
  static constexpr std::pair<const char*, const char*> kPages[] = {
      {"normal", "normal"},
      {"duplicate", "duplicate"},
      {"dirty-sync-count", "dirty_sync_count"},
      {"postcopy-requests", "postcopy_requests"},
      {"pages-per-second", "per_second"},
      {"dirty-pages-rate", "dirty_rate"}};
  for (auto [qemu, ours] : kPages) {
    if (auto v = Opt<uint64_t>(ram, qemu)) m.pages[ours] = *v;
  }
}

// XBZRLE (capability xbzrle): what its cache saved, under the model's names.
void FillXbzrleCounters(MigrationResult& m, const json& cache) {
  if (auto v = Opt<uint64_t>(cache, "bytes")) m.bytes["xbzrle"] = *v;
  if (auto v = Opt<uint64_t>(cache, "cache-size")) m.bytes["xbzrle_cache"] = *v;
  if (auto v = Opt<uint64_t>(cache, "pages")) m.pages["xbzrle"] = *v;
  if (auto v = Opt<uint64_t>(cache, "cache-miss")) m.pages["xbzrle_cache_miss"] = *v;
  if (auto v = Opt<uint64_t>(cache, "overflow")) m.pages["xbzrle_overflow"] = *v;
}

// QEMU 10.1+: average fault latency (ns) and a log2 histogram, bucket N = [2^N, 2^(N+1)) us.
void FillPostcopyLatency(MigrationResult& m, const json& info) {
  LatencyDistribution lat;
  if (auto v = Opt<double>(info, "postcopy-latency")) {
    // Nanoseconds; beyond 1e18 (31 years) the microseconds would not fit a Duration.
    if (!(*v >= 0 && *v <= 1e18)) {
      throw json::out_of_range::create(406, fmt::format("postcopy-latency out of range: {}", *v),
                                       &info);
    }
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
}

// The figures of the last MigrationInfo.
void QmpTranscript::FillFromLastInfo(MigrationResult& m) const {
  const json& info = *last_info_;
  m.status = MapStatus(info.at("status").get<std::string>());
  if (auto e = Opt<std::string>(info, "error-desc")) m.error = e;
  // QEMU before 9.0 reports "completed" before it computes total-time and downtime (its
  // migration_calculate_complete runs after the state changes): a reply in between says 0
  // for both. No migration completes in 0 ms, so such a reply carries neither figure.
  const bool not_yet_computed = m.status == Status::kCompleted && OptMs(info, "total-time") == 0;
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
  if (auto ram = info.find("ram"); ram != info.end()) FillRamCounters(m, *ram);
  if (auto x = info.find("xbzrle-cache"); x != info.end() && x->is_object()) {
    FillXbzrleCounters(m, *x);
  }
  FillPostcopyLatency(m, info);
}

// The last iteration ends with the migration: the completed (or failed) reply.
// A MIGRATION event newer than the last reply says it ended, but not when nor after how many
// bytes: then the last iteration stays open.
std::optional<SyncMark> QmpTranscript::End(const MigrationResult& m) const {
  const Status replied = last_info_ ? MapStatus(last_info_->value("status", "")) : Status::kUnknown;
  if (!last_info_ || marks_.empty() ||
      !(replied == Status::kCompleted || replied == Status::kFailed ||
        replied == Status::kCancelled)) {
    return std::nullopt;
  }
  const json& info = *last_info_;
  SyncMark e;
  e.sync = marks_.back().sync;
  e.poll = last_info_index_;
  e.at = m.total_time;
  if (auto ram = info.find("ram"); ram != info.end() && ram->is_object()) {
    e.transferred = Opt<uint64_t>(*ram, "transferred");
    auto normal = Opt<uint64_t>(*ram, "normal"), zero = Opt<uint64_t>(*ram, "duplicate");
    if (normal && zero) e.pages = *normal + *zero;
  }
  return e;
}

RunResult QmpTranscript::Result() && {
  for (size_t index = 0; index < values_.size(); ++index) Read(index);
  if (!last_info_ && !event_status_ && !any_stop_) {
    throw ParseError(source_, values_.empty() ? 0 : values_.front().line,
                     "a query-migrate reply or MIGRATION events", "none");
  }
  RunResult run;
  run.format = Format::kQemuQmp;
  run.source = source_;
  MigrationResult m;
  m.format = Format::kQemuQmp;
  try {
    if (last_info_) {
      FillFromLastInfo(m);
    } else if (event_status_) {
      m.status = MapStatus(*event_status_);
    }
  } catch (const json::exception& e) {
    throw ParseError(source_, last_info_line_, "a query-migrate reply as QEMU documents it",
                     Quote(e.what()));
  }
  // A transcript's last MIGRATION event can be newer than its last poll.
  if (event_status_ && m.status == Status::kActive &&
      MapStatus(*event_status_) != Status::kActive) {
    m.status = MapStatus(*event_status_);
  }
  m.iterations = IterationsFromSyncs(marks_, End(m));
  if (!m.iterations.empty()) {
    auto interval = MedianPollInterval(poll_elapsed_ms_);
    m.config["iteration_bounds"] = interval ? fmt::format("poll {}ms", *interval) : "poll";
  }
  for (auto [second, rate] : mbps_per_second_) m.bandwidth_mib_s.push_back(rate);
  m.stop_resume_gap = StopResumeGap(std::move(stops_), std::move(resumes_));
  run.migration = std::move(m);
  return run;
}

}  // namespace

Detection DetectMigtest(std::string_view head);  // parse_migtest.cc

// Detection (formats.cc): any JSON but a migtest result.json.
Detection DetectQemuQmp(std::string_view head) {
  return Yes(StartsAsJson(head) && DetectMigtest(head) == Detection::kNo);
}

RunResult ParseQemuQmp(std::istream& in, std::string_view source) {
  return QmpTranscript(in, source).Result();
}

}  // namespace migtest::internal

namespace migtest {

std::string_view ToString(QmpSide side) {
  return side == QmpSide::kSource ? "source" : "destination";
}

nlohmann::json TagQmpSide(nlohmann::json object, QmpSide side) {
  object[std::string(kQmpSideKey)] = ToString(side);
  return object;
}

std::optional<QmpSide> QmpSideOf(const nlohmann::json& object) {
  auto it = object.find(kQmpSideKey);
  if (it == object.end() || !it->is_string()) return std::nullopt;
  if (*it == ToString(QmpSide::kSource)) return QmpSide::kSource;
  if (*it == ToString(QmpSide::kDestination)) return QmpSide::kDestination;
  return std::nullopt;
}

}  // namespace migtest
