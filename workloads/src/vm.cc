// migmon vm: migration stream emulation over TCP (mig_mon's sub-command).
//
// Wire format (host byte order, as mig_mon): every message starts with a 16-byte header
// {uint64 magic, uint64 value}.
//   src->dst kHello         value = flags | pages << 8      first message of the main connection
//   src->dst kUrgentHello   value = flags                   first message of the urgent connection
//   src->dst kPage          value = page index, then 4 KiB  precopy stream
//   dst->src kRequest       value = page index              postcopy page request
//   src->dst kResponse      value = page index, then 4 KiB  the requested page
//   src->dst kEnd           value = bytes sent              the source is done; both close
// Postcopy requests travel on the main connection (behind the precopy data, as in mig_mon) or,
// with --urgent-channel, on a second connection that carries nothing else (QEMU's
// postcopy-preempt), so that a request does not wait behind megabytes of queued precopy pages.
// Timeouts, stop requests and partial reads and writes are FramedStream's (framed_stream.hpp),
// shared with the engine's protocol.
#include <poll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "common.hpp"
#include "framed_stream.hpp"
#include "latency_histogram.hpp"
#include "page_writer.hpp"
#include "subcommands.hpp"

namespace migtest {
namespace {

constexpr uint64_t kPage = 0x123, kRequest = 0x124, kHello = 0x125, kUrgentHello = 0x126,
                   kResponse = 0x127, kEnd = 0x128;
constexpr uint64_t kFlagPrecopy = 1, kFlagPostcopy = 2, kFlagUrgent = 4;

struct WireHeader {
  uint64_t magic, value;
};
static_assert(sizeof(WireHeader) == 16);

// A 4 KiB page of non-zero content, so that nothing on the way can compress zero pages away.
const uint8_t* PagePayload() {
  alignas(4096) static uint8_t page[kPageSize];
  static std::once_flag once;
  std::call_once(once, [] { WritePage(page, 0, 1, true); });
  return page;
}

// Runs `f` in a thread, keeping its exception.
class Worker {
 public:
  template <typename F>
  explicit Worker(F f)
      : thread_([this, f = std::move(f)]() mutable {
          try {
            f();
          } catch (const StreamStopped&) {
          } catch (...) {
            error_ = std::current_exception();
          }
        }) {}
  ~Worker() { Join(); }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  std::exception_ptr error() const { return error_; }

 private:
  std::exception_ptr error_;
  std::thread thread_;
};

struct VmOptions {
  bool src = false, dst = false;
  std::string host;
  int port = kDefaultPort;
  double size_gb = 0;
  std::vector<std::string> tests;
  bool urgent = false, json = false, once = false;
  double duration_s = 0;
  int timeout_s = 10;
};

// ---------------------------------------------------------------- source
// One source session: pages streamed on the main connection (precopy) and page requests
// answered (postcopy: by reader threads, on the urgent channel when there is one, else queued to
// the main connection between batches).
class SourceSession {
 public:
  SourceSession(const VmOptions& o, const Output& out)
      : o_(o),
        out_(out),
        precopy_(std::find(o.tests.begin(), o.tests.end(), "precopy") != o.tests.end()),
        postcopy_(std::find(o.tests.begin(), o.tests.end(), "postcopy") != o.tests.end()),
        size_bytes_(o.size_gb > 0 ? static_cast<uint64_t>(o.size_gb * (1ull << 30)) : (1ull << 30)),
        pages_(std::max<uint64_t>(1, size_bytes_ / kPageSize)),
        bounded_(o.size_gb > 0 && precopy_),
        idle_(std::chrono::milliseconds(o.timeout_s * 1000)) {
    if (!precopy_ && !postcopy_) throw UsageError("vm -s needs -t precopy and/or -t postcopy");
    if (o.urgent && !postcopy_) throw UsageError("--urgent-channel needs -t postcopy");
  }

  int Run() {
    Connect();
    StartReaders();
    if (precopy_) out_.Line("Starting PRECOPY streaming test...");
    if (postcopy_) {
      out_.Line("Starting POSTCOPY request-response test (answering page requests{})...",
                o_.urgent ? " on the urgent channel" : "");
    }
    const int64_t t0 = MonoNs();
    std::exception_ptr failure;
    try {
      Stream(t0);
      End();
    } catch (const StreamStopped&) {
    } catch (...) {
      failure = std::current_exception();
    }
    const int64_t total_ns = MonoNs() - t0;
    if (failure) done_.store(true);
    if (main_reader_) main_reader_->Join();
    if (urgent_reader_) urgent_reader_->Join();
    if (!failure && main_reader_ && main_reader_->error()) failure = main_reader_->error();
    if (!failure && urgent_reader_ && urgent_reader_->error()) failure = urgent_reader_->error();
    Report(total_ns, failure);
    if (failure) std::rethrow_exception(failure);
    return kExitOk;
  }

 private:
  void Connect() {
    to_ = Resolve(o_.host, static_cast<uint16_t>(o_.port), SOCK_STREAM);
    // Page responses share the main connection only without the urgent channel.
    main_.emplace(
        ConnectTcp(*to_, idle_), "destination " + to_->text,
        FramedStream::Options{
            .timeout = idle_, .nodelay = postcopy_ && !o_.urgent, .session_over = &done_});
    out_.Line("Connected to dst VM {}.", to_->text);
    const uint64_t flags = (precopy_ ? kFlagPrecopy : 0) | (postcopy_ ? kFlagPostcopy : 0) |
                           (o_.urgent ? kFlagUrgent : 0);
    WireHeader hello{kHello, flags | (pages_ << 8)};
    main_->SendFrame(hello, nullptr, 0, "the hello");
    if (o_.urgent) {
      urgent_.emplace(ConnectTcp(*to_, idle_), "destination " + to_->text + " (urgent channel)",
                      FramedStream::Options{.timeout = idle_, .session_over = &done_});
      WireHeader uh{kUrgentHello, flags};
      urgent_->SendFrame(uh, nullptr, 0, "the urgent channel's hello");
      out_.Line("Urgent channel connected.");
    }
  }

  void StartReaders() {
    if (postcopy_ && !o_.urgent) main_reader_.emplace([this] { ServeRequests(*main_, true); });
    if (o_.urgent) {
      urgent_reader_.emplace([this] { ServeRequests(*urgent_, false); });
      // Nothing but the final close comes back on the main connection; drain it to see that.
      main_reader_.emplace([this] { main_->DrainUntilClosed("the end of the connection"); });
    }
  }

  void Respond(FramedStream& c, uint64_t index) {
    const WireHeader h{kResponse, index};
    c.SendFrame(h, payload_, kPageSize, "a page response");
    responses_.fetch_add(1, std::memory_order_relaxed);
    bytes_.fetch_add(sizeof h + kPageSize, std::memory_order_relaxed);
  }

  // Reads page requests from one connection and answers them (a reader thread).
  void ServeRequests(FramedStream& c, bool on_main) {
    for (;;) {
      WireHeader h;
      // The destination closed: the session is over.
      if (!c.ReceiveHeader(&h, "a page request", /*end_ok=*/true)) return;
      if (h.magic != kRequest) {
        throw RuntimeError(
            fmt::format("{} sent magic {:#x}, expected a page request", c.peer(), h.magic));
      }
      if (h.value >= pages_) {
        throw RuntimeError(fmt::format("{} requested page {} of {}", c.peer(), h.value, pages_));
      }
      if (on_main && precopy_) {
        std::lock_guard lock(queue_mutex_);
        queued_.push_back(h.value);
        have_queued_.store(true, std::memory_order_release);
      } else {
        std::lock_guard lock(on_main ? main_write_ : urgent_write_);
        if (!finished_) Respond(c, h.value);  // after the end marker the request goes unanswered
      }
    }
  }

  // Requests the main connection's reader queued while a batch was being written.
  void AnswerQueued() {
    std::vector<uint64_t> todo;
    {
      std::lock_guard lock(queue_mutex_);
      todo.swap(queued_);
      have_queued_.store(false, std::memory_order_relaxed);
    }
    std::lock_guard lock(main_write_);
    for (uint64_t index : todo) Respond(*main_, index);
  }

  // One sendmsg of up to kBatch pages, cycling through the guest's pages.
  void SendBatch() {
    const int n =
        static_cast<int>(std::min<uint64_t>(kBatch, bounded_ ? pages_ - sent_pages_ : kBatch));
    for (int i = 0; i < n; ++i) {
      headers_[static_cast<size_t>(i)] = {kPage, next_index_};
      next_index_ = next_index_ + 1 == pages_ ? 0 : next_index_ + 1;
      iov_[static_cast<size_t>(2 * i)] = {&headers_[static_cast<size_t>(i)], sizeof(WireHeader)};
      iov_[static_cast<size_t>(2 * i + 1)] = {const_cast<uint8_t*>(payload_), kPageSize};
    }
    {
      std::lock_guard lock(main_write_);
      main_->SendFrames(iov_.data(), 2 * n, "pages");
    }
    sent_pages_ += static_cast<uint64_t>(n);
    bytes_.fetch_add(static_cast<uint64_t>(n) * (sizeof(WireHeader) + kPageSize),
                     std::memory_order_relaxed);
  }

  // Streams (and answers queued requests) until the duration, a signal, every page of a
  // bounded guest sent, or a reader's failure; prints the speed each second.
  void Stream(int64_t t0) {
    const int64_t end =
        o_.duration_s > 0 ? t0 + static_cast<int64_t>(o_.duration_s * 1e9) : INT64_MAX;
    int64_t tick = t0;
    uint64_t tick_bytes = 0;
    while (!StopRequested()) {
      const int64_t now = MonoNs();
      if (now >= end) break;
      if (now - tick >= 1'000'000'000) {
        const uint64_t b = bytes_.load(std::memory_order_relaxed);
        const double mib_s =
            static_cast<double>(b - tick_bytes) / kMiB / (static_cast<double>(now - tick) / 1e9);
        out_.Line("Speed: {:.0f} (MB/s)", mib_s);
        speeds_.push_back(std::round(mib_s * 10) / 10);
        tick_bytes = b;
        tick = now;
      }
      if (have_queued_.load(std::memory_order_acquire)) AnswerQueued();
      if (precopy_ && (!bounded_ || sent_pages_ < pages_)) {
        SendBatch();
        if (bounded_ && sent_pages_ >= pages_) break;
      } else {
        // Postcopy only: the reader threads answer; watch for their failure and the clock.
        if ((main_reader_ && main_reader_->error()) ||
            (urgent_reader_ && urgent_reader_->error())) {
          break;
        }
        SleepInterruptible(std::min<int64_t>(end - MonoNs(), 5'000'000));
      }
    }
  }

  // The end: tell the destination, then let it close.
  void End() {
    const WireHeader fin{kEnd, bytes_.load()};
    std::scoped_lock lock(main_write_, urgent_write_);
    main_->SendFrame(fin, nullptr, 0, "the end marker");
    bytes_.fetch_add(sizeof fin);
    finished_ = true;
    main_->ShutdownWrite();
    if (urgent_) urgent_->ShutdownWrite();
  }

  void Report(int64_t total_ns, const std::exception_ptr& failure) const {
    const uint64_t total = bytes_.load();
    out_.Line(
        "Total time: {} (ms), sent {:.1f} (MB) ({} pages, {} page requests answered), average "
        "{:.0f} (MB/s)",
        total_ns / 1'000'000, static_cast<double>(total) / kMiB, sent_pages_, responses_.load(),
        static_cast<double>(total) / kMiB / (static_cast<double>(total_ns) / 1e9));
    if (!o_.json) return;
    RunResult run;
    run.format = Format::kMigmon;
    run.source = fmt::format("migmon vm -s {}", to_->text);
    MigrationResult m;
    m.format = Format::kMigmon;
    m.status = failure ? Status::kFailed : Status::kCompleted;
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        m.error = e.what();
      }
    }
    m.total_time = Duration(total_ns / 1000);
    m.bandwidth_mib_s = speeds_;
    m.bytes["transferred"] = total;
    m.pages["precopy"] = sent_pages_;
    m.pages["postcopy_requests"] = responses_.load();
    m.config["tests"] = fmt::format("{}{}{}", precopy_ ? "precopy" : "",
                                    precopy_ && postcopy_ ? "," : "", postcopy_ ? "postcopy" : "");
    m.config["urgent_channel"] = o_.urgent ? "true" : "false";
    m.config["size_gb"] = fmt::format("{:g}", static_cast<double>(size_bytes_) / (1ull << 30));
    run.migration = std::move(m);
    EmitJson(run);
  }

  static constexpr int kBatch = 32;  // pages per sendmsg: ~128 KiB, as iperf3's default write

  const VmOptions& o_;
  const Output& out_;
  const bool precopy_, postcopy_;
  const uint64_t size_bytes_, pages_;
  const bool bounded_;
  const std::chrono::milliseconds idle_;
  std::optional<Endpoint> to_;
  std::atomic<bool> done_{false};
  std::optional<FramedStream> main_, urgent_;
  const uint8_t* const payload_ = PagePayload();
  // The main connection is written by the sender and (postcopy only) the responder.
  std::mutex main_write_, urgent_write_;
  bool finished_ = false;  // END sent: no more writes (under both locks)
  std::mutex queue_mutex_;
  std::vector<uint64_t> queued_;  // requests to answer on the main connection between batches
  std::atomic<bool> have_queued_{false};
  std::atomic<uint64_t> responses_{0};
  std::atomic<uint64_t> bytes_{0};
  uint64_t sent_pages_ = 0, next_index_ = 0;
  std::vector<double> speeds_;
  std::array<WireHeader, kBatch> headers_{};
  std::array<iovec, 2 * kBatch> iov_{};
  // Last: joined before anything they use goes.
  std::optional<Worker> main_reader_, urgent_reader_;
};

int RunSource(const VmOptions& o, const Output& out) { return SourceSession(o, out).Run(); }

// ---------------------------------------------------------------- destination
struct DstSession {
  MigrationResult result;
  bool ok = false;
};

// One destination session: the source's hello (and urgent channel), then pages read from the
// main stream while page requests go out (postcopy) and their latencies are recorded.
class Destination {
 public:
  Destination(Fd first, const VmOptions& o, const Output& out)
      : out_(out),
        idle_(std::chrono::milliseconds(o.timeout_s * 1000)),
        // The main connection's pages are read 128 KiB at a time (it stays in L2, as iperf3's
        // reads), not two recv calls a page.
        main_(std::move(first), "source",
              {.timeout = idle_, .read_ahead = 128 << 10, .session_over = &done_}) {}

  DstSession Serve(int listen_fd) {
    Handshake(listen_fd);
    const int64_t t0 = MonoNs();
    std::exception_ptr failure;
    {
      // Precopy data, or an urgent channel: a reader thread owns the main connection. Postcopy
      // on its own: the requester reads the main connection itself (no thread hand-off).
      main_thread_reads_ = postcopy_ && !precopy_ && !urgent_;
      std::optional<Worker> reader;
      if (!main_thread_reads_) reader.emplace([this] { ReadMain(); });
      reader_ = reader ? &*reader : nullptr;
      try {
        Request(t0);
        WaitForTheEnd();
      } catch (const StreamStopped&) {
      } catch (...) {
        failure = std::current_exception();
      }
      done_.store(true);
      main_.Shutdown();
      if (urgent_) urgent_->Shutdown();
      if (reader) {
        reader->Join();
        // After the end marker, or once we were told to stop, the reader's errors are our own
        // shutdown's echo.
        if (!failure && reader->error() && !ended_.load() && !StopRequested()) {
          failure = reader->error();
        }
      }
      reader_ = nullptr;
    }
    return Result(MonoNs() - t0, failure);
  }

 private:
  void Handshake(int listen_fd) {
    WireHeader hello;
    main_.ReceiveHeader(&hello, "its hello");
    if (hello.magic != kHello) {
      throw RuntimeError(fmt::format(
          "source's first message has magic {:#x}, expected {:#x} (not a migmon vm -s?)",
          hello.magic, kHello));
    }
    const uint64_t flags = hello.value & 0xff;
    pages_ = hello.value >> 8;
    precopy_ = flags & kFlagPrecopy;
    postcopy_ = flags & kFlagPostcopy;
    const bool urgent_flag = flags & kFlagUrgent;
    if (pages_ == 0) throw RuntimeError("source announced a VM of 0 pages");
    out_.Line("Connected from src VM ({}{}{}, {} pages{}).", precopy_ ? "precopy" : "",
              precopy_ && postcopy_ ? "+" : "", postcopy_ ? "postcopy" : "", pages_,
              urgent_flag ? ", urgent channel" : "");
    if (!urgent_flag) return;
    auto fd = AcceptWithTimeout(listen_fd, idle_);
    if (!fd) {
      throw RuntimeError(
          fmt::format("the source's urgent channel did not connect within {} ms", idle_.count()));
    }
    urgent_.emplace(std::move(*fd), "source (urgent channel)",
                    FramedStream::Options{.timeout = idle_, .session_over = &done_});
    WireHeader uh;
    urgent_->ReceiveHeader(&uh, "the urgent channel's hello");
    if (uh.magic != kUrgentHello) {
      throw RuntimeError(
          fmt::format("second connection's magic {:#x} is not an urgent-channel hello", uh.magic));
    }
  }

  bool ReaderFailed() const { return reader_ && reader_->error(); }

  // The reader thread: the main stream's frames (pages, responses in same-socket mode, the end
  // marker).
  void ReadMain() {
    WireHeader h{};
    for (;;) {
      if (!main_.ReceiveHeader(&h, "pages or the end marker", /*end_ok=*/true)) {
        if (!ended_.load()) {
          throw RuntimeError("source closed the connection before the end marker");
        }
        return;
      }
      if (h.magic == kPage || h.magic == kResponse) {
        if (h.value >= pages_) {
          throw RuntimeError(fmt::format("source sent page {} of a {}-page VM", h.value, pages_));
        }
        const bool is_response = h.magic == kResponse;
        if (!is_response) precopy_pages_.fetch_add(1, std::memory_order_relaxed);
        main_.SkipPayload(kPageSize, is_response ? "a page response" : "a page");
        received_bytes_.fetch_add(sizeof h + kPageSize, std::memory_order_relaxed);
        if (is_response) Answered(h.value);
      } else if (h.magic == kEnd) {
        received_bytes_.fetch_add(sizeof h, std::memory_order_relaxed);
        ended_.store(true);
        std::lock_guard lock(req_mutex_);
        req_cv_.notify_all();
      } else {
        throw RuntimeError(fmt::format("stream corrupted: magic {:#x} after {} bytes", h.magic,
                                       received_bytes_.load()));
      }
    }
  }

  void Answered(uint64_t page) {
    std::lock_guard lock(req_mutex_);
    if (page == want_) {
      answered_ = true;
      req_cv_.notify_one();
    }
  }

  // Each second: the postcopy latencies of that second and the receive speed.
  void EverySecond(int64_t now) {
    if (postcopy_ && sec_count_) {
      out_.Line("Latency: average {} (us), max: {} (us)", sec_total_ns_ / sec_count_ / 1000,
                sec_max_ns_ / 1000);
    }
    const uint64_t b = received_bytes_.load();
    rx_speeds_.push_back(std::round(static_cast<double>(b - tick_bytes_) / kMiB /
                                    (static_cast<double>(now - tick_) / 1e9) * 10) /
                         10);
    tick_bytes_ = b;
    sec_count_ = sec_total_ns_ = sec_max_ns_ = 0;
    tick_ = now;
  }

  // Postcopy: random page requests, one outstanding at a time, until the end or a signal.
  void Request(int64_t t0) {
    if (postcopy_) out_.Line("Starting POSTCOPY request-response test...");
    uint64_t rng = 0x9e3779b97f4a7c15 ^ static_cast<uint64_t>(t0);
    tick_ = t0;
    while (!StopRequested() && !ended_.load()) {
      if (ReaderFailed()) break;
      const int64_t now = MonoNs();
      if (now - tick_ >= 1'000'000'000) EverySecond(now);
      if (!postcopy_) {
        SleepInterruptible(5'000'000);
        continue;
      }
      rng ^= rng << 13;
      rng ^= rng >> 7;
      rng ^= rng << 17;
      const uint64_t index = rng % pages_;
      const int64_t sent = MonoNs();
      if (!RequestPage(index)) break;
      const uint64_t lat = static_cast<uint64_t>(MonoNs() - sent);
      latency_.Record(lat);
      ++requests_;
      ++sec_count_;
      sec_total_ns_ += lat;
      sec_max_ns_ = std::max(sec_max_ns_, lat);
    }
  }

  // Asks for one page and waits for it; false when the session ended instead.
  bool RequestPage(uint64_t index) {
    FramedStream& channel = urgent_ ? *urgent_ : main_;
    {
      std::lock_guard lock(req_mutex_);
      want_ = index;
      answered_ = false;
    }
    const WireHeader req{kRequest, index};
    channel.SendFrame(req, nullptr, 0, "a page request");
    if (urgent_ || main_thread_reads_) return ReadResponse(channel, index);
    std::unique_lock lock(req_mutex_);
    if (!req_cv_.wait_for(lock, idle_,
                          [&] { return answered_ || ended_.load() || ReaderFailed(); })) {
      throw RuntimeError(fmt::format("no response to page request {} (page {}) within {} ms",
                                     requests_, index, idle_.count()));
    }
    return answered_;
  }

  // The response comes on this connection, nothing else in between (but the end marker).
  bool ReadResponse(FramedStream& channel, uint64_t index) {
    WireHeader h;
    for (;;) {
      try {
        channel.ReceiveHeader(&h, "a page response");
      } catch (const PeerClosed&) {
        // The source ended: its end marker is on the main connection (urgent channel).
        const int64_t limit = MonoMs() + idle_.count();
        while (urgent_ && !ended_.load() && !ReaderFailed() && MonoMs() < limit) {
          SleepInterruptible(1'000'000);
        }
        if (!ended_.load()) throw;
        return false;
      }
      if (h.magic == kEnd && main_thread_reads_) {
        ended_.store(true);
        return false;
      }
      if (h.magic != kResponse || h.value >= pages_) {
        throw RuntimeError(
            fmt::format("{} answered with magic {:#x} page {}", channel.peer(), h.magic, h.value));
      }
      alignas(64) static thread_local char page[kPageSize];
      channel.ReceivePayload(page, kPageSize, "a page");
      received_bytes_.fetch_add(sizeof h + kPageSize, std::memory_order_relaxed);
      if (h.value == index) return !ended_.load();
    }
  }

  // The end marker (the source finishes its pass), then close.
  void WaitForTheEnd() {
    if (!reader_) return;
    const int64_t limit = MonoMs() + idle_.count();
    while (!ended_.load() && !ReaderFailed() && !StopRequested() && MonoMs() < limit) {
      SleepInterruptible(2'000'000);
    }
  }

  DstSession Result(int64_t total_ns, const std::exception_ptr& failure) {
    DstSession s;
    MigrationResult& m = s.result;
    m.format = Format::kMigmon;
    m.total_time = Duration(total_ns / 1000);
    m.bytes["received"] = received_bytes_.load();
    m.pages["precopy"] = precopy_pages_.load();
    m.pages["postcopy_requests"] = requests_;
    m.config["urgent_channel"] = urgent_ ? "true" : "false";
    m.bandwidth_mib_s = rx_speeds_;
    if (postcopy_ && latency_.Count()) {
      m.postcopy_latency = LatencyOf(latency_);
      out_.Line(
          "Postcopy latency (us): requests={} average={:.1f} p50={:.1f} p99={:.1f} max={:.1f}",
          latency_.Count(), latency_.MeanNs() / 1e3, latency_.PercentileNs(50) / 1e3,
          latency_.PercentileNs(99) / 1e3, latency_.MaxNs() / 1e3);
    }
    out_.Line("Received {:.1f} (MB) in {} (ms).",
              static_cast<double>(received_bytes_.load()) / kMiB, total_ns / 1'000'000);
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        m.status = Status::kFailed;
        m.error = e.what();
      }
    } else {
      m.status = ended_.load() ? Status::kCompleted : Status::kCancelled;
      s.ok = true;
    }
    out_.Line("Dropped connection from src VM{}.", m.error ? fmt::format(": {}", *m.error) : "");
    return s;
  }

  static LatencyDistribution LatencyOf(const LatencyHistogram& h) {
    LatencyDistribution d;
    auto us = [](uint64_t ns) { return Duration((ns + 500) / 1000); };
    d.reported_count = h.Count();
    d.reported_min = us(h.MinNs());
    d.reported_avg = us(static_cast<uint64_t>(h.MeanNs()));
    d.reported_max = us(h.MaxNs());
    d.reported_p50 = us(h.PercentileNs(50));
    d.reported_p99 = us(h.PercentileNs(99));
    const auto b = h.MigmonBuckets();
    for (int k = 0; k < LatencyHistogram::kMigmonBuckets; ++k) {
      d.histogram.push_back(MigmonBucket(k, b[static_cast<size_t>(k)]));
    }
    return d;
  }

  const Output& out_;
  const std::chrono::milliseconds idle_;
  std::atomic<bool> done_{false};
  FramedStream main_;
  std::optional<FramedStream> urgent_;
  uint64_t pages_ = 0;
  bool precopy_ = false, postcopy_ = false, main_thread_reads_ = false;
  Worker* reader_ = nullptr;  // the main connection's reader thread, while it runs

  std::atomic<uint64_t> received_bytes_{0}, precopy_pages_{0};
  std::atomic<bool> ended_{false};
  // The outstanding request (same-socket mode, answered through the main reader).
  std::mutex req_mutex_;
  std::condition_variable req_cv_;
  uint64_t want_ = UINT64_MAX;
  bool answered_ = false;

  LatencyHistogram latency_;
  std::vector<double> rx_speeds_;
  uint64_t requests_ = 0;
  int64_t tick_ = 0;
  uint64_t tick_bytes_ = 0, sec_count_ = 0, sec_total_ns_ = 0, sec_max_ns_ = 0;
};

DstSession ServeOne(Fd first, const VmOptions& o, const Output& out, int listen_fd) {
  return Destination(std::move(first), o, out).Serve(listen_fd);
}

int RunDestination(const VmOptions& o, const Output& out) {
  if (!o.tests.empty()) throw UsageError("-t is given to the source (vm -s), not the destination");
  Fd listener = BindAny(SOCK_STREAM, static_cast<uint16_t>(o.port));
  const uint16_t port = LocalPort(listener.get());
  out.Line("Start emulation of dst VM.");
  out.Line("listening port={}", port);
  std::optional<DstSession> last;
  const int64_t end =
      o.duration_s > 0 ? MonoNs() + static_cast<int64_t>(o.duration_s * 1e9) : INT64_MAX;
  int rc = kExitOk;
  while (!StopRequested() && MonoNs() < end) {
    auto fd = AcceptWithTimeout(listener.get(), std::chrono::milliseconds(200));
    if (!fd) continue;
    try {
      last = ServeOne(std::move(*fd), o, out, listener.get());
      rc = last->ok ? kExitOk : kExitRuntime;
      if (!last->ok) PrintError("vm", *last->result.error);
    } catch (const RuntimeError& e) {
      PrintError("vm", e.what());
      last = DstSession{};
      last->result.status = Status::kFailed;
      last->result.error = e.what();
      rc = kExitRuntime;
    }
    if (o.once) break;
  }
  if (o.json) {
    RunResult run;
    run.format = Format::kMigmon;
    run.source = fmt::format("migmon vm -d port {}", port);
    if (last) run.migration = last->result;
    EmitJson(run);
  }
  return rc;
}

int Vm(int argc, char** argv) {
  CLI::App app(
      "Emulate live-migration TCP streams: precopy (a page stream, bandwidth each second "
      "on the source) and postcopy (page requests, latency each second on the "
      "destination), alone or together.",
      "vm");
  VmOptions o;
  app.add_flag("-s,--src", o.src, "emulate the source VM");
  app.add_flag("-d,--dst", o.dst, "emulate the destination VM");
  app.add_option("-H,--host", o.host, "destination address (with -s)");
  app.add_option("-p,--port", o.port, "TCP port (-d: 0 lets the kernel choose; printed)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("-S,--size", o.size_gb, "VM size in GiB: the precopy pass ends after it went over")
      ->check(CLI::PositiveNumber);
  app.add_option("-t,--test", o.tests, "precopy and/or postcopy (repeat -t for both)")
      ->check(CLI::IsMember({"precopy", "postcopy"}));
  app.add_flag("--urgent-channel", o.urgent, "postcopy requests on a second connection");
  app.add_option("--duration", o.duration_s, "stop after this many seconds")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--timeout", o.timeout_s, "seconds a silent or stalled peer is given")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  app.add_flag("--once", o.once, "-d: serve one source, then exit");
  app.add_flag("--json", o.json, "print result.json on stdout at exit (human lines to stderr)");
  if (auto rc = ParseCommandLine(app, argc, argv)) return *rc;
  if (o.src == o.dst) throw UsageError("give exactly one of -s (source) and -d (destination)");
  if (o.src && o.host.empty()) throw UsageError("vm -s needs the destination: -H HOST");
  if (o.src && o.port == 0) throw UsageError("vm -s needs the destination's port, not 0");
  Output out{o.json};
  InstallSignalHandlers();
  return o.src ? RunSource(o, out) : RunDestination(o, out);
}

}  // namespace

int RunVm(int argc, char** argv) {
  return Guarded("vm", [&] { return Vm(argc, argv); });
}

}  // namespace migtest
