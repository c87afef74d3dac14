// The engine's source, precopy: iterations of dirty-bitmap sync and send until the estimated
// downtime fits, auto-converge, and stop-and-copy with the guest paused.
#include <algorithm>
#include <cmath>

#include "engine/source.hpp"

namespace migtest::engine {

using nlohmann::json;

// Precopy iterations until the estimated downtime fits the limit (true), the iteration cap,
// or postcopy's switch point.
bool Source::Precopy(int64_t t_start, uint64_t& total_sent) {
  double bandwidth = 0;  // bytes/s, measured
  for (int index = 1;; ++index) {
    if (o_.postcopy_after >= 0 && index > o_.postcopy_after) return false;
    const Iteration& it = PrecopyIteration(index, t_start, total_sent, bandwidth);
    if (o_.postcopy_after >= 0) continue;  // postcopy switches after a fixed count
    // The knob needs its round: the run goes on to it (the tests assert the loss happened).
    if (o_.lose_dirty > 0 && index < kLoseDirtyIteration) continue;
    if (it.est_downtime->count() / 1000 <= o_.downtime_limit_ms) return true;
    if (index >= o_.max_iterations) return false;
    if (o_.auto_converge && index > 1) AutoConverge(*it.pages_sent, *it.pages_dirtied);
  }
}

// One iteration: the dirty bitmap synced (after the first, full pass), the dirty pages sent,
// the figures measured and printed. Returns the iteration as recorded in the result.
const Iteration& Source::PrecopyIteration(int index, int64_t t_start, uint64_t& total_sent,
                                          double& bandwidth) {
  Iteration it;
  it.index = index;
  phase_ = fmt::format("precopy iteration {}", index);
  const int64_t t_iter = MonoNs();
  it.start = NsToDuration(t_iter - t_start);
  std::vector<uint64_t> bits;
  if (index == 1) {
    CollectDirty();  // the full pass sends everything; later writes show up next time
  } else {
    bits = CollectDirty();
  }
  InjectStall(index);
  const int64_t t_synced = MonoNs();
  if (index > 1) it.sync_time = NsToDuration(t_synced - t_iter);
  const uint64_t bytes_before = ch_.bytes_sent();
  const uint64_t sent = SendPages(bits);
  ch_.Send(Msg::kIterEnd, static_cast<uint64_t>(index));
  const int64_t t_end = MonoNs();
  if (o_.lose_dirty > 0 && index == kLoseDirtyIteration) BreakDirtyTracking();
  total_sent += sent;
  const uint64_t bytes = ch_.bytes_sent() - bytes_before;
  if (t_end > t_synced && bytes > 0) {
    bandwidth = static_cast<double>(bytes) * 1e9 / static_cast<double>(t_end - t_synced);
  }
  const uint64_t dirty_now = CountDirty();
  it.duration = NsToDuration(t_end - t_iter);
  it.pages_sent = sent;
  it.bytes_sent = bytes;
  it.pages_dirtied = dirty_now;
  it.remaining_bytes = dirty_now * kPageSize;
  it.bandwidth_mib_s = bandwidth / 1048576.0;
  const double est_ns =
      bandwidth > 0 ? static_cast<double>(dirty_now * kPageSize) * 1e9 / bandwidth : 0;
  it.est_downtime = NsToDuration(static_cast<int64_t>(est_ns));
  it.progress = std::min(1.0, static_cast<double>(total_sent) / static_cast<double>(pages_));
  // The engine counts no guest I/O: all_io_cnt is "-" (absent), as is the first round's
  // sync (the full pass has none).
  Tlmz(fmt::format("s221 {} {}", sent, static_cast<int64_t>(Ms(t_end - t_iter))));
  Tlmz(fmt::format("s222 {} {} - {:.2f}", dirty_now,
                   it.sync_time ? fmt::format("{}", it.sync_time->count() / 1000) : "-",
                   *it.progress));
  t_last_iter_end_ = t_end;
  fmt::print(stderr,
             "migrate: iteration {}: sent {} pages in {:.0f} ms ({:.0f} MiB/s), {} dirty, "
             "estimated downtime {:.0f} ms\n",
             index, sent, Ms(t_end - t_iter), bandwidth / 1048576.0, dirty_now, est_ns / 1e6);
  // The throttle the writers ran under while this round was sent (auto-converge set it after an
  // earlier round).
  if (throttle_ > 0) it.cpu_throttle_percent = std::round(throttle_ * 100);
  result_.iterations.push_back(it);
  return result_.iterations.back();
}

// Auto-converge as QEMU does: two rounds in a row dirtying over half of what was sent →
// throttle the vCPUs 20 %, then 10 % more each time, up to 99 %.
void Source::AutoConverge(uint64_t sent, uint64_t dirty_now) {
  consecutive_high_dirty_ = dirty_now * 2 > sent ? consecutive_high_dirty_ + 1 : 0;
  if (consecutive_high_dirty_ < 2) return;
  throttle_ = throttle_ == 0 ? 0.2 : std::min(0.99, throttle_ + 0.1);
  writer_->SetThrottle(throttle_);
  result_.config["throttle_final"] = fmt::format("{:.2f}", throttle_);
  consecutive_high_dirty_ = 0;
}

// The writers pause, the rest goes over, the destination checks and resumes; then every page
// is verified against the memory the source stopped with.
void Source::StopAndCopy(int64_t t_start, uint64_t total_sent) {
  MigrationResult& m = result_;
  writer_->Pause();
  const int64_t t_pause = MonoNs();  // downtime starts
  phase_ = "stop-and-copy";
  echo_.Close();
  ch_.Send(Msg::kStopCopy, static_cast<uint64_t>(t_pause + clock_offset_));
  // The final round's sync, with the guest stopped: its time is downtime too.
  const int final_index = static_cast<int>(m.iterations.size()) + 1;
  const std::vector<uint64_t> bits = CollectDirty();
  InjectStall(final_index);
  o_.slow_phase.At("final_sync");
  const int64_t t_synced = MonoNs();
  const uint64_t sent = SendPages(bits);
  o_.slow_phase.At("final_pages");
  const int64_t t_final = MonoNs();
  o_.slow_phase.At("send_state");
  // The device state: small, as a VMM's. It carries how many pages went over, so that the
  // destination can tell a page lost on the way before it resumes; what each page holds is
  // checked against our memory after the resume (VerifyAgainstMemory).
  const std::string state = json{{"pages_sent", pages_on_wire_}}.dump();
  ch_.Send(Msg::kState, 0, 0, state.data(), state.size());
  std::vector<int64_t> checkpoints = {t_pause, t_synced, t_final};
  phase_ = "stop-and-copy, waiting for the destination to resume the guest";
  const int64_t t_resume = ReceiveResumed(&checkpoints);  // our clock
  checkpoints.push_back(t_resume);
  if (checkpoints.size() != kPrecopyPhases.size() + 1) {
    throw RuntimeError(fmt::format("the destination sent {} checkpoints, expected {}",
                                   checkpoints.size() - 4, kPrecopyPhases.size() - 3));
  }
  m.downtime = NsToDuration(t_resume - t_pause);
  if (clock_uncertainty_ > 0) m.downtime_uncertainty = NsToDuration(clock_uncertainty_);
  m.downtime_breakdown = PhasesBetween(kPrecopyPhases, checkpoints);
  bool verified = false;
  json info = VerifyAgainstMemory(&verified);
  m.status = Status::kCompleted;
  m.verified = verified;
  if (!verified && info.is_object() && info.contains("error")) {
    m.error = info["error"].get<std::string>();
  }
  Iteration last;
  last.index = final_index;
  last.sync_time = NsToDuration(t_synced - t_pause);
  last.start = NsToDuration(t_pause - t_start);
  last.duration = NsToDuration(t_final - t_pause);
  last.pages_sent = sent;
  last.pages_dirtied = 0;
  last.bytes_sent = sent * kPageSize;
  last.progress = 1.0;
  m.iterations.push_back(last);
  // The migration ends when the guest resumes on the destination.
  const int64_t total_ms = static_cast<int64_t>(Ms(t_resume - t_start));
  Tlmz(fmt::format("s221 {} {}", sent, static_cast<int64_t>(Ms(t_final - t_pause))));
  // s2s3gap: from the end of the last precopy round to the guest's stop (stage 3's start).
  // ps_wait has no counterpart here: "-" (absent).
  Tlmz(fmt::format("s2s3gap {} ps_wait -",
                   static_cast<int64_t>(Ms(t_pause - std::min(t_pause, t_last_iter_end_)))));
  // Stage 3 is sent by one thread, the source's main one: a fact of the engine, not a guess.
  Tlmz(fmt::format("s3 {} 1", sent));
  Tlmz(".. 10 .. 20 .. 30 .. 40 .. 50 .. 60 .. 70 .. 80 .. 90 .. 100 Percents");
  Tlmz("RAM_SAVE_FLAG_EOS ram_save_live stage 3");
  Tlmz(fmt::format("s222 0 {} - 1.00", m.downtime->count() / 1000));
  Tlmz(fmt::format("s4 {} {} {}", total_sent + sent - m.iterations.front().pages_sent.value_or(0),
                   m.iterations.front().pages_sent.value_or(0), total_ms));
  fmt::print(stderr, "migrate: completed: downtime {:.1f} ms ({}), memory {}\n",
             Ms(t_resume - t_pause), FormatPhases(m.downtime_breakdown),
             *m.verified ? "verified" : "NOT verified");
  // The reported total ends here; keep it consistent with the TLMZ s4 line.
  result_total_ = std::chrono::milliseconds(total_ms);
}

}  // namespace migtest::engine
