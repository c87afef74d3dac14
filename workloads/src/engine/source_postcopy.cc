// The engine's source, postcopy: the source stops, the destination runs at once and asks for
// what it lacks over an urgent connection while the source pushes the rest. The destination
// drops what our dirty bitmap says is stale; at the end every page is verified against the
// memory we stopped with.
#include <algorithm>
#include <thread>

#include "engine/source.hpp"
#include "migtest/results/json.hpp"

namespace migtest::engine {

using nlohmann::json;

void Source::MarkSent(uint64_t first, uint64_t n) {
  std::lock_guard lock(sent_mutex_);
  for (uint64_t p = first; p < first + n; ++p) sent_[p] = true;
}

void Source::RunPostcopy(int64_t t_start) {
  std::vector<int64_t> checkpoints = SwitchToPostcopy();
  Channel urgent = OpenUrgentChannel();
  std::atomic<bool> failed{false};
  std::string urgent_error;
  std::thread server([&] {
    try {
      ServePageRequests(urgent);
    } catch (const std::exception& e) {
      urgent_error = e.what();
      failed = true;
    }
  });
  phase_ = "postcopy, the guest running on the destination";
  uint64_t pushed = 0;
  try {
    pushed = PushUnsent(failed);
    const int64_t t_pushed = MonoNs();  // every page is on its way: the migration's end
    FinishPostcopy(t_start, t_pushed, std::move(checkpoints));
    result_.pages["postcopy_pushed"] = pushed;
    result_.pages["postcopy_requests"] = requests_served_;
  } catch (...) {
    urgent.Shutdown();
    server.join();
    throw;
  }
  server.join();
  if (failed) throw RuntimeError("postcopy urgent channel: " + urgent_error);
  const MigrationResult& m = result_;
  fmt::print(stderr,
             "migrate: postcopy completed: downtime {:.1f} ms ({}), {} pages pushed, {} "
             "requested, memory {}\n",
             static_cast<double>(m.downtime->count()) / 1000.0, FormatPhases(m.downtime_breakdown),
             pushed, requests_served_.load(), *m.verified ? "verified" : "NOT verified");
}

// The guest stops here, the last dirty bitmap is collected and goes over as the destination's
// discard list. Returns the downtime's first checkpoints: the pause and the end of the sync.
std::vector<int64_t> Source::SwitchToPostcopy() {
  result_.converged = false;
  writer_->Pause();
  const int64_t t_pause = MonoNs();
  phase_ = "the switch to postcopy";
  echo_.Close();
  std::vector<uint64_t> bits = CollectDirty();
  if (result_.iterations.empty()) bits.assign(bits.size(), ~uint64_t{0});  // nothing sent yet
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
  return {t_pause, t_synced};
}

// The destination listens for its urgent channel on a port its reply names; we connect to it.
Channel Source::OpenUrgentChannel() {
  Header h = ch_.Receive("the ready message");
  if (h.type != static_cast<uint32_t>(Msg::kReady)) {
    throw RuntimeError(fmt::format("the destination answered message {} to postcopy", h.type));
  }
  const uint16_t urgent_port = static_cast<uint16_t>(h.a);
  ch_.SkipPayload(h.length);
  Endpoint to = Resolve(o_.host, urgent_port, SOCK_STREAM);
  return Channel(ConnectTcp(to, std::chrono::seconds(10)), "the destination's urgent channel");
}

// The urgent channel's server (a thread of its own): each page request answered at once, until
// the destination's end marker.
void Source::ServePageRequests(Channel& urgent) {
  while (true) {
    Header r = urgent.Receive("a page request");
    if (r.type == static_cast<uint32_t>(Msg::kEnd)) {
      urgent.Shutdown();  // the destination reads our last replies until this EOF
      return;
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
}

// The background push of every page not sent yet (nor requested), then the end marker. Stops
// early when the urgent channel's server failed. Returns the pages pushed.
uint64_t Source::PushUnsent(const std::atomic<bool>& failed) {
  uint64_t pushed = 0;
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
  return pushed;
}

// The destination's resume (its message waited in the socket behind our pushes), the downtime
// and its phases, and the verification against the memory we stopped with.
void Source::FinishPostcopy(int64_t t_start, int64_t t_pushed, std::vector<int64_t> checkpoints) {
  MigrationResult& m = result_;
  const int64_t t_pause = checkpoints.front();
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
}

}  // namespace migtest::engine
