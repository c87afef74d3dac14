// migmon mm_dirty: the guest dirtier (mig_mon's sub-command, on PageWriter).
#include <sys/mman.h>
#include <sys/socket.h>

#include <atomic>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string_view>
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
// The same port sets the writers' rate, so that a guest booted once serves migrations of different
// rates (the qemu backend's pool): a datagram "rate R" (MiB/s over all threads, 0: unlimited)
// answers, on every request (the host resends until it sees it):
//   rate-set: R MiB/s
// and "idle" holds the writers (an idle guest's test on a guest booted busy) until the next
// "rate R"; sweeps still check every page. It answers
//   rate-set: idle
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
    unsigned long long id = 0, rate = 0;
    if (std::sscanf(buf, "rate %llu", &rate) == 1 && rate < (1ull << 40)) {
      writer_.SetRate(rate << 20);
      if (idle_) {
        idle_ = false;
        writer_.Resume();
      }
      out.Line("rate-set: {} MiB/s", rate);
      return;
    }
    if (std::string_view(buf, static_cast<size_t>(n)) == "idle") {
      if (!idle_) writer_.Pause();
      idle_ = true;
      out.Line("rate-set: idle");
      return;
    }
    if (std::sscanf(buf, "sweep %llu", &id) != 1 || id == 0 || id == id_) return;
    writer_.Pause();
    for (auto& w : checked_) w.store(0, std::memory_order_relaxed);
    if (!idle_) writer_.Resume();
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
    if (!idle_) writer_.Resume();
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
  bool idle_ = false;  // the writers held ("idle") until the next "rate R"
};

struct MmDirtyOptions {
  std::string size_text = "512", rate_text, pattern_text = "sequential", huge;
  bool latency = false, verify = false, json = false;
  double duration_s = 0;
  int threads = 1;
  int64_t corrupt_after_ms = -1;
  int64_t corrupt_page = -1;
  int sweep_port = -1;
  // From the above: the mapping's size (whole pages), the rate, the pattern, huge pages.
  size_t bytes = 0;
  std::optional<uint64_t> rate;
  WritePattern pattern = WritePattern::kSequential;
  size_t huge_bytes = 0;
  int map_flags = MAP_PRIVATE | MAP_ANONYMOUS;
};

// The command line, checked; an exit code when it is done (help, a usage error).
std::optional<int> ParseMmDirty(int argc, char** argv, MmDirtyOptions& o) {
  CLI::App app(
      "Dirty memory at a rate and pattern, in 4 KiB steps (also on huge pages). Prints "
      "the achieved rate each second; SIGINT/SIGTERM end it with a summary.",
      "mm_dirty");
  app.add_option("-m,--memory", o.size_text, "memory size; bare number = MiB, or K/M/G suffix")
      ->capture_default_str();
  app.add_option("-r,--rate", o.rate_text, "dirty rate in MiB/s (M/G suffixes; default unlimited)");
  app.add_option("-p,--pattern", o.pattern_text, "sequential | random | once")
      ->check(CLI::IsMember({"sequential", "random", "once"}))
      ->capture_default_str();
  app.add_flag("-L,--latency", o.latency, "record memory-access latencies; histogram at exit");
  app.add_option("-P,--page-size", o.huge, "back the memory with huge pages: 2m or 1g")
      ->check(CLI::IsMember({"2m", "1g", "2M", "1G"}));
  app.add_option("--duration", o.duration_s, "stop after this many seconds (default: until signal)")
      ->check(CLI::NonNegativeNumber);
  CLI::Option* verify_flag =
      app.add_flag("--verify", o.verify, "check every page before writing it; corruption: exit 3");
  app.add_option("--sweep-port", o.sweep_port,
                 "with --verify: on a UDP datagram 'sweep N' to this port, check every page once "
                 "more and report the distinct pages checked since (verify-sweep lines); on "
                 "'rate R', dirty at R MiB/s from now on (0: unlimited; a rate-set line); 0: a "
                 "port the kernel picks, printed")
      ->check(CLI::Range(0, 65535))
      ->needs(verify_flag);
  app.add_option("-t,--threads", o.threads, "writer threads")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_flag("--json", o.json, "print result.json on stdout at exit (human lines to stderr)");
  // Test knobs, hidden: prove that --verify catches a corrupted page.
  app.add_option("--corrupt-after-ms", o.corrupt_after_ms)->group("");
  app.add_option("--corrupt-page", o.corrupt_page)->group("");
  if (auto rc = ParseCommandLine(app, argc, argv)) return rc;

  const uint64_t bytes_asked = ParseSize(o.size_text, "memory size");
  if (bytes_asked < kPageSize)
    throw UsageError(fmt::format("memory size '{}' is below one 4 KiB page", o.size_text));
  if (!o.rate_text.empty()) {
    o.rate = ParseSize(o.rate_text, "rate");
    if (*o.rate == 0) throw UsageError("rate 0 would dirty nothing; omit -r for unlimited");
  }
  o.pattern = *WritePatternFromString(o.pattern_text);
  if (!o.huge.empty()) {
    const bool one_g = o.huge == "1g" || o.huge == "1G";
    o.huge_bytes = one_g ? size_t{1} << 30 : size_t{2} << 20;
    o.map_flags |= MAP_HUGETLB | (one_g ? MAP_HUGE_1GB : MAP_HUGE_2MB);
  }
  const size_t align = o.huge_bytes ? o.huge_bytes : kPageSize;
  o.bytes = (bytes_asked + align - 1) / align * align;
  return std::nullopt;
}

void MapMemory(const MmDirtyOptions& o, Mapping& map) {
  map.ptr = mmap(nullptr, o.bytes, PROT_READ | PROT_WRITE, o.map_flags, -1, 0);
  if (map.ptr == MAP_FAILED) {
    const int err = errno;
    if (o.huge_bytes) {
      throw RuntimeError(
          fmt::format("cannot map {} MiB of {} huge pages: {} (are enough reserved? see "
                      "/sys/kernel/mm/hugepages/hugepages-{}kB/nr_hugepages)",
                      o.bytes >> 20, o.huge, ErrnoText(err), o.huge_bytes >> 10));
    }
    throw RuntimeError(fmt::format("cannot map {} MiB: {}", o.bytes >> 20, ErrnoText(err)));
  }
  map.bytes = o.bytes;
}

// mig_mon's header lines, then the pre-heat (every page touched once before the clock starts).
void PrintSetupAndPreheat(const Output& out, const MmDirtyOptions& o, PageWriter& writer,
                          const Sweeper* sweeper) {
  out.Line("Test memory size: \t{} (MB)", o.bytes >> 20);
  out.Line("Backend page size: \t{} (Bytes)", o.huge_bytes ? o.huge_bytes : kPageSize);
  out.Line("Dirty step size: \t{} (Bytes)", kPageSize);
  if (o.rate) {
    out.Line("Dirty memory rate: \t{:g} (MB/s)", static_cast<double>(*o.rate) / kMiB);
  } else {
    out.Line("Dirty memory rate: \tMaximum");
  }
  out.Line("Dirty pattern: \t\t{}", o.pattern_text);
  if (sweeper) out.Line("Sweep port: \t\t{} (udp)", sweeper->port());
  const int64_t heat0 = MonoNs();
  writer.Preheat();
  out.Line("Pre-heat: {} pages in {} ms", writer.pages(), (MonoNs() - heat0) / 1'000'000);
}

// The line printed each second: the achieved rate, the writers' load and (with -L) latencies.
class EverySecond {
 public:
  explicit EverySecond(int64_t start) : tick_(start) {}
  int64_t tick() const { return tick_; }

  void Report(int64_t now, const PageWriter& writer, bool latency, const Output& out,
              DirtyResult& result) {
    const uint64_t pages = writer.PagesWritten(), busy = writer.BusyNs();
    const double elapsed_ms = static_cast<double>(now - tick_) / 1e6;
    const double mib_s =
        static_cast<double>(pages - last_pages_) * kPageSize / kMiB / (elapsed_ms / 1e3);
    const double load =
        100.0 * static_cast<double>(busy - last_busy_) / 1e6 / elapsed_ms / writer.threads();
    std::string line = fmt::format("dirty-rate: {:.0f} (MB/s), time (ms): {:.0f}, load: {:.2f}%",
                                   mib_s, elapsed_ms, load);
    if (latency) {
      LatencyHistogram all = writer.Latency();
      LatencyHistogram second = all.Since(last_latency_);
      line += fmt::format(", lat (us): p50={} p99={} max={}", second.PercentileNs(50) / 1000,
                          second.PercentileNs(99) / 1000, second.MaxNs() / 1000);
      last_latency_ = all;
    }
    out.Line("{}", line);
    result.rate_mib_s.push_back(std::round(mib_s * 100) / 100);
    result.load_percent.push_back(std::round(load * 100) / 100);
    last_pages_ = pages;
    last_busy_ = busy;
    tick_ = now;
  }

 private:
  int64_t tick_;
  uint64_t last_pages_ = 0, last_busy_ = 0;
  LatencyHistogram last_latency_;
};

// The access-latency histogram at exit (-L): printed as mig_mon prints it, and into the result.
void ReportLatency(const Output& out, const PageWriter& writer, DirtyResult& result) {
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

// Writes until the duration ends, a signal, a writer's verify error or a sweep's; each second
// reported; returns how long the writers ran. The hidden test knob corrupts one page once, to
// prove that --verify catches it.
int64_t DirtyUntilStopped(const MmDirtyOptions& o, PageWriter& writer, Sweeper* sweeper,
                          const Output& out, DirtyResult& result, std::string& sweep_error) {
  writer.Start();
  const int64_t start = MonoNs();
  const int64_t end =
      o.duration_s > 0 ? start + static_cast<int64_t>(o.duration_s * 1e9) : INT64_MAX;
  EverySecond second(start);
  bool corrupted = false;
  while (!StopRequested() && !writer.Errors() && sweep_error.empty()) {
    if (sweeper) {
      sweeper->Poll(out);
      if (!sweeper->Step(&sweep_error)) break;
      sweeper->Report(out, /*second=*/false);
    }
    const int64_t now = MonoNs();
    if (now >= end) break;
    if (!corrupted && o.corrupt_after_ms >= 0 && now - start >= o.corrupt_after_ms * 1'000'000) {
      const uint64_t page = o.corrupt_page >= 0
                                ? static_cast<uint64_t>(o.corrupt_page) % writer.pages()
                                : writer.pages() / 2;
      writer.CorruptPageForTest(page);
      fmt::print(stderr, "mm_dirty: test knob: corrupted page {}\n", page);
      corrupted = true;
    }
    if (now - second.tick() >= 1'000'000'000) {
      second.Report(now, writer, o.latency, out, result);
      if (sweeper) sweeper->Report(out, /*second=*/true);
    }
    const int64_t next = std::min({second.tick() + 1'000'000'000, end});
    const int64_t step = sweeper && sweeper->sweeping() ? 1'000'000 : 10'000'000;
    SleepInterruptible(std::min<int64_t>(next - MonoNs(), step));
  }
  writer.Stop();
  return MonoNs() - start;
}

int MmDirty(int argc, char** argv) {
  MmDirtyOptions o;
  if (auto rc = ParseMmDirty(argc, argv, o)) return *rc;
  Output out{o.json};
  InstallSignalHandlers();
  Mapping map;
  MapMemory(o, map);

  PageWriter::Options wo;
  wo.pattern = o.pattern;
  wo.rate_bytes_per_s = o.rate.value_or(0);
  wo.threads = o.threads;
  wo.verify = o.verify;
  wo.record_latency = o.latency;
  std::vector<std::atomic<uint64_t>> checked((o.bytes / kPageSize + 63) / 64);
  WriteCounts counts;
  if (o.sweep_port >= 0) {
    counts.writes.assign(o.bytes / kPageSize, 0);
    wo.dirty_bitmap = checked.data();
    wo.hook = &WriteCounts::Count;
    wo.hook_context = &counts;
  }
  PageWriter writer(map.ptr, o.bytes, wo);
  std::optional<Sweeper> sweeper;
  if (o.sweep_port >= 0) {
    sweeper.emplace(writer, checked, counts, static_cast<uint16_t>(o.sweep_port));
  }
  PrintSetupAndPreheat(out, o, writer, sweeper ? &*sweeper : nullptr);

  DirtyResult result;
  result.pattern = o.pattern_text;
  result.memory_mb = o.bytes >> 20;
  if (o.rate) result.requested_mib_s = static_cast<double>(*o.rate) / kMiB;
  std::string sweep_error;
  const int64_t total_ns =
      DirtyUntilStopped(o, writer, sweeper ? &*sweeper : nullptr, out, result, sweep_error);
  const uint64_t pages = writer.PagesWritten();

  uint64_t bad = writer.Errors();
  std::string why = writer.FirstError().value_or("");
  if (bad == 0 && !sweep_error.empty()) {
    bad = 1;  // the sweep stops at the first bad page
    why = sweep_error;
  }
  if (o.verify && bad == 0) bad = writer.VerifyAll(&why);

  if (StopSignal()) out.Line("Stopped by signal {}", StopSignal());
  out.Line("Total: {} pages ({:.1f} MB) in {} ms, average {:.0f} (MB/s)", pages,
           static_cast<double>(pages) * kPageSize / kMiB, total_ns / 1'000'000,
           total_ns > 0 ? static_cast<double>(pages) * kPageSize / kMiB /
                              (static_cast<double>(total_ns) / 1e9)
                        : 0.0);
  if (o.latency) ReportLatency(out, writer, result);
  if (o.verify) {
    result.verify_errors = bad;
    if (bad) result.verify_error = why;
  }
  if (o.json) {
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
