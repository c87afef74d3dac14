// What the embedded migration engine's two sides share beyond the wire protocol: guest memory,
// clock figures in the result's units, the downtime's phases, and the test knobs that play out
// on both sides. Internal to migmon migrate (engine/*.cc).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common.hpp"
#include "page_writer.hpp"

namespace migtest::engine {

// Guest memory: anonymous, 4 KiB aligned, unmapped on every path.
class Memory {
 public:
  explicit Memory(size_t bytes, bool populate = false);
  ~Memory();
  Memory(const Memory&) = delete;
  Memory& operator=(const Memory&) = delete;
  uint8_t* base() const { return base_; }
  size_t bytes() const { return bytes_; }
  uint8_t* page(uint64_t i) const { return base_ + i * kPageSize; }

 private:
  uint8_t* base_ = nullptr;
  size_t bytes_;
};

// Writes `run` as an indented result.json document to `path` (nothing for an empty path).
void WriteJsonFile(const std::string& path, const RunResult& run);

inline double Ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }
inline Duration NsToDuration(int64_t ns) { return Duration(ns / 1000); }

// The downtime's phases, in order: consecutive intervals between checkpoints, from the source's
// pause to the destination's resume. Precopy: the final dirty-bitmap sync, the final pages, the
// device state until the destination has read it (pages still in flight included), the
// destination's check of every page against it, the resume (writers and echo start). Postcopy:
// the dirty-bitmap sync, the discard bitmap until the destination has read it, the urgent
// channel's connection, the discard of stale pages, the resume.
inline constexpr std::array<std::string_view, 5> kPrecopyPhases = {"final_sync", "final_pages",
                                                                   "send_state", "check", "resume"};
inline constexpr std::array<std::string_view, 5> kPostcopyPhases = {
    "sync", "send_state", "urgent_channel", "discard", "resume"};

// Turns checkpoints (mono ns, source clock; first = pause, last = resume) into phases. Clock
// placement across hosts can misorder two checkpoints by up to its uncertainty: each is then
// taken as no earlier than the one before, so the phases still add up to the downtime.
std::vector<Phase> PhasesBetween(const std::array<std::string_view, 5>& names,
                                 std::vector<int64_t> checkpoints);

// --test-slow-phase NAME:MS: the named downtime phase takes MS longer (a sleep where it runs).
struct SlowPhase {
  std::string name;
  int64_t ms = 0;
  void At(std::string_view phase) const {
    if (ms > 0 && phase == name) SleepInterruptible(ms * 1'000'000);
  }
};

// The iteration at whose end --test-lose-dirty breaks dirty tracking: after the full pass and
// one more round, so that every page has been sent before its dirty bit is lost.
inline constexpr int kLoseDirtyIteration = 2;

}  // namespace migtest::engine
