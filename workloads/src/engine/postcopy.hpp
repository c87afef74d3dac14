// The destination's side of postcopy: guest memory registered with userfaultfd (missing mode).
// A vCPU touching a page that is not there blocks in the kernel; the fault thread asks the source
// for it over the urgent channel; the page is installed with UFFDIO_COPY (which wakes the vCPU)
// by whichever arrives first, the reply or the background push. Every request's latency (fault
// read → page installed) is kept.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/protocol.hpp"

namespace migtest::engine {

class PostcopyDestination {
 public:
  // Registers [base, base + pages × 4 KiB) with a new userfaultfd. The region must be untouched.
  PostcopyDestination(uint8_t* base, uint64_t pages);
  ~PostcopyDestination();
  PostcopyDestination(const PostcopyDestination&) = delete;
  PostcopyDestination& operator=(const PostcopyDestination&) = delete;

  // Places a page (UFFDIO_COPY) unless it is already there. Thread-safe.
  void Install(uint64_t page, const uint8_t* data);
  // Postcopy starts: the fault thread and the urgent channel's receiver run; pages installed
  // from now on are checked against `table` (the source's generation of each page).
  void Start(Channel urgent, std::vector<uint64_t> table);
  // Checks the pages present at the switch against the table.
  bool VerifyPresent(std::string* why);
  // Waits (20 s at most) until every page is present, then ends the urgent channel.
  void Finish();
  bool Verified(std::string* why) const;
  std::vector<Duration> Latencies() const;
  uint64_t discarded() const { return discarded_; }  // stale precopy pages dropped at the switch
  void Stop();                                       // idempotent

 private:
  void FaultLoop();
  void UrgentLoop();
  void Check(uint64_t page, const uint8_t* content);

  uint8_t* base_;
  uint64_t pages_;
  Fd uffd_;
  std::vector<std::atomic<uint8_t>> present_;
  std::vector<std::atomic<int64_t>> requested_at_;  // mono ns, 0 = not requested
  std::atomic<uint64_t> present_count_{0};
  std::vector<uint64_t> table_;
  std::atomic<bool> started_{false};
  uint64_t discarded_ = 0;
  std::atomic<bool> stop_{false};
  Channel urgent_;
  std::mutex urgent_send_;
  std::thread fault_thread_, urgent_thread_;
  mutable std::mutex mutex_;
  std::vector<Duration> latencies_;
  std::string first_error_;
  std::string urgent_error_;
};

}  // namespace migtest::engine
