// LatencyHistogram: a log-linear histogram of nanosecond latencies, ~0.8 % bucket width (128
// sub-buckets per power of two), so percentiles come out within ~1 % relative error with
// constant memory; plus mig_mon's 21 power-of-two microsecond buckets, counted exactly.
//
// One thread records (Record is a few relaxed atomic stores, no lock); any thread may copy it
// at any time, and a copy minus an earlier copy is the histogram of what came in between.
//
// **Example**:
//
//   migtest::LatencyHistogram h;
//   h.Record(1500);                            // 1.5 us
//   uint64_t p99_ns = h.PercentileNs(99);
//   fmt::print("{}", h.MigmonText());          // "1 (us): 0\n2 (us): 1\n..." 21 lines
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace migtest {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 7;  // 128 sub-buckets per octave
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = (64 - kSubBits + 1) * kSub;
  static constexpr int kMigmonBuckets = 21;  // 1 us .. 1048576 us (and above)

  LatencyHistogram();
  LatencyHistogram(const LatencyHistogram& other);
  LatencyHistogram& operator=(const LatencyHistogram& other);

  void Record(uint64_t ns);                 // single recording thread
  void Add(const LatencyHistogram& other);  // merge (caller owns *this exclusively)
  // What was recorded between `earlier` (a copy of this histogram) and now.
  LatencyHistogram Since(const LatencyHistogram& earlier) const;

  uint64_t Count() const;
  uint64_t MinNs() const;  // 0 when empty; bucket lower bound for a Since() result
  uint64_t MaxNs() const;  // exact for cumulative histograms; bucket upper bound for Since()
  double MeanNs() const;
  // p in [0, 100]; the midpoint of the bucket holding the p-th percentile sample (0 when empty).
  uint64_t PercentileNs(double p) const;

  // mig_mon's buckets: [k] counts samples of at most 2^k us and more than 2^(k-1) us ([0]: at
  // most 1 us; [20]: everything above 524288 us, including above a second).
  std::array<uint64_t, kMigmonBuckets> MigmonBuckets() const;
  // The 21 lines "2^k (us): count" exactly as mig_mon prints them.
  std::string MigmonText() const;

  struct Bucket {
    uint64_t lower_ns, upper_ns, count;  // samples in [lower_ns, upper_ns)
  };
  std::vector<Bucket> NonEmptyBuckets() const;

  static int BucketIndex(uint64_t ns);
  static uint64_t BucketLower(int index);
  static uint64_t BucketUpper(int index);  // exclusive
  static int MigmonIndex(uint64_t ns);

 private:
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::array<std::atomic<uint64_t>, kMigmonBuckets> migmon_{};
  std::atomic<uint64_t> count_{0}, sum_ns_{0}, min_ns_{UINT64_MAX}, max_ns_{0};
  bool exact_extremes_ = true;
};

}  // namespace migtest
