#include "page_writer.hpp"

#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <stdexcept>

// The guest's stores race with the migration reading guest memory to send it, by design: a page
// written during its send is dirty again and sent later, and the destination verifies every page
// against the stopped source. ThreadSanitizer (ci/sanitize tsan) is told to ignore these stores
// only, so that any other race of the writers still fails it.
#if defined(__SANITIZE_THREAD__)
extern "C" void AnnotateIgnoreWritesBegin(const char* file, int line);
extern "C" void AnnotateIgnoreWritesEnd(const char* file, int line);
#endif

namespace migtest {
namespace {

void GuestStore(uint8_t* to, const void* from, size_t n) {
#if defined(__SANITIZE_THREAD__)
  AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
  std::memcpy(to, from, n);
  AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
#else
  std::memcpy(to, from, n);
#endif
}

constexpr uint64_t kMagic = 0x4d49474d4f4e5047;  // "MIGMONPG"
constexpr size_t kHeaderBytes = 32;
constexpr uint64_t kGolden = 0x9e3779b97f4a7c15;

struct Header {
  uint64_t magic, index, generation, check;
};
static_assert(sizeof(Header) == kHeaderBytes);

inline uint64_t Mix(uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9;
  x ^= x >> 27;
  x *= 0x94d049bb133111eb;
  return x ^ (x >> 31);
}
// Two multiplies (the writers compute it for every page): both steps are bijective in each
// field, so any change to one field of the header changes the check.
inline uint64_t HeaderCheck(uint64_t index, uint64_t generation) {
  return ((index * kGolden + generation) * 0xbf58476d1ce4e5b9) ^ kMagic;
}
inline uint64_t BodySeed(uint64_t index) { return Mix(index ^ 0x626f6479); }

inline int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}
inline void SleepUntilNs(int64_t t) {
  timespec ts{static_cast<time_t>(t / 1'000'000'000), static_cast<long>(t % 1'000'000'000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

// Header loads/stores through memcpy: the region is plain memory that another thread (the
// engine) may copy concurrently; it copes with a torn page by re-sending it (the dirty bit).
inline Header LoadHeader(const void* page) {
  Header h;
  std::memcpy(&h, page, sizeof h);
  return h;
}

__extension__ using Uint128 = unsigned __int128;

struct Rng {  // xorshift64*: fast, good enough to scatter page indices
  uint64_t s;
  uint64_t Next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545f4914f6cdd1d;
  }
  // Uniform in [0, n) by multiply-high (no division on the hot path).
  uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<Uint128>(Next()) * n) >> 64);
  }
};

// A writer thread's pacing: a slice's pages are due at base_ns + paced / pages_per_ns; a new
// rate or throttle (a new epoch) starts the count again.
struct Pacer {
  uint64_t epoch = ~uint64_t{0};
  int64_t base_ns = 0;
  double paced = 0, pages_per_ns = 0;

  // How many pages to write now: about 1 ms of the asked rate (1024 when unlimited), or 0
  // after a sleep of at most 1 ms towards the slice's due time (so Pause()/Stop() stay prompt).
  uint64_t Slice(uint64_t e, uint64_t rate, double throttle, int threads, int64_t now) {
    if (e != epoch) {
      epoch = e;
      base_ns = now;
      paced = 0;
      pages_per_ns = static_cast<double>(rate) * (1.0 - throttle) / static_cast<double>(kPageSize) /
                     static_cast<double>(threads) / 1e9;
    }
    if (rate == 0) return 1024;
    const uint64_t slice = std::clamp<uint64_t>(static_cast<uint64_t>(pages_per_ns * 1e6), 1, 4096);
    const int64_t due = base_ns + static_cast<int64_t>(paced / pages_per_ns);
    if (due > now) {
      SleepUntilNs(std::min(due, now + 1'000'000));
      return 0;
    }
    // Far behind (descheduled, or the machine cannot keep up): forget debt beyond 50 ms
    // rather than burst to catch up.
    if (now - due > 50'000'000) {
      base_ns = now - 50'000'000;
      paced = 0;
    }
    return slice;
  }
};

// Which pages a writer thread writes next, from its slice [lo, hi) of the guest.
struct Cursor {
  uint64_t lo, hi;
  WritePattern pattern;
  Rng rng;
  uint64_t next = lo;  // sequential cursor

  // Fills order[0..n) with up to `slice` page indices and returns n; `pass_done` when kOnce
  // reached the end of its slice.
  uint64_t Fill(std::vector<uint64_t>& order, uint64_t slice, bool& pass_done) {
    uint64_t n = 0;
    for (; n < slice; ++n) {
      if (pattern == WritePattern::kRandom) {
        order[n] = lo + rng.Below(hi - lo);
        continue;
      }
      if (next >= hi) {
        if (pattern == WritePattern::kOnce) {
          pass_done = true;
          break;
        }
        next = lo;
      }
      order[n] = next++;
    }
    return n;
  }
};

}  // namespace

std::string_view ToString(WritePattern pattern) {
  switch (pattern) {
    case WritePattern::kSequential:
      return "sequential";
    case WritePattern::kRandom:
      return "random";
    case WritePattern::kOnce:
      return "once";
  }
  return "?";
}

std::optional<WritePattern> WritePatternFromString(std::string_view name) {
  if (name == "sequential") return WritePattern::kSequential;
  if (name == "random") return WritePattern::kRandom;
  if (name == "once") return WritePattern::kOnce;
  return std::nullopt;
}

void WritePage(void* page, uint64_t index, uint64_t generation, bool with_body) {
  auto* p = static_cast<uint8_t*>(page);
  if (with_body) {
    const uint64_t seed = BodySeed(index);
    for (size_t off = kHeaderBytes, j = 0; off < kPageSize; off += 8, ++j) {
      const uint64_t w = seed ^ (j * kGolden);
      std::memcpy(p + off, &w, 8);
    }
  }
  const Header h{kMagic, index, generation, HeaderCheck(index, generation)};
  std::memcpy(p, &h, sizeof h);
}

uint64_t PageGeneration(const void* page) { return LoadHeader(page).generation; }

bool HeaderIntact(const void* page, uint64_t index) {
  const Header h = LoadHeader(page);
  return h.magic == kMagic && h.index == index && h.check == HeaderCheck(h.index, h.generation);
}

void DamageHeaderForTest(void* page) { static_cast<uint8_t*>(page)[offsetof(Header, check)] ^= 1; }

bool VerifyPage(const void* page, uint64_t index, std::string* why) {
  const auto* p = static_cast<const uint8_t*>(page);
  const Header h = LoadHeader(p);
  auto fail = [&](std::string text) {
    if (why) *why = fmt::format("page {}: {}", index, text);
    return false;
  };
  if (h.magic != kMagic) {
    bool zero = true;
    for (size_t i = 0; i < kPageSize && zero; ++i) zero = p[i] == 0;
    if (zero) return fail("all zero (never written, or lost)");
    return fail(fmt::format("bad magic {:#018x} (not a migmon page)", h.magic));
  }
  if (h.index != index) {
    return fail(fmt::format("header names page {} (a page copied to the wrong place?)", h.index));
  }
  if (h.check != HeaderCheck(h.index, h.generation)) {
    return fail(
        fmt::format("header checksum mismatch (generation field {:#x}, corrupted)", h.generation));
  }
  const uint64_t seed = BodySeed(index);
  for (size_t off = kHeaderBytes, j = 0; off < kPageSize; off += 8, ++j) {
    uint64_t w;
    std::memcpy(&w, p + off, 8);
    if (w != (seed ^ (j * kGolden))) return fail(fmt::format("body corrupted at byte {}", off));
  }
  return true;
}

PageWriter::PageWriter(void* base, size_t bytes, Options options)
    : base_(static_cast<uint8_t*>(base)), pages_(bytes / kPageSize), options_(options) {
  if (base == nullptr || reinterpret_cast<uintptr_t>(base) % kPageSize != 0) {
    throw std::invalid_argument("PageWriter: region must be 4 KiB aligned");
  }
  if (bytes == 0 || bytes % kPageSize != 0) {
    throw std::invalid_argument(
        fmt::format("PageWriter: region size {} is not a positive multiple of 4 KiB", bytes));
  }
  if (options_.threads < 1) throw std::invalid_argument("PageWriter: threads must be >= 1");
  options_.threads =
      static_cast<int>(std::min<size_t>(static_cast<size_t>(options_.threads), pages_));
  rate_.store(options_.rate_bytes_per_s);
  if (options_.verify) generation_.assign(pages_, 0);
  for (int t = 0; t < options_.threads; ++t) threads_.push_back(std::make_unique<ThreadState>());
}

PageWriter::~PageWriter() { Stop(); }

void PageWriter::Preheat() {
  const size_t n = static_cast<size_t>(options_.threads);
  std::vector<std::thread> helpers;
  auto fill = [this, n](size_t t) {
    const size_t lo = t * pages_ / n, hi = (t + 1) * pages_ / n;
    for (size_t i = lo; i < hi; ++i) WritePage(base_ + i * kPageSize, i, 0, true);
  };
  for (size_t t = 1; t < n; ++t) helpers.emplace_back(fill, t);
  fill(0);
  for (auto& h : helpers) h.join();
  if (options_.verify) std::fill(generation_.begin(), generation_.end(), 0);
}

void PageWriter::Start() {
  std::lock_guard lock(mutex_);
  if (started_) return;
  started_ = true;
  running_ = options_.threads;
  for (int t = 0; t < options_.threads; ++t)
    threads_[static_cast<size_t>(t)]->thread = std::thread([this, t] { Run(t); });
}

void PageWriter::Pause() {
  std::unique_lock lock(mutex_);
  pause_requested_.store(true, std::memory_order_seq_cst);
  if (!started_) return;
  parked_cv_.wait(lock, [this] { return parked_ + finished_.load() >= options_.threads; });
}

void PageWriter::Resume() {
  std::lock_guard lock(mutex_);
  pause_requested_.store(false);
  pacing_epoch_.fetch_add(1);  // no catch-up burst for the time spent paused
  cv_.notify_all();
}

void PageWriter::Stop() {
  {
    std::lock_guard lock(mutex_);
    stop_.store(true);
    cv_.notify_all();
  }
  for (auto& t : threads_) {
    if (t->thread.joinable()) t->thread.join();
  }
}

void PageWriter::SetRate(uint64_t bytes_per_s) {
  rate_.store(bytes_per_s);
  pacing_epoch_.fetch_add(1);
}

void PageWriter::SetThrottle(double fraction) {
  throttle_.store(std::clamp(fraction, 0.0, 0.99));
  pacing_epoch_.fetch_add(1);
}

uint64_t PageWriter::PagesWritten() const {
  uint64_t n = 0;
  for (const auto& t : threads_) n += t->pages_written.load(std::memory_order_relaxed);
  return n;
}

uint64_t PageWriter::BusyNs() const {
  uint64_t n = 0;
  for (const auto& t : threads_) n += t->busy_ns.load(std::memory_order_relaxed);
  return n;
}

bool PageWriter::Done() const {
  return stop_.load() || (started_ && finished_.load() >= options_.threads);
}

uint64_t PageWriter::Errors() const { return errors_.load(); }

std::optional<std::string> PageWriter::FirstError() const {
  std::lock_guard lock(mutex_);
  return first_error_;
}

LatencyHistogram PageWriter::Latency() const {
  LatencyHistogram all;
  for (const auto& t : threads_) all.Add(LatencyHistogram(t->latency));
  return all;
}

PageWriter::WriteSpan PageWriter::Span() const {
  WriteSpan span;
  for (const auto& t : threads_) {
    const int64_t first = t->span_first_ns.load(std::memory_order_relaxed);
    if (first != 0 && (span.first_ns == 0 || first < span.first_ns)) span.first_ns = first;
    span.last_ns = std::max(span.last_ns, t->span_last_ns.load(std::memory_order_relaxed));
  }
  span.pages = PagesWritten() - span_base_pages_;
  return span;
}

void PageWriter::ResetWriteSpan() {
  for (auto& t : threads_) {
    t->span_first_ns.store(0, std::memory_order_relaxed);
    t->span_last_ns.store(0, std::memory_order_relaxed);
  }
  span_base_pages_ = PagesWritten();
}

uint64_t PageWriter::VerifyAll(std::string* why) const {
  uint64_t bad = 0;
  std::string first;
  for (size_t i = 0; i < pages_; ++i) {
    const uint8_t* p = base_ + i * kPageSize;
    std::string w;
    bool ok = VerifyPage(p, i, &w);
    if (ok && options_.verify && PageGeneration(p) != generation_[i]) {
      ok = false;
      w = fmt::format("page {}: generation {} but {} was written last (a lost write)", i,
                      PageGeneration(p), generation_[i]);
    }
    if (!ok && bad++ == 0) first = std::move(w);
  }
  if (bad && why) *why = first;
  return bad;
}

void PageWriter::CorruptPageForTest(uint64_t index) {
  if (index >= pages_) throw std::out_of_range(fmt::format("page {} is beyond the region", index));
  const bool was_paused = pause_requested_.load();
  if (!was_paused) Pause();
  base_[index * kPageSize + offsetof(Header, generation)] ^= 0x01;
  if (!was_paused) Resume();
}

void PageWriter::ReportError(std::string why) {
  std::lock_guard lock(mutex_);
  errors_.fetch_add(1);
  if (!first_error_) first_error_ = std::move(why);
  stop_.store(true);
  cv_.notify_all();
}

void PageWriter::WaitWhilePaused() {
  std::unique_lock lock(mutex_);
  ++parked_;
  parked_cv_.notify_all();
  cv_.wait(lock, [this] { return !pause_requested_.load() || stop_.load(); });
  --parked_;
}

void PageWriter::Run(int t) {
  ThreadState& st = *threads_[static_cast<size_t>(t)];
  const auto threads = static_cast<uint64_t>(options_.threads);
  Cursor cursor{.lo = static_cast<uint64_t>(t) * pages_ / threads,
                .hi = (static_cast<uint64_t>(t) + 1) * pages_ / threads,
                .pattern = options_.pattern,
                .rng = Rng{Mix(options_.seed + static_cast<uint64_t>(t)) | 1}};
  const bool verify = options_.verify, timed = options_.record_latency;
  const bool check_header = verify || options_.check_header;
  std::atomic<uint64_t>* const bitmap = options_.dirty_bitmap;
  const Hook hook = options_.hook;
  void* const hook_context = options_.hook_context;

  std::vector<uint64_t> order(4096);  // the current slice's page indices
  uint64_t busy = 0;                  // ns spent in slices, published to st.busy_ns
  uint64_t written = 0;               // published to st.pages_written after each slice
  Pacer pacer;
  bool done = false;

  auto write_one = [&](uint64_t i) -> bool {
    uint8_t* p = base_ + i * kPageSize;
    // Read before write: the load is issued out of order, ahead of earlier stores, so the cache
    // misses of many pages overlap (a store-only loop drains its misses one by one: ~4x slower).
    const uint64_t old_generation = PageGeneration(p);
    if (check_header && !HeaderIntact(p, i)) {
      std::string why;
      VerifyPage(p, i, &why);
      ReportError(why.empty() ? fmt::format("page {}: header corrupted", i) : why);
      return false;
    }
    if (verify && old_generation != generation_[i]) {
      ReportError(fmt::format("page {}: generation {} but {} was written last (a lost write)", i,
                              old_generation, generation_[i]));
      return false;
    }
    const uint64_t g = old_generation + 1;  // the page's own write counter
    // Only generation and check change (magic and index stay from Preheat): one 16-byte store.
    const uint64_t update[2] = {g, HeaderCheck(i, g)};
    if (timed) {
      const int64_t t0 = NowNs();
      GuestStore(p + offsetof(Header, generation), update, sizeof update);
      st.latency.Record(static_cast<uint64_t>(NowNs() - t0));
    } else {
      GuestStore(p + offsetof(Header, generation), update, sizeof update);
    }
    if (verify) generation_[i] = g;
    if (bitmap) bitmap[i / 64].fetch_or(uint64_t{1} << (i % 64), std::memory_order_release);
    if (hook) hook(hook_context, i);
    return true;
  };

  while (!done && !stop_.load(std::memory_order_relaxed)) {
    if (pause_requested_.load(std::memory_order_acquire)) {
      WaitWhilePaused();
      continue;
    }
    const uint64_t epoch = pacing_epoch_.load(std::memory_order_relaxed);
    const uint64_t rate = rate_.load(std::memory_order_relaxed);
    const double throttle = throttle_.load(std::memory_order_relaxed);
    const int64_t work_start = NowNs();
    const uint64_t slice = pacer.Slice(epoch, rate, throttle, options_.threads, work_start);
    if (slice == 0) continue;
    // The slice's page indices first, so that the writes can prefetch kAhead pages in advance:
    // the pages' cache and TLB misses then overlap instead of stalling one after the other.
    bool pass_done = false;
    const uint64_t n = cursor.Fill(order, slice, pass_done);
    constexpr uint64_t kAhead = 64;
    for (uint64_t a = 0; a < std::min(n, kAhead); ++a)
      __builtin_prefetch(base_ + order[a] * kPageSize, 1);
    uint64_t k = 0;
    for (; k < n; ++k) {
      if (k + kAhead < n) __builtin_prefetch(base_ + order[k + kAhead] * kPageSize, 1);
      if (!write_one(order[k])) {
        done = true;
        break;
      }
      if (pause_requested_.load(std::memory_order_relaxed)) {
        ++k;
        break;
      }
    }
    if (k < n && cursor.pattern != WritePattern::kRandom) {
      cursor.next = order[k];  // paused mid-slice: the unwritten pages come first next time
    } else if (pass_done && !done) {
      done = true;  // kOnce: every page of the slice written once
    }
    written += k;
    pacer.paced += static_cast<double>(k);
    st.pages_written.store(written, std::memory_order_relaxed);
    const int64_t work_end = NowNs();
    if (k > 0) {
      if (st.span_first_ns.load(std::memory_order_relaxed) == 0)
        st.span_first_ns.store(work_start, std::memory_order_relaxed);
      st.span_last_ns.store(work_end, std::memory_order_relaxed);
    }
    busy += static_cast<uint64_t>(work_end - work_start);
    st.busy_ns.store(busy, std::memory_order_relaxed);
    if (rate == 0 && throttle > 0 && k > 0) {
      // A throttled vCPU: sleep in proportion to the time worked.
      const int64_t worked = NowNs() - work_start;
      SleepUntilNs(NowNs() +
                   static_cast<int64_t>(static_cast<double>(worked) * throttle / (1.0 - throttle)));
    }
  }
  std::lock_guard lock(mutex_);
  finished_.fetch_add(1);
  parked_cv_.notify_all();
}

}  // namespace migtest
