// migmon migrate: the embedded migration engine, a real userspace live migration of a "guest"
// (memory written by vCPU threads at the dirtier's rate and pattern) with the phases of a VMM:
// setup, a full pass, iterations of dirty-bitmap sync + send until the estimated downtime fits,
// stop-and-copy with the writers paused, verification and resume on the destination.
//
//   migmon migrate -d [-p PORT] [--json FILE]                        # destination
//   migmon migrate -s -H HOST [-p PORT] -m SIZE [--vcpus N] [--dirty-rate RATE] ...  # source
#include <fmt/ranges.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "engine/postcopy.hpp"
#include "engine/protocol.hpp"
#include "engine/wp_tracker.hpp"
#include "migtest/results/json.hpp"
#include "page_writer.hpp"
#include "subcommands.hpp"

namespace migtest {
namespace engine {
namespace {

using nlohmann::json;
constexpr uint64_t kRunPages = 64;  // pages per kPages message (256 KiB)

// Guest memory: anonymous, 4 KiB aligned, unmapped on every path.
class Memory {
 public:
  explicit Memory(size_t bytes, bool populate = false) : bytes_(bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0), -1, 0);
    if (p == MAP_FAILED) {
      throw RuntimeError(
          fmt::format("cannot map {} MiB of guest memory: {}", bytes >> 20, ErrnoText(errno)));
    }
    base_ = static_cast<uint8_t*>(p);
  }
  ~Memory() { ::munmap(base_, bytes_); }
  Memory(const Memory&) = delete;
  Memory& operator=(const Memory&) = delete;
  uint8_t* base() const { return base_; }
  size_t bytes() const { return bytes_; }
  uint8_t* page(uint64_t i) const { return base_ + i * kPageSize; }

 private:
  uint8_t* base_ = nullptr;
  size_t bytes_;
};

void WriteJsonFile(const std::string& path, const RunResult& run) {
  if (path.empty()) return;
  std::ofstream out(path);
  out << ToJsonString(run, 2) << "\n";
  if (!out) throw RuntimeError(fmt::format("cannot write {}", path));
}

double Ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }
Duration NsToDuration(int64_t ns) { return Duration(ns / 1000); }

// The downtime's phases, in order: consecutive intervals between checkpoints, from the source's
// pause to the destination's resume. Precopy: the final dirty-bitmap sync, the final pages, the
// device state until the destination has read it (pages still in flight included), the
// destination's check of every page against it, the resume (writers and echo start). Postcopy:
// the dirty-bitmap sync, the discard bitmap until the destination has read it, the urgent
// channel's connection, the discard of stale pages, the resume.
constexpr std::array<std::string_view, 5> kPrecopyPhases = {"final_sync", "final_pages",
                                                            "send_state", "check", "resume"};
constexpr std::array<std::string_view, 5> kPostcopyPhases = {"sync", "send_state", "urgent_channel",
                                                             "discard", "resume"};

// Turns checkpoints (mono ns, source clock; first = pause, last = resume) into phases. Clock
// placement across hosts can misorder two checkpoints by up to its uncertainty: each is then
// taken as no earlier than the one before, so the phases still add up to the downtime.
std::vector<Phase> PhasesBetween(const std::array<std::string_view, 5>& names,
                                 std::vector<int64_t> checkpoints) {
  std::vector<Phase> phases;
  for (size_t i = 1; i < checkpoints.size() && i <= names.size(); ++i) {
    checkpoints[i] = std::max(checkpoints[i], checkpoints[i - 1]);
    phases.push_back(
        {std::string(names[i - 1]), NsToDuration(checkpoints[i] - checkpoints[i - 1])});
  }
  return phases;
}

// --test-slow-phase NAME:MS: the named downtime phase takes MS longer (a sleep where it runs).
struct SlowPhase {
  std::string name;
  int64_t ms = 0;
  void At(std::string_view phase) const {
    if (ms > 0 && phase == name) SleepInterruptible(ms * 1'000'000);
  }
};

// The iteration at whose end --test-lose-dirty breaks dirty tracking: after the full pass and
// one more round, so that every page has been sent before its dirty bit is lost.
constexpr int kLoseDirtyIteration = 2;

// ---------------------------------------------------------------------------------------------
// Source
struct SourceOptions {
  std::string host;
  uint16_t port = 0;
  uint64_t memory = 0;
  int vcpus = 1;
  uint64_t dirty_rate = 0;
  std::string pattern = "sequential";
  int64_t downtime_limit_ms = 300;
  uint64_t max_bandwidth = 0;  // bytes/s, 0 = unlimited
  int max_iterations = 30;
  int postcopy_after = -1;  // iterations before switching to postcopy; -1 = precopy only
  bool auto_converge = false;
  std::string dirty_tracking = "bitmap";
  std::string json_file;
  bool tlmz = false;
  int stall_iteration = 0;
  int64_t stall_ms = 0;
  uint64_t drop_after = 0;
  uint16_t echo_port = 0;
  int64_t linger_ms = 100;
  // After a failed precopy the guest keeps running here this long, its writers verifying every
  // page before they rewrite it; then all of memory is checked (the result's `guest` part).
  int64_t run_after_failure_ms = 0;
  // Test knob: this page is corrupted (a body byte) once a failed migration left the guest here,
  // as a failure path that damages the guest would: the check after the failure must say so.
  int64_t corrupt_page = -1;
  // Test knob: the writers of the guest a failure left here stop this many ms into
  // --run-after-failure (the guest's run is then shorter than asked: its figure must say so).
  int64_t stop_writers_after_ms = -1;
  SlowPhase slow_phase;     // test knob (source or destination side, by phase)
  uint64_t lose_dirty = 0;  // test knob: pages whose dirty tracking breaks at kLoseDirtyIteration
};

class Source {
 public:
  explicit Source(SourceOptions o)
      : o_(std::move(o)),
        mem_(o_.memory),
        pages_(o_.memory / kPageSize),
        dirty_((pages_ + 63) / 64),
        untracked_(o_.lose_dirty > 0 ? pages_ : 0) {}

  int Run() {
    MigrationResult& m = result_;
    m.format = Format::kMigtest;
    m.downtime_goal = std::chrono::milliseconds(o_.downtime_limit_ms);
    m.config = {{"memory_bytes", std::to_string(o_.memory)},
                {"vcpus", std::to_string(o_.vcpus)},
                {"dirty_rate_bytes_s", std::to_string(o_.dirty_rate)},
                {"pattern", o_.pattern},
                {"downtime_limit_ms", std::to_string(o_.downtime_limit_ms)},
                {"max_bandwidth_bytes_s", std::to_string(o_.max_bandwidth)},
                {"max_iterations", std::to_string(o_.max_iterations)},
                {"auto_converge", o_.auto_converge ? "on" : "off"},
                {"dirty_tracking", o_.dirty_tracking},
                {"postcopy_after", std::to_string(o_.postcopy_after)}};

    // The guest runs before migration starts, as a VM does.
    PageWriter::Options wo;
    wo.pattern = *WritePatternFromString(o_.pattern);
    wo.rate_bytes_per_s = o_.dirty_rate;
    wo.threads = o_.vcpus;
    wo.verify = o_.run_after_failure_ms > 0;
    // Dirty pages are logged by the writers into the bitmap, or trapped by write protection.
    wo.dirty_bitmap = o_.dirty_tracking == "uffd-wp" ? nullptr : dirty_.data();
    if (wo.dirty_bitmap && o_.lose_dirty > 0) {
      // The knob's writers log through a hook that drops marks of broken pages.
      wo.dirty_bitmap = nullptr;
      wo.hook = &Source::MarkDirty;
      wo.hook_context = this;
    }
    writer_ = std::make_unique<PageWriter>(mem_.base(), mem_.bytes(), wo);
    writer_->Preheat();
    if (o_.dirty_tracking == "uffd-wp") {
      wp_ = std::make_unique<WpTracker>(mem_.base(), pages_, dirty_.data(),
                                        o_.lose_dirty > 0 ? untracked_.data() : nullptr,
                                        &lost_dirty_writes_);
    }
    if (o_.dirty_rate > 0) writer_->Start();
    echo_.Open(o_.echo_port);
    const int64_t t_start = MonoNs();  // the guest runs; the migration starts now
    Tlmz("RAM_SAVE_FLAG_EOS ram_save_live stage 1");

    int exit_code = kExitOk;
    try {
      Migrate(t_start);
    } catch (const std::exception& e) {
      // Cancelled (SIGUSR1, as QEMU's migrate_cancel): given up on purpose, not failed.
      m.status = CancelRequested() ? Status::kCancelled : Status::kFailed;
      m.error = fmt::format("{} (during {})", e.what(), phase_);
      if (postcopy_started_) {
        *m.error += "; the guest is lost on both sides";
      } else if (resumed_) {
        // The guest runs on the destination already; only the check against our memory failed.
        *m.error += "; the guest runs on the destination, unverified";
      } else {
        // The guest keeps running on the source: a failed precopy leaves it where it was.
        KeepGuestRunning();
        echo_.Open(o_.echo_port);
        guest_kept_ = true;
        if (o_.corrupt_page >= 0 && static_cast<uint64_t>(o_.corrupt_page) < pages_) {
          mem_.page(static_cast<uint64_t>(o_.corrupt_page))[40] ^= 0x5a;  // in the body
        }
      }
      fmt::print(stderr, "migmon migrate: migration {}: {}\n",
                 m.status == Status::kCancelled ? "cancelled" : "failed", *m.error);
      exit_code = kExitRuntime;
    }
    m.total_time = NsToDuration(MonoNs() - t_start);
    // Let the guest be seen where it now runs (the prober measures the blackout's end).
    SleepInterruptible(o_.linger_ms * 1'000'000);
    if (guest_kept_ && o_.run_after_failure_ms > 0 && writer_) RunGuestAfterFailure();
    echo_.Close();
    if (writer_) writer_->Stop();
    Finish();
    return exit_code;
  }

 private:
  void Tlmz(std::string_view line) {
    if (o_.tlmz) {
      fmt::print(stdout, "{}\n", line);
      std::fflush(stdout);
    }
  }

  // The writers' dirty logging under --test-lose-dirty (bitmap mode): as PageWriter's own, except
  // for broken pages.
  static void MarkDirty(void* context, uint64_t page) {
    auto* self = static_cast<Source*>(context);
    if (self->untracked_[page].load(std::memory_order_acquire)) {
      self->lost_dirty_writes_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    self->dirty_[page / 64].fetch_or(uint64_t{1} << (page % 64), std::memory_order_release);
  }

  // --test-lose-dirty N: dirty tracking breaks for N pages (i·P/N + P/(2N), i < N, of P pages).
  // Called once every page sent so far is on the wire: with the writers paused, each of those
  // pages is written once more (a vCPU's write) and its dirty bit cleared, and from now on no
  // write to it is logged. Its last sent copy is therefore older than the source's memory, for
  // certain, and no later round sends it again: only a check against the source's real memory
  // catches it.
  void BreakDirtyTracking() {
    writer_->Pause();
    for (uint64_t i = 0; i < o_.lose_dirty; ++i) {
      const uint64_t p = (2 * i + 1) * pages_ / (2 * o_.lose_dirty);
      WritePage(mem_.page(p), p, PageGeneration(mem_.page(p)) + 1, /*with_body=*/false);
      lost_dirty_writes_.fetch_add(1, std::memory_order_relaxed);
    }
    // After the writes: under uffd-wp a write-protected page's trap logs that write first.
    for (uint64_t i = 0; i < o_.lose_dirty; ++i) {
      const uint64_t p = (2 * i + 1) * pages_ / (2 * o_.lose_dirty);
      untracked_[p].store(1, std::memory_order_release);
      dirty_[p / 64].fetch_and(~(uint64_t{1} << (p % 64)), std::memory_order_acq_rel);
    }
    result_.pages["test_lost_dirty_pages"] = o_.lose_dirty;
    fmt::print(stderr, "migrate: test knob: dirty tracking of {} pages broken (first: page {})\n",
               o_.lose_dirty, pages_ / (2 * o_.lose_dirty));
    writer_->Resume();
  }

  // Collects and clears the dirty bitmap: the iteration's sync.
  std::vector<uint64_t> CollectDirty() {
    std::vector<uint64_t> bits(dirty_.size());
    for (size_t w = 0; w < dirty_.size(); ++w) {
      bits[w] = dirty_[w].exchange(0, std::memory_order_acquire);
    }
    // uffd-wp: protect again after collecting. A page written since its trap is in `bits` and is
    // sent after this point, so what it holds now goes over; later writes trap anew.
    if (wp_) wp_->ProtectAll();
    return bits;
  }

  uint64_t CountDirty() const {
    uint64_t n = 0;
    for (const auto& w : dirty_)
      n += static_cast<uint64_t>(std::popcount(w.load(std::memory_order_relaxed)));
    return n;
  }

  // Sends the pages whose bits are set (all pages when `bits` is empty), in runs, at most
  // max-bandwidth. Returns pages sent.
  uint64_t SendPages(const std::vector<uint64_t>& bits) {
    uint64_t sent = 0;
    uint64_t i = 0;
    auto is_set = [&](uint64_t p) { return bits.empty() || ((bits[p / 64] >> (p % 64)) & 1); };
    while (i < pages_) {
      if (!bits.empty() && bits[i / 64] == 0) {
        i = (i / 64 + 1) * 64;
        continue;
      }
      if (!is_set(i)) {
        ++i;
        continue;
      }
      uint64_t n = 1;
      while (i + n < pages_ && n < kRunPages && is_set(i + n)) ++n;
      ch_.Send(Msg::kPages, i, n, mem_.page(i), n * kPageSize);
      pages_on_wire_ += n;
      if (postcopy_started_) MarkSent(i, n);
      sent += n;
      i += n;
      Pace();
      if (Interrupted()) throw RuntimeError(Interruption());
    }
    return sent;
  }

  // max-bandwidth: never ahead of rate × elapsed since the iteration's start.
  void Pace() {
    const uint64_t bytes = ch_.bytes_sent();
    const int64_t now = MonoNs();
    if (now - second_start_ >= 1'000'000'000) {
      result_.bandwidth_mib_s.push_back(static_cast<double>(bytes - second_bytes_) / 1048576.0 *
                                        1e9 / static_cast<double>(now - second_start_));
      second_start_ = now;
      second_bytes_ = bytes;
    }
    if (o_.max_bandwidth == 0) return;
    const double allowed_ns =
        static_cast<double>(bytes - pace_bytes_) * 1e9 / static_cast<double>(o_.max_bandwidth);
    const int64_t ahead = static_cast<int64_t>(allowed_ns) - (now - pace_start_);
    if (ahead > 0) SleepInterruptible(ahead);
  }

  void Migrate(int64_t t_start) {
    Handshake(t_start);
    uint64_t total_sent = 0;
    const bool converged = Precopy(t_start, total_sent);
    Tlmz("RAM_SAVE_FLAG_EOS ram_save_live stage 2");
    if (o_.postcopy_after >= 0) {
      RunPostcopy(t_start);
      return;
    }
    result_.converged = converged;
    StopAndCopy(t_start, total_sent);
  }

  // Connects, says hello (the guest's shape, the test knobs the destination plays its part in)
  // and learns the destination's clock: the same one on one host, else its offset.
  void Handshake(int64_t t_start) {
    Endpoint to = Resolve(o_.host, o_.port, SOCK_STREAM);
    phase_ = "connecting to the destination";
    ch_ = Channel(ConnectTcp(to, std::chrono::seconds(10)), "the destination " + to.text);
    phase_ = "setup";
    if (o_.drop_after) ch_.DropAfter(o_.drop_after);
    json hello = {{"pages", pages_},
                  {"vcpus", o_.vcpus},
                  {"dirty_rate", o_.dirty_rate},
                  {"pattern", o_.pattern},
                  {"echo_port", o_.echo_port},
                  {"boot_id", BootId()},
                  {"postcopy", o_.postcopy_after >= 0}};
    if (o_.slow_phase.ms > 0) {
      hello["test_slow_phase"] = {{"name", o_.slow_phase.name}, {"ms", o_.slow_phase.ms}};
    }
    const std::string hello_text = hello.dump();
    const int64_t t1 = MonoNs();
    ch_.Send(Msg::kHello, pages_, 0, hello_text.data(), hello_text.size());
    Header ready = ch_.Receive();
    const int64_t t3 = MonoNs();
    if (ready.type != static_cast<uint32_t>(Msg::kReady)) {
      throw RuntimeError(fmt::format("the destination answered message {} to hello", ready.type));
    }
    const std::string dst_boot = ch_.ReadPayloadString(ready.length);
    if (dst_boot == BootId()) {
      clock_offset_ = 0;  // one host: one CLOCK_MONOTONIC
      clock_uncertainty_ = 0;
    } else {
      // Different hosts: the destination's clock read at some point between t1 and t3.
      clock_offset_ = static_cast<int64_t>(ready.a) - (t1 + t3) / 2;
      clock_uncertainty_ = (t3 - t1) / 2;
    }
    result_.setup_time = NsToDuration(MonoNs() - t_start);
    pace_start_ = second_start_ = MonoNs();
    pace_bytes_ = second_bytes_ = ch_.bytes_sent();
  }

  // Precopy iterations until the estimated downtime fits the limit (true), the iteration cap,
  // or postcopy's switch point.
  bool Precopy(int64_t t_start, uint64_t& total_sent) {
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
  const Iteration& PrecopyIteration(int index, int64_t t_start, uint64_t& total_sent,
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
    if (index == o_.stall_iteration) SleepInterruptible(o_.stall_ms * 1'000'000);
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
    result_.iterations.push_back(it);
    return result_.iterations.back();
  }

  // Auto-converge as QEMU does: two rounds in a row dirtying over half of what was sent →
  // throttle the vCPUs 20 %, then 10 % more each time, up to 99 %.
  void AutoConverge(uint64_t sent, uint64_t dirty_now) {
    consecutive_high_dirty_ = dirty_now * 2 > sent ? consecutive_high_dirty_ + 1 : 0;
    if (consecutive_high_dirty_ < 2) return;
    throttle_ = throttle_ == 0 ? 0.2 : std::min(0.99, throttle_ + 0.1);
    writer_->SetThrottle(throttle_);
    result_.config["throttle_final"] = fmt::format("{:.2f}", throttle_);
    consecutive_high_dirty_ = 0;
  }

  // The destination's kResumed: its resume time (our clock) and its phase checkpoints.
  int64_t ReceiveResumed(std::vector<int64_t>* checkpoints) {
    Header h = ch_.Receive();
    if (h.type != static_cast<uint32_t>(Msg::kResumed)) {
      throw RuntimeError(
          fmt::format("the destination answered message {}, expected its resume", h.type));
    }
    json info = json::parse(ch_.ReadPayloadString(h.length), nullptr, false);
    if (!info.is_object() || !info.contains("checkpoints") || !info["checkpoints"].is_array()) {
      throw RuntimeError("the destination's resume message is garbage");
    }
    for (const auto& c : info["checkpoints"]) {
      checkpoints->push_back(c.get<int64_t>() - clock_offset_);
    }
    resumed_ = true;
    RefuseCancel();  // the guest runs on the destination: nothing left to cancel
    return static_cast<int64_t>(h.a) - clock_offset_;
  }

  // After the destination resumed: our memory is frozen (the writers stay paused for good), so
  // every page's real generation is read outside the downtime and goes over; the destination
  // checks what it received against it. Returns the destination's kDone info.
  json VerifyAgainstMemory(bool* verified) {
    phase_ = "verification, the guest running on the destination";
    const int64_t t0 = MonoNs();
    const std::vector<uint64_t> state = StateTable();
    const int64_t t1 = MonoNs();
    ch_.Send(Msg::kVerify, 0, 0, state.data(), state.size() * sizeof(uint64_t));
    const int64_t t2 = MonoNs();
    fmt::print(stderr,
               "migrate: verification: read the generation of {} pages ({} MiB) in {:.1f} ms and "
               "sent it in {:.1f} ms, after the resume\n",
               pages_, (pages_ * kPageSize) >> 20, Ms(t1 - t0), Ms(t2 - t1));
    Header done = ch_.Receive();
    if (done.type != static_cast<uint32_t>(Msg::kDone)) {
      throw RuntimeError(
          fmt::format("the destination answered message {} to the verification", done.type));
    }
    json info = json::parse(ch_.ReadPayloadString(done.length), nullptr, false);
    *verified = done.b == 1;
    return info;
  }

  // The writers pause, the rest goes over, the destination checks and resumes; then every page
  // is verified against the memory the source stopped with.
  void StopAndCopy(int64_t t_start, uint64_t total_sent) {
    MigrationResult& m = result_;
    writer_->Pause();
    const int64_t t_pause = MonoNs();  // downtime starts
    phase_ = "stop-and-copy";
    echo_.Close();
    ch_.Send(Msg::kStopCopy, static_cast<uint64_t>(t_pause + clock_offset_));
    // The final round's sync, with the guest stopped: its time is downtime too.
    const int final_index = static_cast<int>(m.iterations.size()) + 1;
    const std::vector<uint64_t> bits = CollectDirty();
    if (final_index == o_.stall_iteration) SleepInterruptible(o_.stall_ms * 1'000'000);
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

  static std::string FormatPhases(const std::vector<Phase>& phases) {
    std::string text;
    for (const Phase& p : phases) {
      text += fmt::format("{}{}={:.2f}ms", text.empty() ? "" : " ", p.name,
                          static_cast<double>(p.duration.count()) / 1000.0);
    }
    return text;
  }
  // Every page's generation: the device state the destination checks its pages against.
  std::vector<uint64_t> StateTable() const {
    std::vector<uint64_t> table(pages_);
    for (uint64_t i = 0; i < pages_; ++i) table[i] = PageGeneration(mem_.page(i));
    return table;
  }

  void MarkSent(uint64_t first, uint64_t n) {
    std::lock_guard lock(sent_mutex_);
    for (uint64_t p = first; p < first + n; ++p) sent_[p] = true;
  }

  // Postcopy: the source stops, the destination runs at once and asks for what it lacks over an
  // urgent connection while the source pushes the rest. The destination drops what our dirty
  // bitmap says is stale; at the end every page is verified against the memory we stopped with.
  void RunPostcopy(int64_t t_start) {
    MigrationResult& m = result_;
    m.converged = false;
    writer_->Pause();
    const int64_t t_pause = MonoNs();
    phase_ = "the switch to postcopy";
    echo_.Close();
    std::vector<uint64_t> bits = CollectDirty();
    if (m.iterations.empty()) bits.assign(bits.size(), ~uint64_t{0});  // nothing was sent yet
    o_.slow_phase.At("sync");
    const int64_t t_synced = MonoNs();
    sent_.assign(pages_, true);
    for (uint64_t i = 0; i < pages_; ++i) {
      if ((bits[i / 64] >> (i % 64)) & 1) sent_[i] = false;
    }
    postcopy_started_ = true;
    RefuseCancel();  // the destination is about to run the guest: postcopy cannot be undone
    ch_.Send(Msg::kPostcopy, static_cast<uint64_t>(t_pause + clock_offset_));
    o_.slow_phase.At("send_state");
    ch_.Send(Msg::kState, 0, 0, bits.data(), bits.size() * sizeof(uint64_t));
    // The destination connects its urgent channel to our listening port (sent in its reply).
    Header h = ch_.Receive();
    if (h.type != static_cast<uint32_t>(Msg::kReady)) {
      throw RuntimeError(fmt::format("the destination answered message {} to postcopy", h.type));
    }
    const uint16_t urgent_port = static_cast<uint16_t>(h.a);
    ch_.SkipPayload(h.length);
    Endpoint to = Resolve(o_.host, urgent_port, SOCK_STREAM);
    Channel urgent(ConnectTcp(to, std::chrono::seconds(10)), "the destination's urgent channel");
    std::atomic<bool> failed{false};
    std::string urgent_error;
    std::thread server([&] {
      try {
        while (true) {
          Header r = urgent.Receive();
          if (r.type == static_cast<uint32_t>(Msg::kEnd)) {
            urgent.Shutdown();  // the destination reads our last replies until this EOF
            break;
          }
          if (r.type != static_cast<uint32_t>(Msg::kRequest) || r.a >= pages_) {
            throw RuntimeError(fmt::format("bad page request (type {}, page {})", r.type, r.a));
          }
          {
            std::lock_guard lock(sent_mutex_);
            sent_[r.a] = true;
          }
          urgent.Send(Msg::kPages, r.a, 1, mem_.page(r.a), kPageSize);
          ++requests_served_;
        }
      } catch (const std::exception& e) {
        urgent_error = e.what();
        failed = true;
      }
    });
    // Background push of everything not yet sent.
    phase_ = "postcopy, the guest running on the destination";
    uint64_t pushed = 0;
    try {
      for (uint64_t i = 0; i < pages_ && !failed; ++i) {
        if (Interrupted()) throw RuntimeError(Interruption());
        {
          std::lock_guard lock(sent_mutex_);
          if (sent_[i]) continue;
          sent_[i] = true;
        }
        ch_.Send(Msg::kPages, i, 1, mem_.page(i), kPageSize);
        ++pushed;
        Pace();
      }
      ch_.Send(Msg::kEnd);
      const int64_t t_pushed = MonoNs();  // every page is on its way: the migration's end
      // The destination resumed long ago; its message waited in the socket behind our pushes.
      std::vector<int64_t> checkpoints = {t_pause, t_synced};
      const int64_t t_resume = ReceiveResumed(&checkpoints);
      checkpoints.push_back(t_resume);
      if (checkpoints.size() != kPostcopyPhases.size() + 1) {
        throw RuntimeError(fmt::format("the destination sent {} checkpoints, expected {}",
                                       checkpoints.size() - 3, kPostcopyPhases.size() - 2));
      }
      m.downtime = NsToDuration(t_resume - t_pause);
      if (clock_uncertainty_ > 0) m.downtime_uncertainty = NsToDuration(clock_uncertainty_);
      m.downtime_breakdown = PhasesBetween(kPostcopyPhases, checkpoints);
      bool verified = false;
      json info = VerifyAgainstMemory(&verified);
      m.status = Status::kCompleted;
      m.verified = verified;
      if (info.is_object()) {
        if (!verified && info.contains("error")) m.error = info["error"].get<std::string>();
        if (info.contains("postcopy_latency_us")) {
          m.postcopy_latency = info["postcopy_latency_us"].get<LatencyDistribution>();
        }
      }
      result_total_ = NsToDuration(std::max(t_resume, t_pushed) - t_start);
      m.pages["postcopy_pushed"] = pushed;
      m.pages["postcopy_requests"] = requests_served_;
    } catch (...) {
      urgent.Shutdown();
      server.join();
      throw;
    }
    server.join();
    if (failed) throw RuntimeError("postcopy urgent channel: " + urgent_error);
    fmt::print(stderr,
               "migrate: postcopy completed: downtime {:.1f} ms ({}), {} pages pushed, {} "
               "requested, memory {}\n",
               static_cast<double>(m.downtime->count()) / 1000.0,
               FormatPhases(m.downtime_breakdown), pushed, requests_served_.load(),
               *m.verified ? "verified" : "NOT verified");
  }

  // After a failed precopy the writers run on (or again, after stop-and-copy paused them). Their
  // write span starts here, so that how long the guest ran after the failure is measured by its
  // writers. Resetting it needs them parked: a pause of one slice (~1 ms) at most.
  void KeepGuestRunning() {
    if (!writer_) return;
    writer_->Pause();
    writer_->ResetWriteSpan();
    writer_->Resume();
  }

  // Waits out --run-after-failure, stopping the writers early under --test-stop-writers-after.
  void LetGuestRun() {
    int64_t left_ms = o_.run_after_failure_ms;
    if (o_.stop_writers_after_ms >= 0 && o_.stop_writers_after_ms < left_ms) {
      SleepInterruptible(o_.stop_writers_after_ms * 1'000'000);
      writer_->Stop();
      fmt::print(stderr, "migrate: test knob: the guest's writers stopped {} ms into its run\n",
                 o_.stop_writers_after_ms);
      left_ms -= o_.stop_writers_after_ms;
    }
    SleepInterruptible(left_ms * 1'000'000);
    writer_->Stop();
  }

  // The guest the failed migration left here runs on, its writers verifying each page before they
  // rewrite it; then every page is checked. What a VMM's guest console would say, as `guest`.
  void RunGuestAfterFailure() {
    LetGuestRun();
    GuestResult g;
    g.console = "migmon migrate (source): the guest after the failed migration";
    // Measured by the writers: from the first to the last verified rewrite since the failure
    // (whole seconds, rounded down), not the time we asked the guest to run.
    const PageWriter::WriteSpan span = writer_->Span();
    const double seconds = Ms(span.last_ns - span.first_ns) / 1e3;
    if (span.pages > 0) g.dirtier_seconds = static_cast<uint64_t>(seconds);
    std::string why;
    uint64_t bad = writer_->Errors();
    if (bad > 0) why = writer_->FirstError().value_or("a page did not verify");
    if (bad == 0) bad = writer_->VerifyAll(&why);
    g.verify_errors = bad;
    // `lines` counts console lines read; this guest has no console, so none were: 0.
    g.lines = 0;
    if (bad > 0) {
      g.problems.push_back({.line = 0, .text = "MIGTEST-GUEST-ERROR memory corrupted: " + why});
    }
    guest_after_failure_ = std::move(g);
    fmt::print(stderr,
               "migmon migrate: the guest's writers ran {:.1f} s after the failure ({} pages "
               "verified and rewritten); {}\n",
               seconds, span.pages, bad == 0 ? "every page verified" : "memory corrupted: " + why);
  }

  void Finish() {
    RunResult run;
    if (guest_after_failure_) run.guest = guest_after_failure_;
    run.format = Format::kMigtest;
    run.source = "migmon migrate (source)";
    if (result_total_) result_.total_time = result_total_;
    if (wp_) result_.pages["write_protect_traps"] = wp_->traps();
    if (o_.lose_dirty > 0) result_.pages["test_lost_dirty_writes"] = lost_dirty_writes_.load();
    run.migration = result_;
    DirtyResult d;
    d.pattern = o_.pattern;
    d.memory_mb = o_.memory >> 20;
    if (o_.dirty_rate > 0) d.requested_mib_s = static_cast<double>(o_.dirty_rate) / 1048576.0;
    run.dirty = d;
    WriteJsonFile(o_.json_file, run);
  }

  SourceOptions o_;
  std::string phase_ = "start";  // where a failure happened, for its message
  bool guest_kept_ = false;      // a failed precopy left the guest running here
  std::optional<GuestResult> guest_after_failure_;
  Memory mem_;
  uint64_t pages_;
  std::vector<std::atomic<uint64_t>> dirty_;
  uint64_t pages_on_wire_ = 0;  // pages sent in kPages messages on the main channel
  // --test-lose-dirty: pages whose writes are not logged (read by the writers' hook and the
  // trap handler, so declared before them), and how many writes went unlogged.
  std::vector<std::atomic<uint8_t>> untracked_;
  std::atomic<uint64_t> lost_dirty_writes_{0};
  // wp_ before writer_: the writers stop (destructor) before their trap handler goes.
  std::unique_ptr<WpTracker> wp_;  // --dirty-tracking uffd-wp
  std::unique_ptr<PageWriter> writer_;
  GuestEcho echo_;
  Channel ch_;
  MigrationResult result_;
  std::optional<Duration> result_total_;
  int64_t clock_offset_ = 0;
  int64_t clock_uncertainty_ = 0;
  int64_t pace_start_ = 0, second_start_ = 0;
  uint64_t pace_bytes_ = 0, second_bytes_ = 0;
  bool postcopy_started_ = false;
  bool resumed_ = false;            // the destination runs the guest
  int64_t t_last_iter_end_ = 0;     // mono ns: the last precopy round's end
  int consecutive_high_dirty_ = 0;  // auto-converge: rounds in a row dirtying over half sent
  double throttle_ = 0;             // auto-converge: the vCPUs' throttle now
  std::mutex sent_mutex_;
  std::vector<bool> sent_;
  std::atomic<uint64_t> requests_served_{0};
};

// ---------------------------------------------------------------------------------------------
// Destination
struct DestinationOptions {
  uint16_t port = 0;
  uint64_t memory = 0;  // when given, guest RAM is allocated (faulted in) before "ready"
  std::string json_file;
  int64_t run_after_ms = 500;
  int64_t corrupt_page = -1;    // test knob: a body byte, before the check
  int64_t corrupt_header = -1;  // test knob: the header's checksum, before the check
};

class Destination {
 public:
  explicit Destination(DestinationOptions o) : o_(std::move(o)) {}

  int Run() {
    // As a VMM's destination is started with its RAM before the incoming migration, so that
    // allocating it is not the migration's time.
    if (o_.memory > 0) mem_ = std::make_unique<Memory>(o_.memory, /*populate=*/true);
    Fd listener = BindAny(SOCK_STREAM, o_.port);
    fmt::print(stdout, "ready port={}\n", LocalPort(listener.get()));
    std::fflush(stdout);
    int code = kExitOk;
    try {
      auto conn = AcceptWithTimeout(listener.get(), std::chrono::seconds(120));
      if (!conn) throw RuntimeError("no source connected within 120 s");
      listener.Reset();
      ch_ = Channel(std::move(*conn), "the source");
      phase_ = "setup";
      Receive();
    } catch (const std::exception& e) {
      result_.status = Status::kFailed;
      result_.error = fmt::format("{} (during {})", e.what(), phase_);
      // The guest did pause and resume here: that downtime was real, whatever came after.
      if (resume_ns_ != 0) result_.downtime = NsToDuration(resume_ns_ - pause_ns_);
      if (postcopy_ && postcopy_->started()) {
        // The guest runs here on memory part of which is still on the source: without the
        // source it cannot go on (QEMU's destination pauses in postcopy-paused; nothing here
        // could resume it).
        *result_.error += fmt::format("; {} of {} pages never arrived: the guest is lost",
                                      postcopy_->missing(), pages_);
      }
      fmt::print(stderr, "migmon migrate: destination: {}\n", *result_.error);
      code = kExitRuntime;
    }
    echo_.Close();
    // The postcopy side first: it wakes the vCPUs blocked on pages that will not come, so that
    // the writers can stop.
    if (postcopy_) postcopy_->Stop();
    if (writer_) writer_->Stop();
    RunResult run;
    run.format = Format::kMigtest;
    run.source = "migmon migrate (destination)";
    run.migration = result_;
    WriteJsonFile(o_.json_file, run);
    return code;
  }

 private:
  void Receive() {
    Header hello = ch_.Receive();
    if (hello.type != static_cast<uint32_t>(Msg::kHello)) {
      throw RuntimeError(fmt::format("expected hello from the source, got message {}", hello.type));
    }
    json cfg = json::parse(ch_.ReadPayloadString(hello.length), nullptr, false);
    if (!cfg.is_object() || !cfg.contains("pages"))
      throw RuntimeError("the source's hello is garbage");
    pages_ = cfg["pages"].get<uint64_t>();
    if (pages_ == 0 || pages_ > (uint64_t{1} << 30)) {
      throw RuntimeError(fmt::format("the source asks for {} pages", pages_));
    }
    if (o_.corrupt_header >= 0 && static_cast<uint64_t>(o_.corrupt_header) >= pages_) {
      throw RuntimeError(
          fmt::format("--test-corrupt-header: page {} is beyond the guest's {} pages",
                      o_.corrupt_header, pages_));
    }
    cfg_ = cfg;
    if (cfg.contains("test_slow_phase")) {
      slow_phase_.name = cfg["test_slow_phase"].value("name", std::string());
      slow_phase_.ms = cfg["test_slow_phase"].value("ms", int64_t{0});
    }
    const bool postcopy = cfg.value("postcopy", false);
    if (mem_ && mem_->bytes() != pages_ * kPageSize) {
      throw RuntimeError(fmt::format("the source's guest has {} MiB, this destination {} MiB (-m)",
                                     (pages_ * kPageSize) >> 20, mem_->bytes() >> 20));
    }
    // Postcopy needs memory no page of which was ever touched, for userfaultfd.
    if (!mem_ || postcopy) mem_ = std::make_unique<Memory>(pages_ * kPageSize);
    received_.assign(pages_, ~uint64_t{0});  // ~0: never received
    if (cfg.value("postcopy", false)) {
      postcopy_ = std::make_unique<PostcopyDestination>(mem_->base(), pages_);
    }
    const std::string boot = BootId();
    ch_.Send(Msg::kReady, static_cast<uint64_t>(MonoNs()), 0, boot.data(), boot.size());
    result_.status = Status::kActive;
    phase_ = "precopy iteration 1";
    while (true) {
      Header h = ch_.Receive();
      switch (static_cast<Msg>(h.type)) {
        case Msg::kPages:
          ReceivePages(h);
          break;
        case Msg::kIterEnd:
          phase_ = fmt::format("precopy iteration {}", h.a + 1);
          break;
        case Msg::kStopCopy:
          pause_ns_ = static_cast<int64_t>(h.a);
          phase_ = "stop-and-copy";
          break;
        case Msg::kState:
          FinishPrecopy(h);
          return;
        case Msg::kPostcopy:
          pause_ns_ = static_cast<int64_t>(h.a);
          phase_ = "the switch to postcopy";
          RunPostcopy();
          return;
        default:
          throw RuntimeError(fmt::format("unexpected message {} from the source", h.type));
      }
    }
  }

  void ReceivePages(const Header& h) {
    if (h.a + h.b > pages_ || h.length != h.b * kPageSize) {
      throw RuntimeError(fmt::format("the source sent pages [{}, +{}) of {}", h.a, h.b, pages_));
    }
    if (postcopy_) {
      buffer_.resize(h.length);
      ch_.ReadPayload(buffer_.data(), h.length);
      for (uint64_t k = 0; k < h.b; ++k)
        postcopy_->Install(h.a + k, buffer_.data() + k * kPageSize);
    } else {
      ch_.ReadPayload(mem_->page(h.a), h.length);
      for (uint64_t k = h.a; k < h.a + h.b; ++k) received_[k] = PageGeneration(mem_->page(k));
      pages_received_ += h.b;
    }
  }

  // A message of `words` 64-bit words (a generation table or a bitmap) of type `type`.
  std::vector<uint64_t> ReadWords(const Header& h, Msg type, uint64_t words, const char* what) {
    if (h.type != static_cast<uint32_t>(type)) {
      throw RuntimeError(fmt::format("expected {}, got message {}", what, h.type));
    }
    if (h.length != words * sizeof(uint64_t)) {
      throw RuntimeError(
          fmt::format("{} is {} bytes, expected {}", what, h.length, words * sizeof(uint64_t)));
    }
    std::vector<uint64_t> table(words);
    ch_.ReadPayload(table.data(), h.length);
    return table;
  }

  // The guest runs here now: the source learns when, and where the downtime's phases ended.
  void SendResumed(int64_t resume_ns, const std::vector<int64_t>& checkpoints) {
    const std::string text = json{{"checkpoints", checkpoints}}.dump();
    ch_.Send(Msg::kResumed, static_cast<uint64_t>(resume_ns), 0, text.data(), text.size());
  }

  // After resume: every page as received against `table`, the source's memory as it stopped (a
  // page whose update was never sent, such as one whose dirty bit was lost, holds an older
  // generation). Compares what was recorded on arrival, before the guest ran; the full content
  // check follows while the guest runs (bodies never change after pre-heat, headers stay
  // self-consistent).
  bool CheckGenerations(const std::vector<uint64_t>& table, std::string* why) {
    // What arrived (recorded as it arrived: no page is read again here) against the source's
    // record; a page never received has no generation at all.
    for (uint64_t i = 0; i < pages_; ++i) {
      if (received_[i] != table[i]) {
        *why = received_[i] == ~uint64_t{0}
                   ? fmt::format("page {}: never received", i)
                   : fmt::format("page {}: generation {}, the source's is {} (a lost update)", i,
                                 received_[i], table[i]);
        return false;
      }
    }
    return true;
  }

  // The guest runs on here for a while (the prober sees it answer, the writers write), then
  // stops, and every page's content is checked. The writers check each page's header before they
  // rewrite it (a rewrite would make a torn header whole again), so every page is checked as it
  // was at the resume: by the writer that first rewrites it, or here if none did.
  bool RunGuestThenVerify(bool verified, std::string* why) {
    SleepInterruptible(o_.run_after_ms * 1'000'000);
    writer_->Stop();
    std::string bad;
    if (const auto first = writer_->FirstError()) {
      bad = *first + " (found by the guest's writer, before it rewrote the page)";
    } else {
      writer_->VerifyAll(&bad);
    }
    if (!bad.empty() && verified) {
      *why = bad;
      return false;
    }
    return verified;
  }

  void StartGuest() {
    PageWriter::Options wo;
    wo.pattern = *WritePatternFromString(cfg_.value("pattern", std::string("sequential")));
    wo.rate_bytes_per_s = cfg_.value("dirty_rate", uint64_t{0});
    wo.threads = cfg_.value("vcpus", 1);
    wo.check_header = true;  // no rewrite may hide a damaged page (RunGuestThenVerify)
    writer_ = std::make_unique<PageWriter>(mem_->base(), pages_ * kPageSize, wo);
    if (wo.rate_bytes_per_s > 0) writer_->Start();
    echo_.Open(cfg_.value("echo_port", uint16_t{0}));
  }

  void SendDone(int64_t resume_ns, bool verified, const json& info) {
    const std::string text = info.dump();
    ch_.Send(Msg::kDone, static_cast<uint64_t>(resume_ns), verified ? 1 : 0, text.data(),
             text.size());
  }

  // Before resume: every page arrived at least once, and as many as the source sent. One pass
  // over what was recorded on arrival, so that the check does not lengthen the downtime much.
  bool CheckArrived(const json& state, std::string* why) const {
    const uint64_t sent = state.is_object() ? state.value("pages_sent", uint64_t{0}) : 0;
    if (sent != pages_received_) {
      *why = fmt::format("the source sent {} pages, {} arrived", sent, pages_received_);
      return false;
    }
    for (uint64_t i = 0; i < pages_; ++i) {
      if (received_[i] == ~uint64_t{0}) {
        *why = fmt::format("page {}: never received", i);
        return false;
      }
    }
    return true;
  }

  void FinishPrecopy(const Header& h) {
    const json state = json::parse(ch_.ReadPayloadString(h.length), nullptr, false);
    const int64_t t_loaded = MonoNs();
    slow_phase_.At("check");
    DamageForTest();
    std::string why;
    bool verified = CheckArrived(state, &why);
    const int64_t t_checked = MonoNs();
    slow_phase_.At("resume");
    StartGuest();
    const int64_t resume = MonoNs();  // downtime ends
    phase_ = "verification, the guest running here";
    resume_ns_ = resume;
    SendResumed(resume, {t_loaded, t_checked});
    const std::vector<uint64_t> final_state =
        ReadWords(ch_.Receive(), Msg::kVerify, pages_, "the source's final memory state");
    const int64_t t_compare = MonoNs();
    if (verified) verified = CheckGenerations(final_state, &why);
    fmt::print(stderr,
               "migrate: destination: {} pages compared with the source's memory in "
               "{:.2f} ms, after the resume\n",
               pages_, Ms(MonoNs() - t_compare));
    verified = RunGuestThenVerify(verified, &why);
    json info = json::object();
    if (!verified) info["error"] = "memory verification failed: " + why;
    SendDone(resume, verified, info);
    Conclude(resume, verified, why);
  }

  // The test knobs that damage a page after it arrived, before the check: its body
  // (--test-corrupt-page), or its header's checksum as a torn copy leaves it
  // (--test-corrupt-header: the generation recorded on arrival stays right, so only a check of
  // the header itself, before the guest's writers rewrite it, can tell).
  void DamageForTest() {
    if (o_.corrupt_page >= 0 && static_cast<uint64_t>(o_.corrupt_page) < pages_) {
      mem_->page(static_cast<uint64_t>(o_.corrupt_page))[40] ^= 0x5a;  // in the body
    }
    if (o_.corrupt_header >= 0) {
      DamageHeaderForTest(mem_->page(static_cast<uint64_t>(o_.corrupt_header)));
    }
  }

  void RunPostcopy() {
    if (!postcopy_) throw RuntimeError("the source switched to postcopy without announcing it");
    const std::vector<uint64_t> discard =
        ReadWords(ch_.Receive(), Msg::kState, (pages_ + 63) / 64, "the source's dirty bitmap");
    const int64_t t_loaded = MonoNs();
    slow_phase_.At("urgent_channel");
    Fd urgent_listener = BindAny(SOCK_STREAM, 0);
    ch_.Send(Msg::kReady, LocalPort(urgent_listener.get()));
    auto conn = AcceptWithTimeout(urgent_listener.get(), std::chrono::seconds(10));
    if (!conn) throw RuntimeError("the source did not open the urgent channel within 10 s");
    const int64_t t_connected = MonoNs();
    slow_phase_.At("discard");
    postcopy_->Start(Channel(std::move(*conn), "the source's urgent channel"), discard);
    const int64_t t_discarded = MonoNs();
    slow_phase_.At("resume");
    StartGuest();
    const int64_t resume = MonoNs();
    phase_ = "postcopy, the guest running here";
    resume_ns_ = resume;
    SendResumed(resume, {t_loaded, t_connected, t_discarded});
    while (true) {
      Header p = ch_.Receive();
      if (p.type == static_cast<uint32_t>(Msg::kEnd)) break;
      if (p.type != static_cast<uint32_t>(Msg::kPages)) {
        throw RuntimeError(fmt::format("unexpected message {} in postcopy", p.type));
      }
      ReceivePages(p);
    }
    postcopy_->Finish();
    phase_ = "verification, the guest running here";
    const std::vector<uint64_t> final_state =
        ReadWords(ch_.Receive(), Msg::kVerify, pages_, "the source's final memory state");
    // Every copy placed was checked on arrival; now the generations against the source's memory.
    std::string why;
    bool verified = postcopy_->Verified(&why) && postcopy_->CompareGenerations(final_state, &why);
    verified = RunGuestThenVerify(verified, &why);
    json info = json::object();
    if (!verified) info["error"] = "memory verification failed: " + why;
    LatencyDistribution lat;
    lat.samples = postcopy_->Latencies();
    info["postcopy_latency_us"] = lat;
    result_.postcopy_latency = lat;
    SendDone(resume, verified, info);
    Conclude(resume, verified, why);
  }

  void Conclude(int64_t resume_ns, bool verified, const std::string& why) {
    result_.downtime = NsToDuration(resume_ns - pause_ns_);
    result_.verified = verified;
    if (!verified) result_.error = "memory verification failed: " + why;
    result_.status = Status::kCompleted;
  }

  DestinationOptions o_;
  Channel ch_;
  json cfg_;
  uint64_t pages_ = 0;
  std::unique_ptr<Memory> mem_;
  std::unique_ptr<PageWriter> writer_;
  std::unique_ptr<PostcopyDestination> postcopy_;
  GuestEcho echo_;
  std::vector<uint8_t> buffer_;
  std::vector<uint64_t> received_;  // generation of each page as received
  uint64_t pages_received_ = 0;     // precopy: pages received, resent ones counted again
  SlowPhase slow_phase_;            // the source's --test-slow-phase, for our phases
  int64_t pause_ns_ = 0;
  int64_t resume_ns_ = 0;                         // 0: the guest never resumed here
  std::string phase_ = "waiting for the source";  // where a failure happened, for its message
  MigrationResult result_;
};

}  // namespace
}  // namespace engine

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
      return engine::Destination(dopt).Run();
    }
    const engine::SourceOptions so = SourceOptionsOf(app, cl);
    InstallSignalHandlers();
    InstallCancelHandler();
    return engine::Source(so).Run();
  });
}

}  // namespace migtest
