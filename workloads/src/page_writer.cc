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

// How far ahead of its writes a writer prefetches, in pages, in two steps. Every header a writer
// touches is the first line of a 4 KiB page, so all of them fall into one set of the L1 cache
// (bench/workloads.sh's host: 48 KiB, 12 ways, 64 sets: 12 header lines at once), whatever the
// pattern. One prefetch into L1 16 pages ahead (as before) evicts its own earlier prefetches from
// that set before their writes. So a page is fetched into L2 (whose set index takes physical bits
// above the page offset, out of the conflict) kFar pages ahead, which also walks the page tables
// for its TLB entry, and moved into L1 kNear pages ahead, fewer than the set's ways. Measured (the
// kNone loop alone, 256 MiB, variants interleaved 200 ms at a time, median of 20-40 rounds):
// random 1.12-1.18x the single prefetch, sequential 1.00-1.11x. Sequential is near what the page
// walks allow anyway (a 1-byte read per page, no write: 11.3 ns a page; this loop: ~11.6 ns).
constexpr uint64_t kFar = 32;  // a power of two: random's ring of coming picks is this long
constexpr uint64_t kNear = 4;

// Which pages a writer thread writes next, from its slice [lo, hi) of the guest. Sequential and
// once walk `next`; random keeps its next kFar picks in a ring (written in the order picked),
// so that the pages kNear and kFar writes ahead are known and can be prefetched.
struct Cursor {
  uint64_t lo, hi;
  WritePattern pattern;
  Rng rng;
  uint64_t next = lo;        // sequential/once: the page to write next
  uint64_t ring[kFar] = {};  // random: the coming picks, ring[head] first
  uint64_t head = 0;

  uint64_t Pick() { return lo + rng.Below(hi - lo); }
  void Start() {
    if (pattern == WritePattern::kRandom)
      for (uint64_t& r : ring) r = Pick();
  }
};

// What a writer checks before each write (fixed for its run).
enum class Check {
  kNone,
  kHeader,      // the header on its own (Options::check_header)
  kGeneration,  // the header and the generation last written (Options::verify)
};

// Everything the per-page loop reads, as values: the page stores go through char-typed memcpy,
// which may alias any memory, so anything the loop read through `this` (base_, options_, the
// captured flags) would be reloaded from memory on every page.
struct Hot {
  uint8_t* base;
  uint64_t* generation;  // Check::kGeneration: last generation written per page
  std::atomic<uint64_t>* bitmap;
  PageWriter::Hook hook;
  void* hook_context;
  LatencyHistogram* latency;  // timed
  const std::atomic<bool>* pause;
};

struct SliceOutcome {
  uint64_t written = 0;
  bool failed = false;  // the page `failed_page` did not pass the check (it was not written)
  uint64_t failed_page = 0;
  bool pass_done = false;  // kOnce: the last page of the slice was written
};

// One page: read before write (the load is issued out of order, ahead of earlier stores, so the
// cache misses of many pages overlap; a store-only loop drains its misses one by one, ~4x
// slower), the check, then only generation and check change (magic and index stay from Preheat):
// one 16-byte store. False if the check fails (nothing written).
template <Check kCheck, bool kTimed, bool kNotify>
inline bool WriteOne(const Hot& h, uint64_t i) {
  uint8_t* p = h.base + i * kPageSize;
  uint64_t g;
  std::memcpy(&g, p + offsetof(Header, generation), sizeof g);
  if constexpr (kCheck != Check::kNone) {
    uint64_t magic, index, check;
    std::memcpy(&magic, p + offsetof(Header, magic), sizeof magic);
    std::memcpy(&index, p + offsetof(Header, index), sizeof index);
    std::memcpy(&check, p + offsetof(Header, check), sizeof check);
    if (magic != kMagic || index != i || check != HeaderCheck(i, g)) return false;
    if constexpr (kCheck == Check::kGeneration) {
      if (g != h.generation[i]) return false;
    }
  }
  ++g;  // the page's own write counter
  const uint64_t update[2] = {g, HeaderCheck(i, g)};
  if constexpr (kTimed) {
    const int64_t t0 = NowNs();
    GuestStore(p + offsetof(Header, generation), update, sizeof update);
    h.latency->Record(static_cast<uint64_t>(NowNs() - t0));
  } else {
    GuestStore(p + offsetof(Header, generation), update, sizeof update);
  }
  if constexpr (kCheck == Check::kGeneration) h.generation[i] = g;
  if constexpr (kNotify) {
    if (h.bitmap) h.bitmap[i / 64].fetch_or(uint64_t{1} << (i % 64), std::memory_order_release);
    if (h.hook) h.hook(h.hook_context, i);
  }
  return true;
}

// Without -mprfchw GCC emits read prefetches (prefetcht0, prefetcht1) for these: measured no
// slower than PREFETCHW here (the line arrives exclusive, the page being the writer's alone), and
// the static guest binary must run on CPUs without PREFETCHW.
inline void PrefetchToL2(const void* p) { __builtin_prefetch(p, 1, 2); }
inline void PrefetchToL1(const void* p) { __builtin_prefetch(p, 1, 3); }

// Up to `n` pages from the cursor, stopping early at a failed check, the end of a kOnce pass or a
// pause request (looked at after every page, so that Pause() returns within a page write). One
// instance per combination of checks, so the loop tests no option per page.
template <Check kCheck, bool kTimed, bool kNotify>
SliceOutcome WriteSlice(const Hot& hot, Cursor& cursor, uint64_t n) {
  const Hot h = hot;
  Cursor c = cursor;  // a local copy: kept in registers, not reloaded after each page store
  SliceOutcome out;
  uint64_t k = 0;
  if (c.pattern == WritePattern::kRandom) {
    uint64_t head = c.head;
    while (k < n) {
      const uint64_t i = c.ring[head];
      PrefetchToL1(h.base + c.ring[(head + kNear) % kFar] * kPageSize);
      if (!WriteOne<kCheck, kTimed, kNotify>(h, i)) {
        out.failed = true;
        out.failed_page = i;
        break;
      }
      ++k;
      const uint64_t pick = c.Pick();
      c.ring[head] = pick;
      PrefetchToL2(h.base + pick * kPageSize);
      head = (head + 1) % kFar;
      if (h.pause->load(std::memory_order_relaxed)) break;
    }
    c.head = head;
  } else {
    const uint64_t lo = c.lo, hi = c.hi, span = hi - lo;
    const bool once = c.pattern == WritePattern::kOnce;
    uint64_t next = c.next;
    auto ahead = [&](uint64_t d) {  // the page d writes after `next`, in the slice
      const uint64_t a = next + d;
      return a < hi ? a : lo + (a - lo) % span;
    };
    while (k < n) {
      PrefetchToL2(h.base + ahead(kFar) * kPageSize);
      PrefetchToL1(h.base + ahead(kNear) * kPageSize);
      if (!WriteOne<kCheck, kTimed, kNotify>(h, next)) {
        out.failed = true;
        out.failed_page = next;
        break;
      }
      ++k;
      if (++next == hi) {
        next = lo;
        if (once) {
          out.pass_done = true;
          break;
        }
      }
      if (h.pause->load(std::memory_order_relaxed)) break;
    }
    c.next = next;
  }
  cursor = c;
  out.written = k;
  return out;
}

using SliceFn = SliceOutcome (*)(const Hot&, Cursor&, uint64_t);

template <Check kCheck>
SliceFn PickSlice(bool timed, bool notify) {
  if (timed) return notify ? &WriteSlice<kCheck, true, true> : &WriteSlice<kCheck, true, false>;
  return notify ? &WriteSlice<kCheck, false, true> : &WriteSlice<kCheck, false, false>;
}

SliceFn PickSlice(Check check, bool timed, bool notify) {
  switch (check) {
    case Check::kNone:
      return PickSlice<Check::kNone>(timed, notify);
    case Check::kHeader:
      return PickSlice<Check::kHeader>(timed, notify);
    case Check::kGeneration:
      return PickSlice<Check::kGeneration>(timed, notify);
  }
  return nullptr;
}

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

// A writer's check before a write failed on page `i` (left as it was found): says why.
void PageWriter::ReportCheckFailure(uint64_t i) {
  const uint8_t* p = base_ + i * kPageSize;
  if (!HeaderIntact(p, i)) {
    std::string why;
    VerifyPage(p, i, &why);
    ReportError(why.empty() ? fmt::format("page {}: header corrupted", i) : why);
    return;
  }
  ReportError(fmt::format("page {}: generation {} but {} was written last (a lost write)", i,
                          PageGeneration(p), generation_[i]));
}

void PageWriter::Run(int t) {
  ThreadState& st = *threads_[static_cast<size_t>(t)];
  const auto threads = static_cast<uint64_t>(options_.threads);
  Cursor cursor{.lo = static_cast<uint64_t>(t) * pages_ / threads,
                .hi = (static_cast<uint64_t>(t) + 1) * pages_ / threads,
                .pattern = options_.pattern,
                .rng = Rng{Mix(options_.seed + static_cast<uint64_t>(t)) | 1}};
  cursor.Start();
  const Check check = options_.verify         ? Check::kGeneration
                      : options_.check_header ? Check::kHeader
                                              : Check::kNone;
  const Hot hot{.base = base_,
                .generation = generation_.data(),
                .bitmap = options_.dirty_bitmap,
                .hook = options_.hook,
                .hook_context = options_.hook_context,
                .latency = &st.latency,
                .pause = &pause_requested_};
  const SliceFn write_slice = PickSlice(
      check, options_.record_latency, options_.dirty_bitmap != nullptr || options_.hook != nullptr);

  uint64_t busy = 0;     // ns spent in slices, published to st.busy_ns
  uint64_t written = 0;  // published to st.pages_written after each slice
  Pacer pacer;
  bool done = false;

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
    const SliceOutcome out = write_slice(hot, cursor, slice);
    if (out.failed) {
      ReportCheckFailure(out.failed_page);
      done = true;
    } else if (out.pass_done) {
      done = true;  // kOnce: every page of the thread's part written once
    }
    const uint64_t k = out.written;
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
