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

// This process gets no userfaultfd at all (the system call fails: not root and
// vm.unprivileged_userfaultfd=0, or a kernel without it): postcopy cannot run on this host.
struct NoUserfaultfd : RuntimeError {
  using RuntimeError::RuntimeError;
};

class PostcopyDestination {
 public:
  // Registers [base, base + pages × 4 KiB) with a new userfaultfd. The region must be untouched.
  // Throws NoUserfaultfd when the host gives none, RuntimeError on any other failure.
  PostcopyDestination(uint8_t* base, uint64_t pages);
  ~PostcopyDestination();
  PostcopyDestination(const PostcopyDestination&) = delete;
  PostcopyDestination& operator=(const PostcopyDestination&) = delete;

  // Places a page (UFFDIO_COPY) unless it is already there, checks the copy's content and keeps
  // its generation. Thread-safe after Start(); before it (precopy rounds), one thread only. A copy
  // that arrives torn before Start() is an error only if Start() keeps it.
  void Install(uint64_t page, const uint8_t* data);
  // Postcopy starts: pages whose bit is set in `discard` (the source's dirty bitmap at the
  // switch, one bit a page) are dropped so that they fault and come again (QEMU's discard); then
  // the fault thread and the urgent channel's receiver run.
  void Start(Channel urgent, const std::vector<uint64_t>& discard);
  // Waits (20 s at most) until every page is present, then ends the urgent channel.
  void Finish();
  // After Finish(): every page's generation as installed against `table`, the source's memory
  // as it stopped. A page whose dirty bit was lost still holds the generation precopy sent.
  bool CompareGenerations(const std::vector<uint64_t>& table, std::string* why) const;
  // Content errors of the copies installed (VerifyPage), if any.
  bool Verified(std::string* why) const;
  std::vector<Duration> Latencies() const;
  uint64_t discarded() const { return discarded_; }  // stale precopy pages dropped at the switch
  uint64_t missing() const { return pages_ - present_count_.load(); }  // not (yet) placed
  bool started() const { return started_.load(); }
  // Ends the fault thread and the urgent channel, and wakes every vCPU still waiting for a page
  // (it then finds a zero page: only for a guest that is being given up). Idempotent.
  void Stop();

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
  std::vector<uint64_t> installed_gen_;  // generation of each page's installed copy
  std::vector<uint8_t> torn_;            // precopy copies that failed VerifyPage on arrival
  std::atomic<bool> started_{false};
  uint64_t discarded_ = 0;
  std::atomic<bool> stop_{false};
  // Set once the destination sent kEnd: the source then closes the urgent channel, and the
  // replies to redundant requests still in flight are read and dropped until that EOF.
  std::atomic<bool> ending_{false};
  std::atomic<bool> urgent_done_{false};
  std::atomic<bool> unregistered_{false};
  Channel urgent_;
  std::mutex urgent_send_;
  std::thread fault_thread_, urgent_thread_;
  mutable std::mutex mutex_;
  std::vector<Duration> latencies_;
  std::string first_error_;
  std::string urgent_error_;
};

}  // namespace migtest::engine
