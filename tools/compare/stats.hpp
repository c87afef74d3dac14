// The statistics behind migtest-compare: mean ± sd and a two-sided permutation test on the
// difference of means, deterministic so that a rerun on the same files prints the same p-values.
//
// **Example**
//
//   std::vector<double> baseline{61.0, 60.2, 62.5}, candidate{73.1, 72.4, 74.0};
//   auto test = migtest::internal::PermutationTest(baseline, candidate);
//   // test.p == 0.1 (exact: 2 of the 20 ways to split six values 3 + 3 are as extreme),
//   // test.exact == true
//
// As scipy.stats.permutation_test (which Firecracker's A/B tooling uses): when the number of
// distinct splits is at most `resamples`, every split is enumerated and p is exact; otherwise p is
// estimated from `resamples` random splits as (1 + hits) / (1 + resamples), which never gives 0.
#pragma once

#include <cstdint>
#include <span>

namespace migtest::internal {

struct MeanSd {
  double mean = 0;
  double sd = 0;  // sample standard deviation (n - 1); 0 for n < 2
  size_t n = 0;
};

MeanSd Summarize(std::span<const double> xs);

inline constexpr int kResamples = 9999;
inline constexpr uint64_t kPermutationSeed = 0x6d69677465737431;  // "migtest1"

struct PermutationResult {
  double p = 1;
  bool exact = false;   // every split enumerated
  uint64_t splits = 0;  // splits enumerated, or resamples drawn
};

// Two-sided: how often a random relabelling of the pooled values gives a difference of means at
// least as large (in absolute value) as the observed mean(b) - mean(a). Both sides need n >= 1.
PermutationResult PermutationTest(std::span<const double> a, std::span<const double> b,
                                  int resamples = kResamples, uint64_t seed = kPermutationSeed);

// C(n + m, n), saturating at UINT64_MAX: the number of distinct splits.
uint64_t Splits(size_t n, size_t m);

// The smallest p-value a permutation test can give for samples of n and m values (no ties):
// with 3 + 3 runs it is 0.1, so a verdict at p < 0.01 needs at least 5 runs a side.
double SmallestP(size_t n, size_t m, int resamples = kResamples);

// Fisher's exact test, one-sided: the probability that the candidate has at least `b_failed` of
// the `a_failed + b_failed` failures when its `b_n` runs are drawn at random from all
// `a_n + b_n` runs (the hypergeometric tail). Small p: the candidate fails more than chance says.
// 0 failures in the candidate gives 1.
double FisherGreater(size_t a_failed, size_t a_n, size_t b_failed, size_t b_n);

}  // namespace migtest::internal
