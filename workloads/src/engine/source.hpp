// The engine's source side (migmon migrate -s): the guest's memory and its vCPU writers, dirty
// tracking, and the migration of it all to a destination. Internal to migmon migrate.
//
// Where what is:
//   source.cc           the run: the guest, the handshake, sending pages, the destination's
//                       resume and verification, the result
//   source_precopy.cc   precopy iterations, auto-converge, stop-and-copy
//   source_postcopy.cc  the switch to postcopy, page requests served, the background push
//   source_faults.cc    injected faults and test knobs, and what a failed migration leaves: the
//                       guest running on here, checked
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.hpp"
#include "engine/protocol.hpp"
#include "engine/wp_tracker.hpp"
#include "page_writer.hpp"

namespace migtest::engine {

struct SourceOptions {
  std::string host;
  uint16_t port = 0;
  uint64_t memory = 0;
  int vcpus = 1;
  uint64_t dirty_rate = 0;
  std::string pattern = "sequential";
  int64_t downtime_limit_ms = 300;
  uint64_t max_bandwidth = 0;  // bytes/s, 0 = unlimited
  int max_iterations = 30;
  int postcopy_after = -1;  // iterations before switching to postcopy; -1 = precopy only
  bool auto_converge = false;
  std::string dirty_tracking = "bitmap";
  std::string json_file;
  bool tlmz = false;
  int stall_iteration = 0;
  int64_t stall_ms = 0;
  uint64_t drop_after = 0;
  uint16_t echo_port = 0;
  int64_t linger_ms = 100;
  // After a failed precopy the guest keeps running here this long, its writers verifying every
  // page before they rewrite it; then all of memory is checked (the result's `guest` part).
  int64_t run_after_failure_ms = 0;
  // Test knob: this page is corrupted (a body byte) once a failed migration left the guest here,
  // as a failure path that damages the guest would: the check after the failure must say so.
  int64_t corrupt_page = -1;
  // Test knob: the writers of the guest a failure left here stop this many ms into
  // --run-after-failure (the guest's run is then shorter than asked: its figure must say so).
  int64_t stop_writers_after_ms = -1;
  SlowPhase slow_phase;     // test knob (source or destination side, by phase)
  uint64_t lose_dirty = 0;  // test knob: pages whose dirty tracking breaks at kLoseDirtyIteration
};

class Source {
 public:
  explicit Source(SourceOptions o)
      : o_(std::move(o)),
        mem_(o_.memory),
        pages_(o_.memory / kPageSize),
        dirty_((pages_ + 63) / 64),
        untracked_(o_.lose_dirty > 0 ? pages_ : 0) {}

  // Runs the guest, migrates it, writes the result. Returns the exit code.
  int Run();

 private:
  static constexpr uint64_t kRunPages = 64;  // pages per kPages message (256 KiB)

  // source.cc
  void StartGuest();
  void Tlmz(std::string_view line);
  std::vector<uint64_t> CollectDirty();
  uint64_t CountDirty() const;
  uint64_t SendPages(const std::vector<uint64_t>& bits);
  void Pace();
  void Migrate(int64_t t_start);
  void Handshake(int64_t t_start);
  int64_t ReceiveResumed(std::vector<int64_t>* checkpoints);
  nlohmann::json VerifyAgainstMemory(bool* verified);
  static std::string FormatPhases(const std::vector<Phase>& phases);
  std::vector<uint64_t> StateTable() const;
  void Finish();

  // source_precopy.cc
  bool Precopy(int64_t t_start, uint64_t& total_sent);
  const Iteration& PrecopyIteration(int index, int64_t t_start, uint64_t& total_sent,
                                    double& bandwidth);
  void AutoConverge(uint64_t sent, uint64_t dirty_now);
  void StopAndCopy(int64_t t_start, uint64_t total_sent);

  // source_postcopy.cc
  void MarkSent(uint64_t first, uint64_t n);
  void RunPostcopy(int64_t t_start);
  std::vector<int64_t> SwitchToPostcopy();
  Channel OpenUrgentChannel();
  void ServePageRequests(Channel& urgent);
  uint64_t PushUnsent(const std::atomic<bool>& failed);
  void FinishPostcopy(int64_t t_start, int64_t t_pushed, std::vector<int64_t> checkpoints);

  // source_faults.cc
  static void MarkDirty(void* context, uint64_t page);
  void BreakDirtyTracking();
  void InjectStall(int iteration);
  void Failed(const std::exception& e);
  void KeepGuestRunning();
  void LetGuestRun();
  void RunGuestAfterFailure();

  SourceOptions o_;
  std::string phase_ = "start";  // where a failure happened, for its message
  bool guest_kept_ = false;      // a failed precopy left the guest running here
  std::optional<GuestResult> guest_after_failure_;
  Memory mem_;
  uint64_t pages_;
  std::vector<std::atomic<uint64_t>> dirty_;
  uint64_t pages_on_wire_ = 0;  // pages sent in kPages messages on the main channel
  // --test-lose-dirty: pages whose writes are not logged (read by the writers' hook and the
  // trap handler, so declared before them), and how many writes went unlogged.
  std::vector<std::atomic<uint8_t>> untracked_;
  std::atomic<uint64_t> lost_dirty_writes_{0};
  // wp_ before writer_: the writers stop (destructor) before their trap handler goes.
  std::unique_ptr<WpTracker> wp_;  // --dirty-tracking uffd-wp
  std::unique_ptr<PageWriter> writer_;
  GuestEcho echo_;
  Channel ch_;
  MigrationResult result_;
  std::optional<Duration> result_total_;
  int64_t clock_offset_ = 0;
  int64_t clock_uncertainty_ = 0;
  int64_t pace_start_ = 0, second_start_ = 0;
  uint64_t pace_bytes_ = 0, second_bytes_ = 0;
  bool postcopy_started_ = false;
  bool resumed_ = false;            // the destination runs the guest
  int64_t t_last_iter_end_ = 0;     // mono ns: the last precopy round's end
  int consecutive_high_dirty_ = 0;  // auto-converge: rounds in a row dirtying over half sent
  double throttle_ = 0;             // auto-converge: the vCPUs' throttle now
  // Postcopy: which pages went over (pushed or requested), and how many requests were served.
  std::mutex sent_mutex_;
  std::vector<bool> sent_;
  std::atomic<uint64_t> requests_served_{0};
};

}  // namespace migtest::engine
