// migmon mm_dirty: the guest dirtier (mig_mon's sub-command, on PageWriter).
#include <sys/mman.h>
#include <sys/socket.h>

#include <atomic>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <optional>
#include <vector>

#include "common.hpp"
#include "page_writer.hpp"
#include "subcommands.hpp"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif
#ifndef MAP_HUGE_1GB
#define MAP_HUGE_1GB (30 << MAP_HUGE_SHIFT)
#endif

namespace migtest {
namespace {

constexpr double kMiB = 1 << 20;

struct Mapping {
  void* ptr = MAP_FAILED;
  size_t bytes = 0;
  ~Mapping() {
    if (ptr != MAP_FAILED) munmap(ptr, bytes);
  }
};

// The expected generation of every page: the writers' hook counts each page's writes (a page is
// written only by the thread owning its slice; read while the writers are paused).
struct WriteCounts {
  std::vector<uint64_t> writes;
  static void Count(void* self, uint64_t index) {
    ++static_cast<WriteCounts*>(self)->writes[index];
  }
};

// --sweep-port: a datagram "sweep N" makes the dirtier check every page of its working set once
// more, counting the distinct pages checked since the request: the writers' own checks before
// each rewrite (the bitmap they set) and the sweep's, a chunk at a time with the writers paused,
// of the pages they have not rewritten. A host sends it when the guest runs on the destination, so
// the count is of pages checked after the migration. Console lines (results' guest console
// parser reads them):
//   verify-sweep N: started, T pages in the working set
//   verify-sweep N: checked C of T pages            (each second, and once C is T)
class Sweeper {
 public:
  Sweeper(PageWriter& writer, std::vector<std::atomic<uint64_t>>& checked,
          const WriteCounts& counts, uint16_t port)
      : writer_(writer), checked_(checked), counts_(counts), socket_(BindAny(SOCK_DGRAM, port)) {}

  bool sweeping() const { return id_ && cursor_ < writer_.pages(); }
  uint16_t port() const { return LocalPort(socket_.get()); }

  // A new request starts a sweep (a repeated one is ignored: the host resends until it sees it).
  void Poll(const Output& out) {
    char buf[64];
    const ssize_t n = ::recv(socket_.get(), buf, sizeof buf - 1, MSG_DONTWAIT);
    if (n <= 0) return;
    buf[n] = '\0';
    unsigned long long id = 0;
    if (std::sscanf(buf, "sweep %llu", &id) != 1 || id == 0 || id == id_) return;
    writer_.Pause();
    for (auto& w : checked_) w.store(0, std::memory_order_relaxed);
    writer_.Resume();
    id_ = id;
    cursor_ = 0;
    reported_done_ = false;
    started_ns_ = MonoNs();
    out.Line("verify-sweep {}: started, {} pages in the working set", id_, writer_.pages());
  }

  // Checks the next pages for about 5 ms with the writers paused. False at the first bad page.
  bool Step(std::string* why) {
    if (!sweeping()) return true;
    writer_.Pause();
    const int64_t until = MonoNs() + 5'000'000;
    bool ok = true;
    for (; ok && cursor_ < writer_.pages() && MonoNs() < until; ++cursor_) {
      std::atomic<uint64_t>& word = checked_[cursor_ / 64];
      const uint64_t bit = uint64_t{1} << (cursor_ % 64);
      if (word.load(std::memory_order_acquire) & bit) continue;  // the writer checked it
      ok = CheckPage(cursor_, why);
      word.fetch_or(bit, std::memory_order_relaxed);
    }
    writer_.Resume();
    return ok;
  }

  // "checked C of T pages" once a second while the sweep runs, and once when it is complete.
  void Report(const Output& out, bool second) {
    if (!id_ || reported_done_ || (sweeping() && !second)) return;
    uint64_t c = 0;
    for (const auto& w : checked_) c += static_cast<uint64_t>(std::popcount(w.load()));
    if (sweeping()) {
      out.Line("verify-sweep {}: checked {} of {} pages", id_, c, writer_.pages());
      return;
    }
    out.Line("verify-sweep {}: checked {} of {} pages in {} ms", id_, c, writer_.pages(),
             (MonoNs() - started_ns_) / 1'000'000);
    reported_done_ = true;
  }

 private:
  bool CheckPage(uint64_t i, std::string* why) const {
    const uint8_t* p = writer_.base() + i * kPageSize;
    if (!VerifyPage(p, i, why)) return false;
    if (PageGeneration(p) == counts_.writes[i]) return true;
    *why = fmt::format("page {}: generation {} but {} was written last (a lost write)", i,
                       PageGeneration(p), counts_.writes[i]);
    return false;
  }

  PageWriter& writer_;
  std::vector<std::atomic<uint64_t>>& checked_;
  const WriteCounts& counts_;
  Fd socket_;
  uint64_t id_ = 0;
  uint64_t cursor_ = 0;
  int64_t started_ns_ = 0;
  bool reported_done_ = false;
};

int MmDirty(int argc, char** argv) {
  CLI::App app(
      "Dirty memory at a rate and pattern, in 4 KiB steps (also on huge pages). Prints "
      "the achieved rate each second; SIGINT/SIGTERM end it with a summary.",
      "mm_dirty");
  std::string size_text = "512", rate_text, pattern_text = "sequential", huge;
  bool latency = false, verify = false, json = false;
  double duration_s = 0;
  int threads = 1;
  int64_t corrupt_after_ms = -1;
  int64_t corrupt_page = -1;
  int sweep_port = -1;
  app.add_option("-m,--memory", size_text, "memory size; bare number = MiB, or K/M/G suffix")
      ->capture_default_str();
  app.add_option("-r,--rate", rate_text, "dirty rate in MiB/s (M/G suffixes; default unlimited)");
  app.add_option("-p,--pattern", pattern_text, "sequential | random | once")
      ->check(CLI::IsMember({"sequential", "random", "once"}))
      ->capture_default_str();
  app.add_flag("-L,--latency", latency, "record memory-access latencies; histogram at exit");
  app.add_option("-P,--page-size", huge, "back the memory with huge pages: 2m or 1g")
      ->check(CLI::IsMember({"2m", "1g", "2M", "1G"}));
  app.add_option("--duration", duration_s, "stop after this many seconds (default: until signal)")
      ->check(CLI::NonNegativeNumber);
  CLI::Option* verify_flag =
      app.add_flag("--verify", verify, "check every page before writing it; corruption: exit 3");
  app.add_option("--sweep-port", sweep_port,
                 "with --verify: on a UDP datagram 'sweep N' to this port, check every page once "
                 "more and report the distinct pages checked since (verify-sweep lines); 0: a "
                 "port the kernel picks, printed")
      ->check(CLI::Range(0, 65535))
      ->needs(verify_flag);
  app.add_option("-t,--threads", threads, "writer threads")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_flag("--json", json, "print result.json on stdout at exit (human lines to stderr)");
  // Test knobs, hidden: prove that --verify catches a corrupted page.
  app.add_option("--corrupt-after-ms", corrupt_after_ms)->group("");
  app.add_option("--corrupt-page", corrupt_page)->group("");
  if (auto rc = ParseCommandLine(app, argc, argv)) return *rc;

  const uint64_t bytes_asked = ParseSize(size_text, "memory size");
  if (bytes_asked < kPageSize)
    throw UsageError(fmt::format("memory size '{}' is below one 4 KiB page", size_text));
  std::optional<uint64_t> rate;
  if (!rate_text.empty()) {
    rate = ParseSize(rate_text, "rate");
    if (*rate == 0) throw UsageError("rate 0 would dirty nothing; omit -r for unlimited");
  }
  const WritePattern pattern = *WritePatternFromString(pattern_text);
  size_t huge_bytes = 0;
  int map_flags = MAP_PRIVATE | MAP_ANONYMOUS;
  if (!huge.empty()) {
    const bool one_g = huge == "1g" || huge == "1G";
    huge_bytes = one_g ? size_t{1} << 30 : size_t{2} << 20;
    map_flags |= MAP_HUGETLB | (one_g ? MAP_HUGE_1GB : MAP_HUGE_2MB);
  }
  const size_t align = huge_bytes ? huge_bytes : kPageSize;
  const size_t bytes = (bytes_asked + align - 1) / align * align;

  Output out{json};
  InstallSignalHandlers();
  Mapping map;
  map.ptr = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, map_flags, -1, 0);
  if (map.ptr == MAP_FAILED) {
    const int err = errno;
    if (huge_bytes) {
      throw RuntimeError(
          fmt::format("cannot map {} MiB of {} huge pages: {} (are enough reserved? see "
                      "/sys/kernel/mm/hugepages/hugepages-{}kB/nr_hugepages)",
                      bytes >> 20, huge, ErrnoText(err), huge_bytes >> 10));
    }
    throw RuntimeError(fmt::format("cannot map {} MiB: {}", bytes >> 20, ErrnoText(err)));
  }
  map.bytes = bytes;

  PageWriter::Options o;
  o.pattern = pattern;
  o.rate_bytes_per_s = rate.value_or(0);
  o.threads = threads;
  o.verify = verify;
  o.record_latency = latency;
  std::vector<std::atomic<uint64_t>> checked((bytes / kPageSize + 63) / 64);
  WriteCounts counts;
  if (sweep_port >= 0) {
    counts.writes.assign(bytes / kPageSize, 0);
    o.dirty_bitmap = checked.data();
    o.hook = &WriteCounts::Count;
    o.hook_context = &counts;
  }
  PageWriter writer(map.ptr, bytes, o);
  std::optional<Sweeper> sweeper;
  if (sweep_port >= 0) sweeper.emplace(writer, checked, counts, static_cast<uint16_t>(sweep_port));
  std::string sweep_error;

  out.Line("Test memory size: \t{} (MB)", bytes >> 20);
  out.Line("Backend page size: \t{} (Bytes)", huge_bytes ? huge_bytes : kPageSize);
  out.Line("Dirty step size: \t{} (Bytes)", kPageSize);
  if (rate) {
    out.Line("Dirty memory rate: \t{:g} (MB/s)", static_cast<double>(*rate) / kMiB);
  } else {
    out.Line("Dirty memory rate: \tMaximum");
  }
  out.Line("Dirty pattern: \t\t{}", pattern_text);
  if (sweeper) out.Line("Sweep port: \t\t{} (udp)", sweeper->port());
  const int64_t heat0 = MonoNs();
  writer.Preheat();
  out.Line("Pre-heat: {} pages in {} ms", writer.pages(), (MonoNs() - heat0) / 1'000'000);

  DirtyResult result;
  result.pattern = pattern_text;
  result.memory_mb = bytes >> 20;
  if (rate) result.requested_mib_s = static_cast<double>(*rate) / kMiB;

  writer.Start();
  const int64_t start = MonoNs();
  const int64_t end = duration_s > 0 ? start + static_cast<int64_t>(duration_s * 1e9) : INT64_MAX;
  int64_t tick = start;
  uint64_t last_pages = 0, last_busy = 0;
  LatencyHistogram last_latency;
  bool corrupted = false;
  while (!StopRequested() && !writer.Errors() && sweep_error.empty()) {
    if (sweeper) {
      sweeper->Poll(out);
      if (!sweeper->Step(&sweep_error)) break;
      sweeper->Report(out, /*second=*/false);
    }
    const int64_t now = MonoNs();
    if (now >= end) break;
    if (!corrupted && corrupt_after_ms >= 0 && now - start >= corrupt_after_ms * 1'000'000) {
      const uint64_t page = corrupt_page >= 0 ? static_cast<uint64_t>(corrupt_page) % writer.pages()
                                              : writer.pages() / 2;
      writer.CorruptPageForTest(page);
      fmt::print(stderr, "mm_dirty: test knob: corrupted page {}\n", page);
      corrupted = true;
    }
    if (now - tick >= 1'000'000'000) {
      const uint64_t pages = writer.PagesWritten(), busy = writer.BusyNs();
      const double elapsed_ms = static_cast<double>(now - tick) / 1e6;
      const double mib_s =
          static_cast<double>(pages - last_pages) * kPageSize / kMiB / (elapsed_ms / 1e3);
      const double load =
          100.0 * static_cast<double>(busy - last_busy) / 1e6 / elapsed_ms / writer.threads();
      std::string line = fmt::format("dirty-rate: {:.0f} (MB/s), time (ms): {:.0f}, load: {:.2f}%",
                                     mib_s, elapsed_ms, load);
      if (latency) {
        LatencyHistogram all = writer.Latency();
        LatencyHistogram second = all.Since(last_latency);
        line += fmt::format(", lat (us): p50={} p99={} max={}", second.PercentileNs(50) / 1000,
                            second.PercentileNs(99) / 1000, second.MaxNs() / 1000);
        last_latency = all;
      }
      out.Line("{}", line);
      if (sweeper) sweeper->Report(out, /*second=*/true);
      result.rate_mib_s.push_back(std::round(mib_s * 100) / 100);
      result.load_percent.push_back(std::round(load * 100) / 100);
      last_pages = pages;
      last_busy = busy;
      tick = now;
    }
    const int64_t next = std::min({tick + 1'000'000'000, end});
    const int64_t step = sweeper && sweeper->sweeping() ? 1'000'000 : 10'000'000;
    SleepInterruptible(std::min<int64_t>(next - MonoNs(), step));
  }
  writer.Stop();
  const int64_t total_ns = MonoNs() - start;
  const uint64_t pages = writer.PagesWritten();

  uint64_t bad = writer.Errors();
  std::string why = writer.FirstError().value_or("");
  if (bad == 0 && !sweep_error.empty()) {
    bad = 1;  // the sweep stops at the first bad page
    why = sweep_error;
  }
  if (verify && bad == 0) bad = writer.VerifyAll(&why);

  if (StopSignal()) out.Line("Stopped by signal {}", StopSignal());
  out.Line("Total: {} pages ({:.1f} MB) in {} ms, average {:.0f} (MB/s)", pages,
           static_cast<double>(pages) * kPageSize / kMiB, total_ns / 1'000'000,
           total_ns > 0 ? static_cast<double>(pages) * kPageSize / kMiB /
                              (static_cast<double>(total_ns) / 1e9)
                        : 0.0);
  if (latency) {
    const LatencyHistogram h = writer.Latency();
    fmt::print(out.human(), "{}", h.MigmonText());
    out.Line(
        "Latency percentiles (us): p50={:.3f} p90={:.3f} p99={:.3f} p99.9={:.3f} "
        "p99.99={:.3f} max={:.3f} (count {})",
        h.PercentileNs(50) / 1e3, h.PercentileNs(90) / 1e3, h.PercentileNs(99) / 1e3,
        h.PercentileNs(99.9) / 1e3, h.PercentileNs(99.99) / 1e3, h.MaxNs() / 1e3, h.Count());
    const auto buckets = h.MigmonBuckets();
    for (int k = 0; k < LatencyHistogram::kMigmonBuckets; ++k) {
      result.latency.histogram.push_back(MigmonBucket(k, buckets[static_cast<size_t>(k)]));
    }
    if (h.Count()) {
      auto us = [](uint64_t ns) { return Duration((ns + 500) / 1000); };
      result.latency.reported_count = h.Count();
      result.latency.reported_min = us(h.MinNs());
      result.latency.reported_avg = us(static_cast<uint64_t>(h.MeanNs()));
      result.latency.reported_max = us(h.MaxNs());
      result.latency.reported_p50 = us(h.PercentileNs(50));
      result.latency.reported_p99 = us(h.PercentileNs(99));
    }
  }
  if (verify) {
    result.verify_errors = bad;
    if (bad) result.verify_error = why;
  }
  if (json) {
    RunResult run;
    run.format = Format::kMigmon;
    run.source = "migmon mm_dirty";
    run.dirty = std::move(result);
    run.extra = {{"pages_written", pages},
                 {"duration_ms", total_ns / 1'000'000},
                 {"threads", writer.threads()}};
    EmitJson(run);
  }
  if (bad) {
    fmt::print(stderr, "migmon mm_dirty: memory corrupted: {}\n", why);
    return kExitCorrupt;
  }
  return kExitOk;
}

}  // namespace

int RunMmDirty(int argc, char** argv) {
  return Guarded("mm_dirty", [&] { return MmDirty(argc, argv); });
}

}  // namespace migtest
