#include "sync_iterations.hpp"

namespace migtest::internal {
namespace {

Iteration Unseen(uint64_t sync) {
  Iteration it;
  it.index = static_cast<int>(sync);
  return it;
}

// Fills what both ends know. A counter that went backwards belongs to another migration: no figure.
void Bound(Iteration& it, const SyncMark& from, const SyncMark& to) {
  if (from.poll && to.poll && *from.poll == *to.poll) return;  // began and ended between polls
  if (from.at && to.at && *to.at >= *from.at) it.duration = *to.at - *from.at;
  if (from.transferred && to.transferred && *to.transferred >= *from.transferred) {
    it.bytes_sent = *to.transferred - *from.transferred;
  }
  if (from.pages && to.pages && *to.pages >= *from.pages) it.pages_sent = *to.pages - *from.pages;
}

}  // namespace

std::vector<Iteration> IterationsFromSyncs(const std::vector<SyncMark>& marks,
                                           const std::optional<SyncMark>& end) {
  std::vector<Iteration> out;
  if (marks.empty()) return out;
  // Syncs before the first one seen (a transcript that starts late) happened; nothing else is
  // known.
  for (uint64_t n = 1; n < marks.front().sync; ++n) out.push_back(Unseen(n));
  for (size_t i = 0; i < marks.size(); ++i) {
    const SyncMark& m = marks[i];
    Iteration it;
    it.index = static_cast<int>(m.sync);
    it.start = m.at;
    it.remaining_bytes = m.remaining_bytes;
    it.bandwidth_mib_s = m.bandwidth_mib_s;
    it.est_downtime = m.est_downtime;
    it.dirty_pages_rate = m.dirty_pages_rate;
    it.cpu_throttle_percent = m.cpu_throttle_percent;
    // Iteration N ends at the next sync seen; the syncs skipped on the way (the count stepped by
    // more than one between two polls) end it as early, and their own iterations are unseen.
    const SyncMark* next = i + 1 < marks.size() ? &marks[i + 1] : (end ? &*end : nullptr);
    if (next) Bound(it, m, *next);
    out.push_back(it);
    if (i + 1 < marks.size()) {
      for (uint64_t n = m.sync + 1; n < marks[i + 1].sync; ++n) out.push_back(Unseen(n));
    }
  }
  return out;
}

}  // namespace migtest::internal
