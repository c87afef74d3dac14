// The engine's source: the run as a whole, and what precopy and postcopy share (see source.hpp).
#include "engine/source.hpp"

#include <bit>

namespace migtest::engine {

using nlohmann::json;

int Source::Run() {
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
  StartGuest();
  const int64_t t_start = MonoNs();  // the guest runs; the migration starts now
  Tlmz("RAM_SAVE_FLAG_EOS ram_save_live stage 1");

  int exit_code = kExitOk;
  try {
    Migrate(t_start);
  } catch (const std::exception& e) {
    Failed(e);
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

// The guest runs before migration starts, as a VM does.
void Source::StartGuest() {
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
}

void Source::Tlmz(std::string_view line) {
  if (o_.tlmz) {
    fmt::print(stdout, "{}\n", line);
    std::fflush(stdout);
  }
}

// Collects and clears the dirty bitmap: the iteration's sync.
std::vector<uint64_t> Source::CollectDirty() {
  std::vector<uint64_t> bits(dirty_.size());
  for (size_t w = 0; w < dirty_.size(); ++w) {
    bits[w] = dirty_[w].exchange(0, std::memory_order_acquire);
  }
  // uffd-wp: protect again after collecting. A page written since its trap is in `bits` and is
  // sent after this point, so what it holds now goes over; later writes trap anew.
  if (wp_) wp_->ProtectAll();
  return bits;
}

uint64_t Source::CountDirty() const {
  uint64_t n = 0;
  for (const auto& w : dirty_)
    n += static_cast<uint64_t>(std::popcount(w.load(std::memory_order_relaxed)));
  return n;
}

// Sends the pages whose bits are set (all pages when `bits` is empty), in runs, at most
// max-bandwidth. Returns pages sent.
uint64_t Source::SendPages(const std::vector<uint64_t>& bits) {
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
void Source::Pace() {
  const uint64_t bytes = ch_.bytes_sent();
  const int64_t now = MonoNs();
  if (now - second_start_ >= 1'000'000'000) {
    result_.bandwidth_mib_s.push_back(static_cast<double>(bytes - second_bytes_) / 1048576.0 * 1e9 /
                                      static_cast<double>(now - second_start_));
    second_start_ = now;
    second_bytes_ = bytes;
  }
  if (o_.max_bandwidth == 0) return;
  const double allowed_ns =
      static_cast<double>(bytes - pace_bytes_) * 1e9 / static_cast<double>(o_.max_bandwidth);
  const int64_t ahead = static_cast<int64_t>(allowed_ns) - (now - pace_start_);
  if (ahead > 0) SleepInterruptible(ahead);
}

void Source::Migrate(int64_t t_start) {
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
void Source::Handshake(int64_t t_start) {
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
  Header ready = ch_.Receive("the ready message");
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

// The destination's kResumed: its resume time (our clock) and its phase checkpoints.
int64_t Source::ReceiveResumed(std::vector<int64_t>* checkpoints) {
  Header h = ch_.Receive("the resume message");
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
json Source::VerifyAgainstMemory(bool* verified) {
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
  Header done = ch_.Receive("the verification result");
  if (done.type != static_cast<uint32_t>(Msg::kDone)) {
    throw RuntimeError(
        fmt::format("the destination answered message {} to the verification", done.type));
  }
  json info = json::parse(ch_.ReadPayloadString(done.length), nullptr, false);
  *verified = done.b == 1;
  return info;
}

std::string Source::FormatPhases(const std::vector<Phase>& phases) {
  std::string text;
  for (const Phase& p : phases) {
    text += fmt::format("{}{}={:.2f}ms", text.empty() ? "" : " ", p.name,
                        static_cast<double>(p.duration.count()) / 1000.0);
  }
  return text;
}

// Every page's generation: the device state the destination checks its pages against.
std::vector<uint64_t> Source::StateTable() const {
  std::vector<uint64_t> table(pages_);
  for (uint64_t i = 0; i < pages_; ++i) table[i] = PageGeneration(mem_.page(i));
  return table;
}

void Source::Finish() {
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

}  // namespace migtest::engine
