// QEMU trace events (the `log` trace backend with -msg timestamp=on), from the source's and the
// destination's logs, into the seeds' figures:
//
//   PID@SECONDS.MICROS:migration_bitmap_sync_start
//   PID@SECONDS.MICROS:migration_bitmap_sync_end dirty_pages N
//   PID@SECONDS.MICROS:savevm_section_start ram, section_id 1
//   PID@SECONDS.MICROS:savevm_section_end ram, section_id 1 -> 0
//   PID@SECONDS.MICROS:vmstate_downtime_checkpoint src-downtime-start
//   PID@SECONDS.MICROS:vmstate_downtime_save type=non-iterable idstr=cpu instance_id=0 downtime=79
//   PID@SECONDS.MICROS:vmstate_downtime_load type=non-iterable idstr=0000:00:01.0/virtio-net
//   instance_id=0 downtime=656 PID@SECONDS.MICROS:postcopy_ram_fault_thread_request Request for
//   HVA=0x7f… rb=pc.ram offset=0x1000 pid=42 PID@SECONDS.MICROS:postcopy_place_page host=0x7f…
//
// The timestamps are the host's wall clock, so the two QEMUs of one host share it; across hosts
// the breakdown between the sides is only as good as their clock sync.
//
// Unlike the other parsers this one does not reject a malformed known line: a QEMU's stderr mixes
// trace lines written by several threads with its own messages, and a line cut by a kill is normal
// at the end. Such a line is skipped and counted, and the figures it would have carried are absent;
// config "trace_note" says in one line what is missing and why.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "parse_internal.hpp"

namespace migtest {
namespace internal {
namespace {

using std::chrono::milliseconds;

struct Event {
  int64_t us = 0;  // wall clock, microseconds since the epoch
  std::string_view name;
  std::string_view args;
};

// "PID@SECONDS.MICROS:event args" → Event; nullopt for any other line.
std::optional<Event> ReadEvent(std::string_view line) {
  const size_t at = line.find('@');
  if (at == 0 || at == std::string_view::npos || at > 10) return std::nullopt;
  if (!ToNumber<uint32_t>(line.substr(0, at))) return std::nullopt;
  const size_t dot = line.find('.', at);
  const size_t colon = line.find(':', at);
  if (dot == std::string_view::npos || colon == std::string_view::npos || colon != dot + 7) {
    return std::nullopt;
  }
  auto seconds = ToNumber<int64_t>(line.substr(at + 1, dot - at - 1));
  auto micros = ToNumber<int64_t>(line.substr(dot + 1, 6));
  // A time no clock gives (beyond year 30,000, or negative) would overflow the microseconds.
  if (!seconds || !micros || *seconds < 0 || *seconds > 1'000'000'000'000 || *micros < 0) {
    return std::nullopt;
  }
  Event e;
  e.us = *seconds * 1'000'000 + *micros;
  std::string_view rest = line.substr(colon + 1);
  const size_t space = rest.find(' ');
  e.name = rest.substr(0, space);
  e.args = space == std::string_view::npos ? std::string_view() : Trim(rest.substr(space + 1));
  if (e.name.empty()) return std::nullopt;
  return e;
}

// The value after "key=" up to the next space (or the end).
std::optional<std::string_view> KeyValue(std::string_view args, std::string_view key) {
  size_t pos = 0;
  while ((pos = args.find(key, pos)) != std::string_view::npos) {
    if ((pos == 0 || args[pos - 1] == ' ') && pos + key.size() < args.size() &&
        args[pos + key.size()] == '=') {
      std::string_view v = args.substr(pos + key.size() + 1);
      return v.substr(0, v.find(' '));
    }
    pos += key.size();
  }
  return std::nullopt;
}

std::optional<uint64_t> Hex(std::string_view s) {
  if (s.substr(0, 2) == "0x") s.remove_prefix(2);
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// The phase that ends at a checkpoint, in the words of an SLO (DowntimePhase("non-iterable-save",
// …)). Checkpoints QEMU adds later keep their own name without the side prefix.
std::string PhaseName(std::string_view checkpoint) {
  static const std::map<std::string_view, std::string_view> kNames = {
      {"src-vm-stopped", "stop"},
      {"src-iterable-saved", "iterable-save"},
      {"src-non-iterable-saved", "non-iterable-save"},
      {"src-downtime-end", "source-complete"},
      {"dst-precopy-loadvm-completed", "destination-load"},
      {"dst-precopy-bh-enter", "resume-scheduled"},
      {"dst-postcopy-bh-enter", "resume-scheduled"},
      {"dst-precopy-bh-announced", "announce"},
      {"dst-postcopy-bh-announced", "announce"},
      {"dst-postcopy-bh-cpu-synced", "cpu-sync"},
      {"dst-postcopy-bh-cache-invalidated", "cache-invalidate"},
      {"dst-precopy-bh-vm-started", "vcpu-start"},
      {"dst-postcopy-bh-vm-started", "vcpu-start"},
  };
  if (auto it = kNames.find(checkpoint); it != kNames.end()) return std::string(it->second);
  for (std::string_view prefix : {"src-", "dst-precopy-", "dst-postcopy-", "dst-"}) {
    if (checkpoint.substr(0, prefix.size()) == prefix) {
      return std::string(checkpoint.substr(prefix.size()));
    }
  }
  return std::string(checkpoint);
}

bool IsVmStarted(std::string_view checkpoint) {
  return checkpoint.substr(0, 4) == "dst-" && checkpoint.ends_with("-vm-started");
}

struct Checkpoint {
  int64_t us = 0;
  std::string name;
  size_t order = 0;  // input order, to keep ties stable
};

struct SectionCall {
  std::string section;
  int section_id = 0;
  int64_t start_us = 0;
  int64_t end_us = 0;
};

struct Sync {
  int64_t start_us = 0;
  std::optional<int64_t> end_us;
};

class TraceReader {
 public:
  explicit TraceReader(QemuTraceOptions options) : options_(options) {}

  void Read(std::istream& in, std::string_view source) {
    std::string line;
    size_t number = 0;
    while (std::getline(in, line)) {
      ++number;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::optional<Event> e = ReadEvent(line);
      if (!e) continue;
      ++events_;
      // A last line without its newline was cut short (a killed QEMU, a full disk): whatever it
      // seems to say may be a prefix of what QEMU wrote ("src-v" of "src-vm-stopped").
      const bool cut = in.eof();
      if (cut || !Take(*e)) {
        ++malformed_;
        if (first_malformed_.empty()) {
          first_malformed_ = fmt::format("{}:{}: {}{}", source, number, Quote(line),
                                         cut ? " (cut short: no newline)" : "");
        }
      }
    }
  }

  RunResult Result(std::string_view source) const;
  size_t events() const { return events_; }

 private:
  void DowntimeBreakdown(MigrationResult& m, std::vector<std::string>& notes) const;
  // False when a known event's arguments do not read as QEMU prints them.
  bool Take(const Event& e) {
    const std::string_view n = e.name;
    if (n == "migration_bitmap_sync_start") {
      syncs_.push_back({e.us, std::nullopt});
    } else if (n == "migration_bitmap_sync_end") {
      if (syncs_.empty() || syncs_.back().end_us) return false;
      syncs_.back().end_us = e.us;
    } else if (n == "savevm_section_start" || n == "savevm_section_end") {
      // "ram, section_id 1" / "ram, section_id 1 -> 0"
      const size_t comma = e.args.rfind(", section_id ");
      if (comma == std::string_view::npos) return false;
      std::string_view id = e.args.substr(comma + 13);
      id = id.substr(0, id.find(' '));
      auto section_id = ToNumber<int>(id);
      if (!section_id) return false;
      const std::string section(e.args.substr(0, comma));
      if (n == "savevm_section_start") {
        open_section_ = SectionCall{section, *section_id, e.us, 0};
      } else {
        if (!open_section_ || open_section_->section_id != *section_id) return false;
        open_section_->end_us = e.us;
        if (!downtime_start_) sections_.push_back(*open_section_);
        open_section_.reset();
      }
    } else if (n == "vmstate_downtime_checkpoint") {
      if (e.args.empty() || e.args.find(' ') != std::string_view::npos) return false;
      checkpoints_.push_back({e.us, std::string(e.args), checkpoints_.size()});
      if (e.args == "src-downtime-start" && !downtime_start_) downtime_start_ = e.us;
    } else if (n == "vmstate_downtime_save" || n == "vmstate_downtime_load") {
      auto type = KeyValue(e.args, "type");
      auto idstr = KeyValue(e.args, "idstr");
      auto instance = KeyValue(e.args, "instance_id");
      auto downtime = KeyValue(e.args, "downtime");
      if (!type || !idstr || !instance || !downtime) return false;
      auto inst = ToNumber<uint32_t>(*instance);
      auto us = ToNumber<int64_t>(*downtime);
      if (!inst || !us || *us < 0) return false;
      devices_.push_back({std::string(*idstr), inst,
                          n == "vmstate_downtime_save" ? "source" : "destination",
                          std::string(*type), Duration(*us)});
    } else if (n == "postcopy_ram_fault_thread_request") {
      auto hva = KeyValue(e.args, "HVA");
      auto page = hva ? Hex(*hva) : std::nullopt;
      if (!page) return false;
      ++fault_requests_;
      pending_faults_.emplace(*page & ~uint64_t{4095}, e.us);  // a repeat keeps its first request
    } else if (n == "postcopy_place_page" || n == "postcopy_place_page_zero") {
      auto host = KeyValue(e.args, "host");
      auto page = host ? Hex(*host) : std::nullopt;
      if (!page) return false;
      if (auto it = pending_faults_.find(*page & ~uint64_t{4095}); it != pending_faults_.end()) {
        fault_latency_.samples.push_back(Duration(e.us - it->second));
        pending_faults_.erase(it);
      }
    }
    return true;
  }

  QemuTraceOptions options_;
  size_t events_ = 0, malformed_ = 0;
  std::string first_malformed_;
  std::vector<Sync> syncs_;
  std::vector<SectionCall> sections_;  // iterate calls before the downtime began
  std::optional<SectionCall> open_section_;
  std::vector<Checkpoint> checkpoints_;
  std::optional<int64_t> downtime_start_;
  std::vector<DeviceDowntime> devices_;
  std::map<uint64_t, int64_t> pending_faults_;  // page → request time
  size_t fault_requests_ = 0;
  LatencyDistribution fault_latency_;
};

// The downtime: the source's checkpoints, then the destination's, each side in the order QEMU
// logged them (one thread per side logs them in program order), from the source's stop to the
// destination's vCPUs running; a phase ends at each checkpoint. A checkpoint logged with a time
// before its predecessor's (a side's clock read late, the sides' clocks apart) makes no phase: the
// phase is absent and a note says which, rather than a negative or reordered figure.
void TraceReader::DowntimeBreakdown(MigrationResult& m, std::vector<std::string>& notes) const {
  std::vector<Checkpoint> cps = checkpoints_;
  std::stable_sort(cps.begin(), cps.end(), [](const Checkpoint& a, const Checkpoint& b) {
    return !a.name.starts_with("dst-") && b.name.starts_with("dst-");
  });
  auto begin = std::find_if(cps.begin(), cps.end(),
                            [](const Checkpoint& c) { return c.name == "src-downtime-start"; });
  if (begin == cps.end()) {
    notes.push_back(checkpoints_.empty()
                        ? "no vmstate_downtime_checkpoint events: no downtime breakdown"
                        : "no src-downtime-start checkpoint: no downtime breakdown");
    return;
  }
  auto end =
      std::find_if(begin, cps.end(), [](const Checkpoint& c) { return IsVmStarted(c.name); });
  auto last = end != cps.end() ? end : std::prev(cps.end());
  for (auto it = std::next(begin); it <= last && it != cps.end(); ++it) {
    const Checkpoint& before = *std::prev(it);
    if (it->us < before.us) {
      notes.push_back(fmt::format("checkpoint {} is {} us before {}, its predecessor: no {} phase",
                                  it->name, before.us - it->us, before.name, PhaseName(it->name)));
      continue;
    }
    m.downtime_breakdown.push_back({PhaseName(it->name), Duration(it->us - before.us)});
  }
  if (end == cps.end()) {
    notes.push_back("no destination vm-started checkpoint: no guest pause, the breakdown ends at " +
                    last->name);
  } else if (end->us < begin->us) {
    notes.push_back(fmt::format("checkpoint {} is {} us before src-downtime-start: no guest pause",
                                end->name, begin->us - end->us));
  } else {
    m.guest_pause = Duration(end->us - begin->us);
    m.config["guest_pause_from"] =
        fmt::format("QEMU trace checkpoints src-downtime-start → {}", end->name);
  }
}

RunResult TraceReader::Result(std::string_view source) const {
  RunResult run;
  run.format = Format::kQemuTrace;
  run.source = std::string(source);
  MigrationResult m;
  m.format = Format::kQemuTrace;
  std::vector<std::string> notes;

  // Iterations: each dirty-bitmap sync before the guest stopped opens one; the sync inside the
  // downtime (the final one) belongs to the stop-and-copy, not to an iteration.
  if (!syncs_.empty()) {
    const int64_t origin = syncs_.front().start_us;
    std::vector<Sync> live;
    for (const Sync& s : syncs_) {
      if (!downtime_start_ || s.start_us < *downtime_start_) live.push_back(s);
    }
    for (size_t i = 0; i < live.size(); ++i) {
      Iteration it;
      it.index = static_cast<int>(i + 1);
      it.start = Duration(live[i].start_us - origin);
      if (i + 1 < live.size()) {
        it.duration = Duration(live[i + 1].start_us - live[i].start_us);
      } else if (downtime_start_) {
        it.duration = Duration(*downtime_start_ - live[i].start_us);
      }
      if (live[i].end_us) it.sync_time = Duration(*live[i].end_us - live[i].start_us);
      m.iterations.push_back(it);
    }
    m.config["iteration_bounds"] = "trace";
    if (live.size() < syncs_.size()) {
      const Sync& last = syncs_.back();
      if (last.end_us) {
        m.config["final_sync_us"] = std::to_string(*last.end_us - last.start_us);
      }
    }
  } else {
    notes.push_back("no migration_bitmap_sync events: no iterations or sync times");
  }

  // Stalls: per section, the iterate calls that kept it longer than the budget (the seed's
  // "save live iterate section id 2 name ram took 296 milliseconds 47 times": worst and count).
  std::map<std::pair<int, std::string>, Stall> stalls;
  for (const SectionCall& c : sections_) {
    const Duration took(c.end_us - c.start_us);
    if (took <= options_.stall_threshold) continue;
    Stall& s = stalls[{c.section_id, c.section}];
    s.section = c.section;
    s.section_id = c.section_id;
    s.duration = std::max(s.duration, took);
    s.count = s.count.value_or(0) + 1;
  }
  for (auto& [key, s] : stalls) m.stalls.push_back(s);
  std::sort(m.stalls.begin(), m.stalls.end(),
            [](const Stall& a, const Stall& b) { return a.duration > b.duration; });
  m.config["stall_threshold_ms"] =
      std::to_string(std::chrono::duration_cast<milliseconds>(options_.stall_threshold).count());
  if (sections_.empty() && !syncs_.empty()) {
    notes.push_back("no savevm_section events: stalls unknown");
  }

  DowntimeBreakdown(m, notes);

  m.downtime_devices = devices_;
  std::stable_sort(
      m.downtime_devices.begin(), m.downtime_devices.end(),
      [](const DeviceDowntime& a, const DeviceDowntime& b) { return a.duration > b.duration; });

  if (fault_requests_ > 0) {
    m.postcopy_latency = fault_latency_;
    m.config["postcopy_unmatched_requests"] = std::to_string(pending_faults_.size());
  }
  if (malformed_ > 0) {
    notes.push_back(fmt::format("{} malformed trace line{} skipped, the first at {}", malformed_,
                                malformed_ == 1 ? "" : "s", first_malformed_));
  }
  if (!notes.empty()) m.config["trace_note"] = fmt::format("{}", fmt::join(notes, "; "));
  run.migration = std::move(m);
  return run;
}

}  // namespace

// Detection (formats.cc): an event line, PID@SECONDS.MICROS:event.
Detection DetectQemuTrace(std::string_view head) {
  // A line as QEMU's log backend starts one: "<pid>@<seconds>.<6 digits>:<event name>".
  auto event = [](std::string_view line) {
    if (Skip(line, kDigits) == 0 || !line.starts_with('@')) return false;
    line.remove_prefix(1);
    if (Skip(line, kDigits) == 0 || !line.starts_with('.')) return false;
    line.remove_prefix(1);
    if (Skip(line, kDigits) != 6 || !line.starts_with(':')) return false;
    line.remove_prefix(1);
    return Skip(line, "abcdefghijklmnopqrstuvwxyz_0123456789") > 0;
  };
  return Yes(AnyLine(head, event));
}

// The registry's parser (formats.cc): the public ParseQemuTrace with the default options.
RunResult ParseQemuTraceEvents(std::istream& in, std::string_view source) {
  return migtest::ParseQemuTrace(in, source, QemuTraceOptions{});
}

}  // namespace internal

namespace {

[[noreturn]] void NoEvents(const std::string& source) {
  throw ParseError(source, 0,
                   "QEMU trace events ('PID@SECONDS.MICROS:event …': -trace with the log "
                   "backend and -msg timestamp=on)",
                   "none");
}

}  // namespace

RunResult ParseQemuTrace(std::istream& in, std::string_view source_name,
                         const QemuTraceOptions& options) {
  internal::TraceReader reader(options);
  reader.Read(in, source_name);
  if (reader.events() == 0) NoEvents(std::string(source_name));
  return reader.Result(source_name);
}

RunResult ParseQemuTraceFiles(const std::vector<std::filesystem::path>& logs,
                              const QemuTraceOptions& options) {
  internal::TraceReader reader(options);
  std::string names;
  for (const auto& path : logs) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      throw ParseError(path.string(), 0, "a readable file",
                       fmt::format("'{}' ({})", path.string(), std::strerror(errno)));
    }
    reader.Read(in, path.string());
    names += (names.empty() ? "" : " + ") + path.string();
  }
  if (reader.events() == 0) NoEvents(names);
  return reader.Result(names);
}

void CombineQemuTrace(MigrationResult& qmp, const MigrationResult& trace) {
  if (!trace.iterations.empty()) {
    // The trace's boundaries are exact; bytes and rates exist only in the polls, so each trace
    // iteration keeps the poll-bounded figures of the QMP iteration with its number.
    std::vector<Iteration> merged = trace.iterations;
    for (Iteration& it : merged) {
      for (const Iteration& polled : qmp.iterations) {
        if (polled.index != it.index) continue;
        it.bytes_sent = polled.bytes_sent;
        it.pages_sent = polled.pages_sent;
        it.bandwidth_mib_s = polled.bandwidth_mib_s;
        it.est_downtime = polled.est_downtime;
        it.remaining_bytes = polled.remaining_bytes;
        it.dirty_pages_rate = polled.dirty_pages_rate;
        it.cpu_throttle_percent = polled.cpu_throttle_percent;
      }
    }
    const auto polled_bounds = qmp.config.find("iteration_bounds");
    qmp.config["iteration_bounds"] =
        polled_bounds == qmp.config.end()
            ? std::string("trace")
            : fmt::format("trace (start, duration, sync); bytes and rates: {}",
                          polled_bounds->second);
    qmp.iterations = std::move(merged);
  }
  if (!trace.stalls.empty()) qmp.stalls = trace.stalls;
  if (!trace.downtime_breakdown.empty()) qmp.downtime_breakdown = trace.downtime_breakdown;
  if (!trace.downtime_devices.empty()) qmp.downtime_devices = trace.downtime_devices;
  if (trace.guest_pause) qmp.guest_pause = trace.guest_pause;
  if (trace.postcopy_latency && (!qmp.postcopy_latency || qmp.postcopy_latency->samples.empty())) {
    qmp.postcopy_latency = trace.postcopy_latency;
  }
  for (const auto& [key, value] : trace.config) {
    if (key != "iteration_bounds") qmp.config[key] = value;
  }
}

}  // namespace migtest
