#include "latency_histogram.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>

namespace migtest {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

// Single-writer increment: no locked instruction, readers still see whole values.
inline void Bump(std::atomic<uint64_t>& a, uint64_t by) {
  a.store(a.load(kRelaxed) + by, kRelaxed);
}

}  // namespace

int LatencyHistogram::BucketIndex(uint64_t ns) {
  if (ns < static_cast<uint64_t>(kSub)) return static_cast<int>(ns);
  const int exponent = 63 - std::countl_zero(ns);  // >= kSubBits
  const int shift = exponent - kSubBits;
  const int mantissa = static_cast<int>((ns >> shift) & (kSub - 1));
  return (shift + 1) * kSub + mantissa;
}

uint64_t LatencyHistogram::BucketLower(int index) {
  if (index < kSub) return static_cast<uint64_t>(index);
  const int shift = index / kSub - 1;
  const uint64_t mantissa = static_cast<uint64_t>(index % kSub);
  return (uint64_t{kSub} + mantissa) << shift;
}

uint64_t LatencyHistogram::BucketUpper(int index) {
  if (index + 1 >= kBuckets) return UINT64_MAX;
  return BucketLower(index + 1);
}

int LatencyHistogram::MigmonIndex(uint64_t ns) {
  const uint64_t us = ns / 1000;
  if (us <= 1) return 0;
  const int k = 64 - std::countl_zero(us - 1);  // ceil(log2(us))
  return std::min(k, kMigmonBuckets - 1);
}

LatencyHistogram::LatencyHistogram() : counts_(new std::atomic<uint64_t>[kBuckets]) {
  for (int i = 0; i < kBuckets; ++i) counts_[i].store(0, kRelaxed);
}

LatencyHistogram::LatencyHistogram(const LatencyHistogram& other) : LatencyHistogram() {
  *this = other;
}

LatencyHistogram& LatencyHistogram::operator=(const LatencyHistogram& other) {
  if (this == &other) return *this;
  for (int i = 0; i < kBuckets; ++i) counts_[i].store(other.counts_[i].load(kRelaxed), kRelaxed);
  for (int i = 0; i < kMigmonBuckets; ++i)
    migmon_[i].store(other.migmon_[i].load(kRelaxed), kRelaxed);
  count_.store(other.count_.load(kRelaxed), kRelaxed);
  sum_ns_.store(other.sum_ns_.load(kRelaxed), kRelaxed);
  min_ns_.store(other.min_ns_.load(kRelaxed), kRelaxed);
  max_ns_.store(other.max_ns_.load(kRelaxed), kRelaxed);
  exact_extremes_ = other.exact_extremes_;
  return *this;
}

void LatencyHistogram::Record(uint64_t ns) {
  Bump(counts_[BucketIndex(ns)], 1);
  Bump(migmon_[MigmonIndex(ns)], 1);
  Bump(sum_ns_, ns);
  if (ns < min_ns_.load(kRelaxed)) min_ns_.store(ns, kRelaxed);
  if (ns > max_ns_.load(kRelaxed)) max_ns_.store(ns, kRelaxed);
  // The count last: a reader that sees it sees (nearly) consistent buckets.
  count_.store(count_.load(kRelaxed) + 1, std::memory_order_release);
}

void LatencyHistogram::Add(const LatencyHistogram& other) {
  for (int i = 0; i < kBuckets; ++i) Bump(counts_[i], other.counts_[i].load(kRelaxed));
  for (int i = 0; i < kMigmonBuckets; ++i) Bump(migmon_[i], other.migmon_[i].load(kRelaxed));
  Bump(count_, other.count_.load(std::memory_order_acquire));
  Bump(sum_ns_, other.sum_ns_.load(kRelaxed));
  min_ns_.store(std::min(min_ns_.load(kRelaxed), other.min_ns_.load(kRelaxed)), kRelaxed);
  max_ns_.store(std::max(max_ns_.load(kRelaxed), other.max_ns_.load(kRelaxed)), kRelaxed);
  exact_extremes_ = exact_extremes_ && other.exact_extremes_;
}

LatencyHistogram LatencyHistogram::Since(const LatencyHistogram& earlier) const {
  LatencyHistogram d;
  uint64_t n = 0;
  int lo = -1, hi = -1;
  for (int i = 0; i < kBuckets; ++i) {
    const uint64_t now = counts_[i].load(kRelaxed), then = earlier.counts_[i].load(kRelaxed);
    const uint64_t c = now > then ? now - then : 0;
    d.counts_[i].store(c, kRelaxed);
    if (c) {
      n += c;
      if (lo < 0) lo = i;
      hi = i;
    }
  }
  for (int i = 0; i < kMigmonBuckets; ++i) {
    const uint64_t now = migmon_[i].load(kRelaxed), then = earlier.migmon_[i].load(kRelaxed);
    d.migmon_[i].store(now > then ? now - then : 0, kRelaxed);
  }
  d.count_.store(n, kRelaxed);
  const uint64_t s1 = sum_ns_.load(kRelaxed), s0 = earlier.sum_ns_.load(kRelaxed);
  d.sum_ns_.store(s1 > s0 ? s1 - s0 : 0, kRelaxed);
  if (n) {
    d.min_ns_.store(BucketLower(lo), kRelaxed);
    // The bucket bound, but never above the true overall maximum.
    d.max_ns_.store(std::min(BucketUpper(hi) - 1, max_ns_.load(kRelaxed)), kRelaxed);
  }
  d.exact_extremes_ = false;
  return d;
}

uint64_t LatencyHistogram::Count() const { return count_.load(std::memory_order_acquire); }
uint64_t LatencyHistogram::MinNs() const { return Count() ? min_ns_.load(kRelaxed) : 0; }
uint64_t LatencyHistogram::MaxNs() const { return max_ns_.load(kRelaxed); }
double LatencyHistogram::MeanNs() const {
  const uint64_t n = Count();
  return n ? static_cast<double>(sum_ns_.load(kRelaxed)) / static_cast<double>(n) : 0.0;
}

uint64_t LatencyHistogram::PercentileNs(double p) const {
  uint64_t total = 0;
  for (int i = 0; i < kBuckets; ++i) total += counts_[i].load(kRelaxed);
  if (total == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // The rank of the sample (1-based, nearest-rank method).
  uint64_t rank = static_cast<uint64_t>(p / 100.0 * static_cast<double>(total) + 0.999999);
  rank = std::clamp<uint64_t>(rank, 1, total);
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i].load(kRelaxed);
    if (seen >= rank) {
      const uint64_t lo = BucketLower(i), hi = BucketUpper(i);
      uint64_t mid = lo + (hi - lo) / 2;
      if (hi - lo <= 1) mid = lo;  // exact small values
      // Never report beyond the true extremes.
      mid = std::min(mid, max_ns_.load(kRelaxed));
      if (exact_extremes_) mid = std::max(mid, min_ns_.load(kRelaxed));
      return mid;
    }
  }
  return max_ns_.load(kRelaxed);
}

std::array<uint64_t, LatencyHistogram::kMigmonBuckets> LatencyHistogram::MigmonBuckets() const {
  std::array<uint64_t, kMigmonBuckets> out{};
  for (int i = 0; i < kMigmonBuckets; ++i) out[i] = migmon_[i].load(kRelaxed);
  return out;
}

std::string LatencyHistogram::MigmonText() const {
  std::string out;
  const auto b = MigmonBuckets();
  for (int i = 0; i < kMigmonBuckets; ++i)
    out += fmt::format("{} (us): {}\n", uint64_t{1} << i, b[i]);
  return out;
}

std::vector<LatencyHistogram::Bucket> LatencyHistogram::NonEmptyBuckets() const {
  std::vector<Bucket> out;
  for (int i = 0; i < kBuckets; ++i) {
    if (const uint64_t c = counts_[i].load(kRelaxed))
      out.push_back({BucketLower(i), BucketUpper(i), c});
  }
  return out;
}

}  // namespace migtest
