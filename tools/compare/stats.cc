#include "stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

namespace migtest::internal {
namespace {

// A uniform integer in [0, range) from the raw 64-bit engine output, by rejection:
// std::uniform_int_distribution's algorithm is the library's choice, and p-values must not change
// with the standard library.
uint64_t Below(std::mt19937_64& rng, uint64_t range) {
  const uint64_t limit =
      std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % range;
  uint64_t x = rng();
  while (x >= limit) x = rng();
  return x % range;
}

}  // namespace

MeanSd Summarize(std::span<const double> xs) {
  MeanSd s;
  s.n = xs.size();
  if (xs.empty()) return s;
  s.mean = std::accumulate(xs.begin(), xs.end(), 0.0) / static_cast<double>(xs.size());
  if (xs.size() > 1) {
    double ss = 0;
    for (double x : xs) ss += (x - s.mean) * (x - s.mean);
    s.sd = std::sqrt(ss / static_cast<double>(xs.size() - 1));
  }
  return s;
}

uint64_t Splits(size_t n, size_t m) {
  const size_t k = std::min(n, m);
  const size_t total = n + m;
  uint64_t c = 1;
  for (size_t i = 1; i <= k; ++i) {
    // Exact: C(total - k + i, i) at every step. Saturates a little early (the product overflows
    // before the quotient would), which only matters beyond any sample size in use.
    uint64_t product = 0;
    if (__builtin_mul_overflow(c, total - k + i, &product)) {
      return std::numeric_limits<uint64_t>::max();
    }
    c = product / i;
  }
  return c;
}

double SmallestP(size_t n, size_t m, int resamples) {
  const uint64_t splits = Splits(n, m);
  if (splits > static_cast<uint64_t>(resamples)) return 1.0 / (resamples + 1.0);
  // With equal sizes the mirror image of the most extreme split is as extreme.
  return (n == m ? 2.0 : 1.0) / static_cast<double>(splits);
}

PermutationResult PermutationTest(std::span<const double> a, std::span<const double> b,
                                  int resamples, uint64_t seed) {
  if (a.empty() || b.empty()) throw std::invalid_argument("permutation test: an empty sample");
  if (resamples < 1) throw std::invalid_argument("permutation test: resamples < 1");
  std::vector<double> pool(a.begin(), a.end());
  pool.insert(pool.end(), b.begin(), b.end());
  const size_t n = a.size(), m = b.size(), total_n = pool.size();
  const double total = std::accumulate(pool.begin(), pool.end(), 0.0);
  const double sum_a = std::accumulate(a.begin(), a.end(), 0.0);
  // |mean(rest) - mean(first n)| for a split whose first side sums to `s`.
  auto diff = [&](double s) {
    return std::abs((total - s) / static_cast<double>(m) - s / static_cast<double>(n));
  };
  const double observed = diff(sum_a);
  // Sums of the same values in another order differ in the last bits: a split as extreme as the
  // observed one must count even when its rounding came out a hair smaller.
  double scale = 0;
  for (double x : pool) scale = std::max(scale, std::abs(x));
  const double cutoff = observed - 1e-12 * std::max(scale, 1e-300);

  PermutationResult r;
  const uint64_t splits = Splits(n, m);
  if (splits <= static_cast<uint64_t>(resamples) && total_n < 64) {
    // Every n-subset of the pool as a bit mask, in order (Gosper's hack).
    uint64_t hits = 0;
    const uint64_t end = uint64_t{1} << total_n;
    for (uint64_t mask = (uint64_t{1} << n) - 1; mask < end;) {
      double s = 0;
      for (size_t i = 0; i < total_n; ++i) {
        if (mask >> i & 1) s += pool[i];
      }
      if (diff(s) >= cutoff) ++hits;
      const uint64_t low = mask & -mask;
      const uint64_t ripple = mask + low;
      mask = (((ripple ^ mask) >> 2) / low) | ripple;
    }
    r.exact = true;
    r.splits = splits;
    r.p = static_cast<double>(hits) / static_cast<double>(splits);
    return r;
  }
  // Random splits: a partial Fisher-Yates shuffle puts a uniformly random n-subset first, whatever
  // order the pool was left in by the previous resample.
  std::mt19937_64 rng(seed);
  uint64_t hits = 0;
  for (int i = 0; i < resamples; ++i) {
    double s = 0;
    for (size_t j = 0; j < n; ++j) {
      const size_t k = j + Below(rng, total_n - j);
      std::swap(pool[j], pool[k]);
      s += pool[j];
    }
    if (diff(s) >= cutoff) ++hits;
  }
  r.splits = static_cast<uint64_t>(resamples);
  r.p = (1.0 + static_cast<double>(hits)) / (1.0 + resamples);
  return r;
}

namespace {
double LogChoose(size_t n, size_t k) {
  return std::lgamma(static_cast<double>(n) + 1) - std::lgamma(static_cast<double>(k) + 1) -
         std::lgamma(static_cast<double>(n - k) + 1);
}
}  // namespace

double FisherGreater(size_t a_failed, size_t a_n, size_t b_failed, size_t b_n) {
  const size_t n = a_n + b_n, failed = a_failed + b_failed;
  if (b_failed == 0) return 1;
  double p = 0;
  for (size_t x = b_failed; x <= std::min(failed, b_n); ++x) {
    if (failed - x > a_n) continue;  // the baseline cannot hold the rest
    p += std::exp(LogChoose(failed, x) + LogChoose(n - failed, b_n - x) - LogChoose(n, b_n));
  }
  return std::min(p, 1.0);
}

}  // namespace migtest::internal
