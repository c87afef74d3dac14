// migmon mm_dirty: the guest dirtier (mig_mon's sub-command, on PageWriter).
#include <sys/mman.h>

#include <cerrno>
#include <cmath>

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
  app.add_flag("--verify", verify, "check every page before writing it; corruption: exit 3");
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
  PageWriter writer(map.ptr, bytes, o);

  out.Line("Test memory size: \t{} (MB)", bytes >> 20);
  out.Line("Backend page size: \t{} (Bytes)", huge_bytes ? huge_bytes : kPageSize);
  out.Line("Dirty step size: \t{} (Bytes)", kPageSize);
  if (rate) {
    out.Line("Dirty memory rate: \t{:g} (MB/s)", static_cast<double>(*rate) / kMiB);
  } else {
    out.Line("Dirty memory rate: \tMaximum");
  }
  out.Line("Dirty pattern: \t\t{}", pattern_text);
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
  while (!StopRequested() && !writer.Errors()) {
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
      result.rate_mib_s.push_back(std::round(mib_s * 100) / 100);
      result.load_percent.push_back(std::round(load * 100) / 100);
      last_pages = pages;
      last_busy = busy;
      tick = now;
    }
    const int64_t next = std::min({tick + 1'000'000'000, end});
    SleepInterruptible(std::min<int64_t>(next - MonoNs(), 10'000'000));
  }
  writer.Stop();
  const int64_t total_ns = MonoNs() - start;
  const uint64_t pages = writer.PagesWritten();

  uint64_t bad = writer.Errors();
  std::string why = writer.FirstError().value_or("");
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
