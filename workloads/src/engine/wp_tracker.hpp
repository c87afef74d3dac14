// Dirty tracking by userfaultfd write-protection (--dirty-tracking uffd-wp): the whole guest RAM
// is write-protected at each sync; the first write to a page in an iteration traps, the handler
// thread marks the page dirty and lifts the protection of that one page, as KVM's write-protect
// dirty logging does. Costs a trap per page per iteration, which is the point of measuring it.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#include "common.hpp"

namespace migtest::engine {

class WpTracker {
 public:
  // The region must be populated (pre-heated). Throws RuntimeError naming what the kernel lacks.
  // `untracked` (optional, one flag a page): a trap on a flagged page is not logged in the
  // bitmap but counted in `lost` (the --test-lose-dirty knob: dirty tracking broken on purpose).
  WpTracker(uint8_t* base, uint64_t pages, std::atomic<uint64_t>* bitmap,
            const std::atomic<uint8_t>* untracked = nullptr, std::atomic<uint64_t>* lost = nullptr);
  ~WpTracker();
  WpTracker(const WpTracker&) = delete;
  WpTracker& operator=(const WpTracker&) = delete;

  // Write-protects every page again: writes from now on are caught.
  void ProtectAll();
  uint64_t traps() const { return traps_.load(); }

 private:
  void Loop();
  void Protect(uint64_t first, uint64_t n, bool on);
  uint8_t* base_;
  uint64_t pages_;
  std::atomic<uint64_t>* bitmap_;
  const std::atomic<uint8_t>* untracked_;
  std::atomic<uint64_t>* lost_;
  Fd uffd_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> traps_{0};
  std::thread thread_;
};

}  // namespace migtest::engine
