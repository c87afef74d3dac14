// PageWriter: the dirtier's core. Writes 4 KiB pages of a memory region with a pattern, at a
// rate, from N threads, every page carrying content that can be checked on its own. Used by
// `migmon mm_dirty` (the guest dirtier) and by the embedded migration engine's "vCPUs".
//
// Page layout (every 4 KiB page of the region, also inside huge pages):
//   bytes  0..31   header: magic, page index, generation, checksum(magic, index, generation)
//   bytes 32..4095 body: a fill derived from the page index alone, written once by Preheat()
// A write reads the page's generation and stores generation + 1 and the new checksum (16 bytes
// of one cache line: as cheap as mig_mon's one-byte touch), so the generation counts the page's
// writes. VerifyPage() checks header and body, so a page copied to the wrong place,
// a torn or garbled page, or an unwritten page is caught without knowing anything else; a *lost*
// write (an older but self-consistent page) is caught by the writer itself with
// `verify = true`, which compares the generation it finds with the one it last wrote.
//
// Threads own disjoint slices of the pages (thread t of T: pages [t*n/T, (t+1)*n/T)), so no two
// writers ever touch the same page and the per-page generation needs no atomics.
//
// **Example** (the engine's source side):
//
//   std::vector<std::atomic<uint64_t>> dirty((pages + 63) / 64);
//   migtest::PageWriter::Options o;
//   o.pattern = migtest::WritePattern::kRandom;
//   o.rate_bytes_per_s = 200ull << 20;   // 200 MiB/s over all threads
//   o.threads = 2;
//   o.dirty_bitmap = dirty.data();        // bit i set (release) after each write of page i
//   migtest::PageWriter writer(mem, bytes, o);
//   writer.Preheat();                     // every page gets generation 0 content
//   writer.Start();
//   ...                                   // dirty[w].exchange(0, std::memory_order_acquire), copy
//   writer.SetThrottle(0.3);              // auto-converge: 30 % less dirtying
//   writer.Pause();                       // returns when no writer is mid-write: downtime begins
//   ...                                   // copy the rest; every page is consistent now
//   writer.Stop();
//
//   std::string why;
//   if (!migtest::VerifyPage(dst + i * migtest::kPageSize, i, &why)) fmt::print("{}\n", why);
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "latency_histogram.hpp"

namespace migtest {

inline constexpr size_t kPageSize = 4096;

enum class WritePattern {
  kSequential,  // each thread walks its slice in order, forever
  kRandom,      // each thread picks uniformly random pages of its slice, forever
  kOnce,        // each thread walks its slice once, then stops (Done() turns true)
};

std::string_view ToString(WritePattern pattern);
std::optional<WritePattern> WritePatternFromString(std::string_view name);

// Writes page `index` with `generation`: the header always, the body too when `with_body`.
void WritePage(void* page, uint64_t index, uint64_t generation, bool with_body);
// Checks one page on its own (header checksum, index, body fill). On failure says why in `why`
// (may be null), e.g. "page 17: header names page 4 (a page copied to the wrong place?)".
bool VerifyPage(const void* page, uint64_t index, std::string* why);
// The header alone (magic, index, checksum): what a writer checks before it rewrites a page.
bool HeaderIntact(const void* page, uint64_t index);
// The generation stored in a page's header (meaningful only when VerifyPage passes).
uint64_t PageGeneration(const void* page);
// Test knob: flips a bit of the header's checksum, leaving the page as a copy read mid-write
// leaves it (a generation whose checksum does not match). VerifyPage then fails on it.
void DamageHeaderForTest(void* page);

class PageWriter {
 public:
  // Called after each write of page `index` (after the write, before the next page).
  using Hook = void (*)(void* context, uint64_t index);

  struct Options {
    WritePattern pattern = WritePattern::kSequential;
    uint64_t rate_bytes_per_s = 0;  // over all threads; 0 = as fast as possible
    int threads = 1;
    // Per-page notification, both optional and cheap: a bitmap (bit i of word i/64 set with
    // fetch_or(release) after page i is written) and/or a plain function pointer.
    std::atomic<uint64_t>* dirty_bitmap = nullptr;
    Hook hook = nullptr;
    void* hook_context = nullptr;
    // Before each write, check the page (header checksum, index, and the generation this writer
    // last wrote there). A mismatch is recorded (FirstError(), Errors()) and stops every writer.
    bool verify = false;
    // Before each write, check the page's header on its own (magic, index, checksum), without a
    // generation table: a writer that does not know what was written last (a destination's
    // guest) still must not hide a torn or damaged page by rewriting it. A bad header is recorded
    // and stops every writer, as with `verify` (which implies this check).
    bool check_header = false;
    // Time each page write (clock_gettime around it) into latency histograms (mm_dirty -L).
    bool record_latency = false;
    uint64_t seed = 0x6d69676d6f6e;  // random pattern's seed (thread t uses seed + t)
  };

  // `base` must be 4 KiB aligned and `bytes` a multiple of 4 KiB (at least one page). The region
  // is not owned. Throws std::invalid_argument otherwise.
  PageWriter(void* base, size_t bytes, Options options);
  ~PageWriter();  // Stop()
  PageWriter(const PageWriter&) = delete;
  PageWriter& operator=(const PageWriter&) = delete;

  // Writes every page once with generation 0, header and body (the pre-heat: faults the memory
  // in, so that the timed run measures writes, not page faults). Call before Start().
  void Preheat();
  // Starts the writer threads. Once only.
  void Start();
  // Blocks the writers. Returns once no writer is mid-write (every page consistent, all writes
  // visible to the caller). Idempotent. Cheap: writers look at a flag before each page.
  void Pause();
  void Resume();
  // Ends the writers and joins them. Idempotent.
  void Stop();

  // Rate in bytes/s over all threads (0 = unlimited); takes effect within a slice (~1 ms).
  void SetRate(uint64_t bytes_per_s);
  // Auto-converge: the writers give up `fraction` (0..0.99) of their time/rate. With a rate, the
  // rate becomes rate × (1 − fraction); unlimited writers sleep fraction/(1 − fraction) of the
  // time they spent writing, as a throttled vCPU does.
  void SetThrottle(double fraction);

  uint64_t PagesWritten() const;  // since Start(), all threads
  // Time the writers spent writing (not sleeping for the rate or paused), summed over threads,
  // in ns: busy / (elapsed × threads()) is mm_dirty's "load".
  uint64_t BusyNs() const;
  int threads() const { return options_.threads; }
  bool Done() const;        // kOnce finished, a verify error, or stopped
  uint64_t Errors() const;  // verify errors found (writers stop at the first)
  std::optional<std::string> FirstError() const;
  // Latency of page writes so far (record_latency), merged over threads.
  LatencyHistogram Latency() const;

  // The writes since the last ResetWriteSpan() (or Start()): when the first slice holding one
  // began and the last one ended (CLOCK_MONOTONIC ns, within a slice: ~1 ms), and how many pages
  // were written. With `verify`/`check_header` each of those writes was checked first. All zero
  // when there were none.
  struct WriteSpan {
    int64_t first_ns = 0;
    int64_t last_ns = 0;
    uint64_t pages = 0;
  };
  WriteSpan Span() const;
  // Starts a new span. Call while paused (Pause() returned), stopped or before Start().
  void ResetWriteSpan();

  // Checks every page: VerifyPage, plus (when verify is on) the expected generation. Call while
  // paused or stopped. Returns the number of bad pages; the first is described in `why`.
  uint64_t VerifyAll(std::string* why) const;

  // Test knob: flips one byte of page `index`'s header generation while the writers are paused,
  // to prove that --verify catches corruption.
  void CorruptPageForTest(uint64_t index);

  size_t pages() const { return pages_; }
  uint8_t* base() const { return base_; }

 private:
  struct alignas(64) ThreadState {
    std::atomic<uint64_t> pages_written{0};
    std::atomic<uint64_t> busy_ns{0};
    std::atomic<int64_t> span_first_ns{0};  // WriteSpan, this thread's part
    std::atomic<int64_t> span_last_ns{0};
    LatencyHistogram latency;
    std::thread thread;
  };
  void Run(int t);
  void WaitWhilePaused();
  void ReportError(std::string why);
  void ReportCheckFailure(uint64_t index);

  uint8_t* base_;
  size_t pages_;
  Options options_;
  std::vector<uint64_t> generation_;  // last generation written per page (verify only)
  uint64_t span_base_pages_ = 0;      // PagesWritten() at ResetWriteSpan()
  std::vector<std::unique_ptr<ThreadState>> threads_;

  std::atomic<bool> stop_{false};
  std::atomic<bool> pause_requested_{false};
  std::atomic<uint64_t> rate_{0};
  std::atomic<double> throttle_{0.0};
  std::atomic<uint64_t> pacing_epoch_{0};  // bumped on rate/throttle change: re-base pacing
  std::atomic<int> running_{0};            // threads not yet finished
  std::atomic<int> finished_{0};
  std::atomic<uint64_t> errors_{0};
  bool started_ = false;

  mutable std::mutex mutex_;
  std::condition_variable cv_;         // writers wait here while paused
  std::condition_variable parked_cv_;  // Pause() waits here for writers to park
  int parked_ = 0;
  std::optional<std::string> first_error_;
};

}  // namespace migtest
