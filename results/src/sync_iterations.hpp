// Precopy iterations from dirty-bitmap syncs: iteration N is what happened between sync N and sync
// N+1 (the last one: between its sync and the end of the migration).
//
// How well a boundary is known depends on who saw the sync. A polled query-migrate transcript sees
// a sync only at the first poll whose dirty-sync-count shows it: the sync happened between that
// poll and the one before, and the boundary is taken at that poll (poll-bounded). A QEMU trace
// (migration_bitmap_sync_start) gives the sync's own time. Both become SyncMarks; this builds the
// iterations from them and fills only what both ends of an iteration know.
//
// **Example** (two polls and the completed reply):
//
//   std::vector<SyncMark> marks = {{.sync = 1, .at = 3ms, .transferred = 0},
//                                  {.sync = 2, .at = 850ms, .transferred = 520 << 20, .poll = 3}};
//   SyncMark end{.sync = 2, .at = 900ms, .transferred = 530 << 20, .poll = 4};
//   auto its = IterationsFromSyncs(marks, end);   // 1: 847ms, 520 MiB; 2: 50ms, 10 MiB
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "migtest/results/model.hpp"

namespace migtest::internal {

// One dirty-bitmap sync as far as it is known, or (as `end`) the end of the migration.
struct SyncMark {
  uint64_t sync = 0;                    // the dirty-sync-count this sync made (1 = the first)
  std::optional<Duration> at;           // offset from the migration's start
  std::optional<uint64_t> transferred;  // bytes sent by then
  std::optional<uint64_t> pages;        // pages sent by then
  // The poll that first showed this sync (its index in the transcript); nullopt when `at` is the
  // sync's own time. Two marks of one poll bound nothing between them: that iteration began and
  // ended between two polls, and its length and bytes are unknown, not 0.
  std::optional<size_t> poll;
  // What the VMM reported with the sync, kept on the iteration it begins.
  std::optional<uint64_t> remaining_bytes;
  std::optional<double> bandwidth_mib_s;  // MiB/s
  std::optional<Duration> est_downtime;
  std::optional<double> dirty_pages_rate;  // pages/s
  std::optional<double> cpu_throttle_percent;
};

// `marks` in sync order, one per sync seen (a sync count that stepped by more than one leaves the
// syncs between unseen: their iterations are listed with their index only). `end` is the
// migration's end (completion or failure), or nullopt while it runs (the last iteration then has
// only its start).
std::vector<Iteration> IterationsFromSyncs(const std::vector<SyncMark>& marks,
                                           const std::optional<SyncMark>& end);

}  // namespace migtest::internal
