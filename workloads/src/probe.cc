// migmon server_rr / client_rr (and mig_mon's one-way server / client): the guest network
// prober. The client never waits for a reply before the next send: every probe carries a
// sequence number, every reply's RTT is recorded, and the longest blackout is measured from the
// first probe not answered in order to the first reply received after it.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common.hpp"
#include "latency_histogram.hpp"
#include "subcommands.hpp"

namespace migtest {
namespace {

constexpr uint32_t kProbeMagic = 0x4d475052;  // "MGPR"
constexpr uint64_t kInitMarker = UINT64_MAX;  // mig_mon writes (uint64_t)-1 as its first line

struct Probe {
  uint32_t magic;
  uint32_t flags;
  uint64_t seq;
  int64_t send_ns;
};
static_assert(sizeof(Probe) == 24);

// mig_mon's spike CSV: "unix_seconds,delay_ms", the first line the init marker.
class SpikeLog {
 public:
  explicit SpikeLog(const std::string& path) {
    if (path.empty()) return;
    file_ = std::fopen(path.c_str(), "w");
    if (!file_)
      throw RuntimeError(fmt::format("cannot open spike log '{}': {}", path, ErrnoText(errno)));
  }
  ~SpikeLog() {
    if (file_) std::fclose(file_);
  }
  SpikeLog(const SpikeLog&) = delete;
  SpikeLog& operator=(const SpikeLog&) = delete;
  void Write(int64_t unix_s, uint64_t delay_ms) {
    if (!file_) return;
    fmt::print(file_, "{},{}\n", unix_s, delay_ms);
    std::fflush(file_);  // fixtures read it while we run
  }

 private:
  std::FILE* file_ = nullptr;
};

// mig_mon's live line: on a terminal rewritten in place, otherwise once a second.
class StatusLine {
 public:
  explicit StatusLine(std::FILE* out) : out_(out), tty_(isatty(fileno(out)) == 1) {}
  void Update(uint64_t max_delay_ms, uint64_t cur_ms) {
    const int64_t now = MonoMs();
    if (now - last_ < (tty_ ? 100 : 1000)) return;
    last_ = now;
    if (tty_) {
      fmt::print(out_, "\r{:60}\r[{}] max_delay: {} (ms), cur: {} (ms)", "", now, max_delay_ms,
                 cur_ms);
    } else {
      fmt::print(out_, "[{}] max_delay: {} (ms), cur: {} (ms)\n", now, max_delay_ms, cur_ms);
    }
    std::fflush(out_);
    dirty_ = tty_;
  }
  void End() {
    if (dirty_) fmt::print(out_, "\n");
    dirty_ = false;
  }

 private:
  std::FILE* out_;
  bool tty_;
  int64_t last_ = 0;
  bool dirty_ = false;
};

// Gaps between consecutive events (replies, or one-way packets) as mig_mon counts them.
struct GapTracker {
  double spike_ms = 0;  // a gap at least this long is a spike
  int64_t last_ns = 0;
  uint64_t max_ms = 0, cur_ms = 0;
  bool marker_written = false;
  std::vector<Spike> spikes;
  void Event(int64_t now_ns, SpikeLog& log) {
    if (!marker_written) {
      log.Write(UnixSeconds(), kInitMarker);
      marker_written = true;
    }
    if (last_ns) {
      cur_ms = static_cast<uint64_t>((now_ns - last_ns) / 1'000'000);
      max_ms = std::max(max_ms, cur_ms);
      if (static_cast<double>(cur_ms) >= spike_ms) {
        const int64_t t = UnixSeconds();
        log.Write(t, cur_ms);
        spikes.push_back({t, std::chrono::milliseconds(cur_ms)});
      }
    }
    last_ns = now_ns;
  }
};

uint16_t CheckedPort(int port) {
  if (port < 0 || port > 65535)
    throw UsageError(fmt::format("port {} is out of range 0..65535", port));
  return static_cast<uint16_t>(port);
}

// ---- servers ----
int Server(int argc, char** argv, bool echo) {
  const char* name = echo ? "server_rr" : "server";
  CLI::App app(echo ? "UDP echo server: answers every probe of client_rr."
                    : "One-way UDP receiver: logs gaps between the packets of `client HOST "
                      "[INTERVAL_MS]` as spikes.",
               name);
  int port = kDefaultPort;
  std::string log_path;
  bool json = false;
  double duration_s = 0;
  app.add_option("-p,--port", port, "UDP port (0: the kernel chooses; the port is printed)")
      ->capture_default_str();
  if (!echo) app.add_option("LOG", log_path, "spike log (mig_mon's CSV: unix_seconds,delay_ms)");
  app.add_option("--duration", duration_s, "stop after this many seconds (default: until signal)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--json", json, "print result.json on stdout at exit (human lines to stderr)");
  if (auto rc = ParseCommandLine(app, argc, argv)) return *rc;
  const uint16_t want = CheckedPort(port);

  Output out{json};
  InstallSignalHandlers();
  SpikeLog log(log_path);
  Fd fd = BindAny(SOCK_DGRAM, want);
  const uint16_t bound = LocalPort(fd.get());
  out.Line("listening on UDP port {}...", bound);
  out.Line("listening port={}", bound);

  const int64_t end =
      duration_s > 0 ? MonoNs() + static_cast<int64_t>(duration_s * 1e9) : INT64_MAX;
  uint64_t packets = 0;
  GapTracker gaps;
  gaps.spike_ms = 1e18;
  double first_gap_ms = -1;
  StatusLine status(out.human());
  alignas(8) char buf[2048];
  while (!StopRequested() && MonoNs() < end) {
    pollfd p{fd.get(), POLLIN, 0};
    const int rc = ::poll(&p, 1, 100);
    if (rc < 0 && errno != EINTR) throw RuntimeError(fmt::format("poll: {}", ErrnoText(errno)));
    if (rc <= 0) continue;
    for (;;) {
      sockaddr_storage from{};
      socklen_t len = sizeof from;
      const ssize_t n = ::recvfrom(fd.get(), buf, sizeof buf, MSG_DONTWAIT,
                                   reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
        if (errno == ECONNREFUSED) continue;  // an ICMP error about an earlier reply
        throw RuntimeError(fmt::format("recvfrom on UDP port {}: {}", bound, ErrnoText(errno)));
      }
      ++packets;
      if (echo) {
        if (::sendto(fd.get(), buf, static_cast<size_t>(n), MSG_DONTWAIT,
                     reinterpret_cast<sockaddr*>(&from), len) < 0 &&
            errno != EAGAIN && errno != ECONNREFUSED) {
          throw RuntimeError(
              fmt::format("sendto (echo) on UDP port {}: {}", bound, ErrnoText(errno)));
        }
      } else {
        const int64_t now = MonoNs();
        if (packets == 2) {
          // mig_mon's baseline: the first gap (about the client's interval); spikes are 2x it.
          first_gap_ms = static_cast<double>(now - gaps.last_ns) / 1e6;
          gaps.spike_ms = std::max(1.0, 2 * first_gap_ms);
          out.Line("1st and 2nd packet latency: {:.0f} (ms); spike threshold: {:.0f} (ms)",
                   first_gap_ms, gaps.spike_ms);
        }
        gaps.Event(now, log);
        if (packets > 2) status.Update(gaps.max_ms, gaps.cur_ms);
      }
    }
  }
  status.End();
  out.Line("{} packets {}", packets, echo ? "echoed" : "received");
  if (!echo) out.Line("max_delay: {} (ms), spikes: {}", gaps.max_ms, gaps.spikes.size());
  if (json) {
    RunResult run;
    run.format = Format::kMigmon;
    run.source = fmt::format("migmon {}", name);
    if (echo) {
      run.extra = {{"echoed", packets}, {"port", bound}};
    } else {
      ProbeResult probe;
      probe.received = packets;
      if (packets >= 3) probe.max_latency = std::chrono::milliseconds(gaps.max_ms);
      probe.spikes = gaps.spikes;
      run.probe = std::move(probe);
      run.extra = {{"port", bound}};
    }
    EmitJson(run);
  }
  return kExitOk;
}

// ---- clients ----
enum class ClientMode { kRoundTrip, kOneWay, kAuto };

struct ClientOptions {
  const char* name = "client";
  std::string host, log_path;
  double interval_ms = 1000;
  uint16_t port = kDefaultPort;
  double duration_s = 0;
  bool json = false;
  bool rr = false;  // round trips (client_rr), else one way
};

// The client's command line; an exit code when it is done (help, a usage error).
std::optional<int> ParseClient(int argc, char** argv, ClientMode mode, ClientOptions& o) {
  o.name = mode == ClientMode::kRoundTrip ? "client_rr" : "client";
  CLI::App app(mode == ClientMode::kRoundTrip
                   ? "UDP prober against server_rr: sends a numbered probe every interval without "
                     "waiting for replies; reports RTTs, the longest blackout and losses."
                   : "With LOG (HOST INTERVAL_MS LOG, the seed's form): the prober, as client_rr. "
                     "Without: mig_mon's one-way sender (to `server`).",
               o.name);
  int port = kDefaultPort;
  bool force_rr = false, force_one_way = false;
  app.add_option("HOST", o.host, "the server's address or name")->required();
  app.add_option("INTERVAL_MS", o.interval_ms, "probe interval in ms (fractions allowed)")
      ->check(CLI::Range(0.01, 3'600'000.0))
      ->capture_default_str();
  if (mode != ClientMode::kOneWay) {
    app.add_option("LOG", o.log_path, "spike log (mig_mon's CSV: unix_seconds,delay_ms)");
  }
  app.add_option("-p,--port", port, "UDP port of the server")->capture_default_str();
  app.add_option("--duration", o.duration_s, "stop after this many seconds (default: until signal)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--json", o.json, "print result.json on stdout at exit (human lines to stderr)");
  if (mode == ClientMode::kAuto) {
    app.add_flag("--rr", force_rr, "probe round trips (as client_rr) even without LOG");
    app.add_flag("--one-way", force_one_way, "one-way sender even with LOG")->excludes("--rr");
  }
  if (auto rc = ParseCommandLine(app, argc, argv)) return rc;
  o.port = CheckedPort(port);
  if (o.port == 0) throw UsageError("port 0: give the server's port");
  o.rr = mode == ClientMode::kRoundTrip;
  if (mode == ClientMode::kAuto) o.rr = force_rr || (!o.log_path.empty() && !force_one_way);
  return std::nullopt;
}

// One prober run: numbered probes every interval on a connected UDP socket, without waiting
// for replies; in round-trip mode each reply's RTT and the blackouts between in-order replies.
class Prober {
 public:
  Prober(const ClientOptions& o, const Output& out, SpikeLog& log, std::string to, Fd fd)
      : o_(o),
        out_(out),
        log_(log),
        to_(std::move(to)),
        fd_(std::move(fd)),
        status_(out.human()),
        interval_ns_(static_cast<int64_t>(o.interval_ms * 1e6)),
        t0_(MonoNs()),
        end_(o.duration_s > 0 ? t0_ + static_cast<int64_t>(o.duration_s * 1e9) : INT64_MAX),
        // Replies still in flight at the end get this long to arrive.
        grace_ns_(o.rr ? std::clamp<int64_t>(3 * interval_ns_, 200'000'000, 2'000'000'000) : 0),
        next_send_(t0_),
        stop_sending_at_(end_) {
    gaps_.spike_ms = 2 * o.interval_ms;
  }

  // Sends until the duration ends or a signal comes, then waits for late replies (round trip).
  void Run() {
    for (;;) {
      const int64_t now = MonoNs();
      if (Finished(now)) break;
      if (sending_ && now >= next_send_) {
        Send(now);
        continue;
      }
      if (o_.rr) {
        ReceiveReplies(now);
      } else if (sending_) {
        Sleep(std::min<int64_t>(next_send_ - now, 50'000'000));
      }
    }
    status_.End();
    end_ns_ = MonoNs();
  }

  void Report() const {
    if (o_.rr) {
      ReportRoundTrip();
    } else {
      ReportOneWay();
    }
  }

 private:
  static void Sleep(int64_t ns) {
    timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    nanosleep(&ts, nullptr);
  }

  // Stops sending at the end or on a signal; true once every reply came or the grace is over.
  bool Finished(int64_t now) {
    if (sending_ && (StopRequested() || now >= end_)) {
      sending_ = false;
      stop_sending_at_ = now;
    }
    if (sending_) return false;
    const bool all_in = !o_.rr || received_ >= sent_at_.size();
    if (all_in || now >= stop_sending_at_ + grace_ns_) return true;
    if (!StopRequested()) return false;
    // On a signal (the harness is done with the guest): at most 200 ms, and only for the probes
    // still in flight, sent within that long before the stop. An older one unanswered is lost,
    // not late: waiting for it cost every stop 200 ms.
    const int64_t cap = std::min<int64_t>(grace_ns_, 200'000'000);
    return now >= stop_sending_at_ + cap || !UnansweredSince(stop_sending_at_ - cap);
  }

  // Whether a probe sent at `since` or later has no reply yet.
  bool UnansweredSince(int64_t since) const {
    for (size_t i = sent_at_.size(); i-- > 0 && sent_at_[i] >= since;) {
      if (!answered_[i]) return true;
    }
    return false;
  }

  void Send(int64_t now) {
    Probe pr{kProbeMagic, o_.rr ? 1u : 0u, sent_at_.size(), now};
    const ssize_t n = ::send(fd_.get(), &pr, sizeof pr, MSG_DONTWAIT);
    if (n < 0 && errno != EAGAIN && errno != ECONNREFUSED && errno != EINTR) {
      throw RuntimeError(fmt::format("send to {}: {}", to_, ErrnoText(errno)));
    }
    if (n < 0 && errno == ECONNREFUSED) ++refused_;
    sent_at_.push_back(now);
    answered_.push_back(0);
    next_send_ += interval_ns_;
    // Descheduled for more than an interval: do not burst the missed probes.
    if (next_send_ < now) next_send_ = now + interval_ns_;
  }

  // Waits until the next send (or a slice of the grace) for replies, and takes every one there.
  void ReceiveReplies(int64_t now) {
    const int64_t wake =
        sending_ ? next_send_ : std::min(stop_sending_at_ + grace_ns_, now + 50'000'000);
    const int64_t wait = std::clamp<int64_t>(wake - now, 0, 50'000'000);
    timespec ts{static_cast<time_t>(wait / 1'000'000'000), static_cast<long>(wait % 1'000'000'000)};
    pollfd pfd{fd_.get(), POLLIN, 0};
    const int rc = ::ppoll(&pfd, 1, &ts, nullptr);
    if (rc < 0 && errno != EINTR) throw RuntimeError(fmt::format("poll: {}", ErrnoText(errno)));
    if (rc <= 0) return;
    for (;;) {
      Probe r{};
      const ssize_t n = ::recv(fd_.get(), &r, sizeof r, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
        if (errno == ECONNREFUSED) {  // ICMP port unreachable: the server is not (yet) there
          ++refused_;
          continue;
        }
        throw RuntimeError(fmt::format("recv from {}: {}", to_, ErrnoText(errno)));
      }
      if (n == static_cast<ssize_t>(sizeof r)) OnReply(r, MonoNs());
    }
  }

  void OnReply(const Probe& r, int64_t now) {
    if (r.magic != kProbeMagic || r.seq >= sent_at_.size()) return;  // not ours
    if (answered_[r.seq]) {
      ++duplicates_;
      return;
    }
    answered_[r.seq] = 1;
    ++received_;
    const int64_t rtt = now - sent_at_[r.seq];
    rtts_ns_.push_back(rtt);
    rtt_hist_.Record(static_cast<uint64_t>(rtt));
    if (r.seq >= next_in_order_) {
      // The oldest probe not answered in order was next_in_order_: from its send to now nothing
      // came back (probes in between were lost or are still late).
      const int64_t blackout = now - sent_at_[next_in_order_];
      if (blackout > longest_blackout_ns_) {
        longest_blackout_ns_ = blackout;
        blackout_seq_ = next_in_order_;
      }
      next_in_order_ = r.seq + 1;
    }
    gaps_.Event(now, log_);
    status_.Update(gaps_.max_ms, gaps_.cur_ms);
  }

  void ReportOneWay() const {
    const uint64_t sent = sent_at_.size();
    out_.Line("sent {} packets in {} ms", sent, (end_ns_ - t0_) / 1'000'000);
    if (!o_.json) return;
    RunResult run;
    run.format = Format::kMigmon;
    run.source = fmt::format("migmon {} {}", o_.name, to_);
    ProbeResult probe;
    probe.interval = Duration(static_cast<int64_t>(o_.interval_ms * 1000));
    probe.sent = sent;
    run.probe = std::move(probe);
    EmitJson(run);
  }

  // The longest blackout, counting one still open at the end (nothing came back after it
  // began) up to the end of the grace.
  std::pair<int64_t, uint64_t> LongestBlackout() const {
    int64_t longest = longest_blackout_ns_;
    uint64_t seq = blackout_seq_;
    const uint64_t sent = sent_at_.size();
    if (next_in_order_ < sent && received_ < sent) {
      bool later_answered = false;
      for (uint64_t s = next_in_order_; s < sent && !later_answered; ++s) {
        later_answered = answered_[s];
      }
      if (!later_answered) {
        const int64_t open = stop_sending_at_ + grace_ns_ - sent_at_[next_in_order_];
        const int64_t measured = std::min<int64_t>(open, end_ns_ - sent_at_[next_in_order_]);
        if (measured > longest && sent - next_in_order_ > 1) {
          longest = measured;
          seq = next_in_order_;
        }
      }
    }
    return {longest, seq};
  }

  void ReportRoundTrip() const {
    const auto [longest_blackout_ns, blackout_seq] = LongestBlackout();
    const uint64_t sent = sent_at_.size();
    const uint64_t lost = sent - received_;
    std::vector<int64_t> sorted = rtts_ns_;
    std::sort(sorted.begin(), sorted.end());
    auto pct = [&](double q) -> int64_t {
      if (sorted.empty()) return 0;
      size_t rank = static_cast<size_t>(std::ceil(q / 100.0 * static_cast<double>(sorted.size())));
      rank = std::clamp<size_t>(rank, 1, sorted.size());
      return sorted[rank - 1];
    };
    out_.Line("sent {}, received {}, lost {} ({:.2f}%){}", sent, received_, lost,
              sent ? 100.0 * static_cast<double>(lost) / static_cast<double>(sent) : 0.0,
              refused_ ? fmt::format(", {} port-unreachable errors", refused_) : "");
    if (longest_blackout_ns >= 0) {
      out_.Line("longest blackout: {:.3f} (ms), from probe {} sent at +{:.3f} (ms)",
                static_cast<double>(longest_blackout_ns) / 1e6, blackout_seq,
                static_cast<double>(sent_at_[blackout_seq] - t0_) / 1e6);
    }
    out_.Line("max_delay: {} (ms), spikes: {}", gaps_.max_ms, gaps_.spikes.size());
    if (!sorted.empty()) {
      out_.Line("rtt (us): min={:.1f} p50={:.1f} p90={:.1f} p99={:.1f} p99.9={:.1f} max={:.1f}",
                static_cast<double>(sorted.front()) / 1e3, static_cast<double>(pct(50)) / 1e3,
                static_cast<double>(pct(90)) / 1e3, static_cast<double>(pct(99)) / 1e3,
                static_cast<double>(pct(99.9)) / 1e3, static_cast<double>(sorted.back()) / 1e3);
    }
    if (!o_.json) return;
    RunResult run;
    run.format = Format::kMigmon;
    run.source = fmt::format("migmon {} {}", o_.name, to_);
    ProbeResult probe;
    probe.interval = Duration(static_cast<int64_t>(o_.interval_ms * 1000));
    probe.sent = sent;
    probe.received = received_;
    probe.lost = lost;
    if (longest_blackout_ns >= 0) probe.longest_blackout = Duration(longest_blackout_ns / 1000);
    if (received_ >= 2) probe.max_latency = std::chrono::milliseconds(gaps_.max_ms);
    auto us = [](int64_t ns) { return Duration((ns + 500) / 1000); };
    if (!sorted.empty()) {
      probe.rtt.reported_count = sorted.size();
      probe.rtt.reported_min = us(sorted.front());
      probe.rtt.reported_max = us(sorted.back());
      probe.rtt.reported_p50 = us(pct(50));
      probe.rtt.reported_p99 = us(pct(99));
      double sum = 0;
      for (auto v : sorted) sum += static_cast<double>(v);
      probe.rtt.reported_avg = us(static_cast<int64_t>(sum / static_cast<double>(sorted.size())));
      const auto b = rtt_hist_.MigmonBuckets();
      for (int k = 0; k < LatencyHistogram::kMigmonBuckets; ++k) {
        probe.rtt.histogram.push_back(MigmonBucket(k, b[static_cast<size_t>(k)]));
      }
    }
    probe.spikes = gaps_.spikes;
    run.probe = std::move(probe);
    run.extra = {{"duplicates", duplicates_},
                 {"port_unreachable", refused_},
                 {"rtt_p90_us", pct(90) / 1000},
                 {"rtt_p999_us", pct(99.9) / 1000}};
    if (longest_blackout_ns >= 0) run.extra["longest_blackout_us"] = longest_blackout_ns / 1000;
    EmitJson(run);
  }

  const ClientOptions& o_;
  const Output& out_;
  SpikeLog& log_;
  const std::string to_;
  Fd fd_;
  StatusLine status_;
  const int64_t interval_ns_, t0_, end_, grace_ns_;
  int64_t next_send_;
  bool sending_ = true;
  int64_t stop_sending_at_;
  int64_t end_ns_ = 0;

  std::vector<int64_t> sent_at_;   // by sequence number
  std::vector<uint8_t> answered_;  // by sequence number
  std::vector<int64_t> rtts_ns_;   // every RTT, in arrival order
  LatencyHistogram rtt_hist_;
  uint64_t received_ = 0, duplicates_ = 0, refused_ = 0;
  uint64_t next_in_order_ = 0;  // lowest sequence number not yet answered in order
  int64_t longest_blackout_ns_ = -1;
  uint64_t blackout_seq_ = 0;
  GapTracker gaps_;
};

int Client(int argc, char** argv, ClientMode mode) {
  ClientOptions o;
  if (auto rc = ParseClient(argc, argv, mode, o)) return *rc;
  Output out{o.json};
  InstallSignalHandlers();
  SpikeLog log(o.rr ? o.log_path : std::string());
  const Endpoint to = Resolve(o.host, o.port, SOCK_DGRAM);
  Fd fd(::socket(to.addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) throw RuntimeError(fmt::format("socket(): {}", ErrnoText(errno)));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&to.addr), to.len) != 0) {
    throw RuntimeError(fmt::format("cannot reach {}: {}", to.text, ErrnoText(errno)));
  }
  out.Line("{} {} every {:g} ms{}", o.rr ? "probing" : "sending to", to.text, o.interval_ms,
           o.rr ? " (round trip)" : " (one way)");
  Prober prober(o, out, log, to.text, std::move(fd));
  prober.Run();
  prober.Report();
  return kExitOk;
}

}  // namespace

int RunServerRr(int argc, char** argv) {
  return Guarded("server_rr", [&] { return Server(argc, argv, true); });
}
int RunServerOneWay(int argc, char** argv) {
  return Guarded("server", [&] { return Server(argc, argv, false); });
}
int RunClientRr(int argc, char** argv) {
  return Guarded("client_rr", [&] { return Client(argc, argv, ClientMode::kRoundTrip); });
}
int RunClientOneWay(int argc, char** argv) {
  return Guarded("client", [&] { return Client(argc, argv, ClientMode::kAuto); });
}

}  // namespace migtest
