// migtest-compare's statistics: p-values checked against an independent enumeration of every
// split, on samples small enough to count by hand.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "compare/stats.hpp"

namespace migtest::internal {
namespace {

using ::testing::DoubleNear;

// The exact two-sided p by brute force, written apart from the library's Gosper enumeration:
// every arrangement of n "a" labels among the pooled values.
double BruteForceP(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> pool(a);
  pool.insert(pool.end(), b.begin(), b.end());
  auto mean_diff = [](const std::vector<double>& x, const std::vector<double>& y) {
    return std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(y.size()) -
           std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(x.size());
  };
  const double observed = std::abs(mean_diff(a, b));
  std::vector<bool> in_a(pool.size(), false);
  std::fill(in_a.begin(), in_a.begin() + static_cast<long>(a.size()), true);
  std::sort(in_a.begin(), in_a.end());  // next_permutation starts from the smallest arrangement
  int hits = 0, total = 0;
  do {
    std::vector<double> x, y;
    for (size_t i = 0; i < pool.size(); ++i) (in_a[i] ? x : y).push_back(pool[i]);
    ++total;
    if (std::abs(mean_diff(x, y)) >= observed - 1e-9) ++hits;
  } while (std::next_permutation(in_a.begin(), in_a.end()));
  return static_cast<double>(hits) / total;
}

TEST(CompareStatsTest, SummarizeGivesTheMeanAndTheSampleStandardDeviation) {
  std::vector<double> xs{1, 2, 3, 4};
  MeanSd s = Summarize(xs);
  EXPECT_EQ(s.n, 4u);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_DOUBLE_EQ(s.sd, std::sqrt(5.0 / 3.0));  // sum of squares 5, n - 1 = 3
  std::vector<double> one{7};
  EXPECT_EQ(Summarize(one).sd, 0);
  EXPECT_EQ(Summarize({}).n, 0u);
}

TEST(CompareStatsTest, ExactPValuesOfTinySamplesCountedByHand) {
  // 3 + 3 separated: of the C(6,3) = 20 splits only {1,2,3}|{4,5,6} and its mirror are as extreme.
  std::vector<double> a{1, 2, 3}, b{4, 5, 6};
  PermutationResult r = PermutationTest(a, b);
  EXPECT_TRUE(r.exact);
  EXPECT_EQ(r.splits, 20u);
  EXPECT_DOUBLE_EQ(r.p, 2.0 / 20);
  // 2 + 2: splits of {1,2,3,4} give |diffs| 2, 1, 0, 0, 1, 2: two of six reach 2.
  std::vector<double> c{1, 2}, d{3, 4};
  EXPECT_DOUBLE_EQ(PermutationTest(c, d).p, 2.0 / 6);
  // 1 + 3: {10} vs {1,2,3}: of the four splits (|diffs| 8, 4, 2.67, 1.33) only itself: p = 1/4.
  std::vector<double> e{10}, f{1, 2, 3};
  EXPECT_DOUBLE_EQ(PermutationTest(e, f).p, 1.0 / 4);
  // The same values on both sides: every split is as extreme as a difference of 0.
  EXPECT_DOUBLE_EQ(PermutationTest(a, a).p, 1.0);
}

TEST(CompareStatsTest, ExactPAgreesWithBruteForceEnumeration) {
  const std::vector<std::pair<std::vector<double>, std::vector<double>>> cases = {
      {{1, 2, 3}, {4, 5, 6}},
      {{60.1, 59.4, 61.0, 60.2}, {62.3, 61.8, 60.9, 63.0, 62.2}},
      {{1, 1, 2, 2}, {2, 2, 3}},                // ties
      {{5, 7, 9, 11, 13}, {6, 8, 10, 12, 14}},  // overlapping
      {{0.1, 0.2, 0.3}, {0.3, 0.2, 0.1}},       // rounding must not lose the observed split
      {{100, 101, 99, 100, 102, 98}, {110, 111, 109, 112, 108, 110}},
  };
  for (const auto& [a, b] : cases) {
    PermutationResult r = PermutationTest(a, b);
    ASSERT_TRUE(r.exact) << ::testing::PrintToString(a) << " vs " << ::testing::PrintToString(b);
    EXPECT_DOUBLE_EQ(r.p, BruteForceP(a, b))
        << ::testing::PrintToString(a) << " vs " << ::testing::PrintToString(b);
    EXPECT_DOUBLE_EQ(r.p, PermutationTest(b, a).p) << "two-sided: the order of sides is moot";
  }
}

TEST(CompareStatsTest, RandomSplitsEstimateTheExactP) {
  // 8 + 8 runs: C(16,8) = 12870 splits, more than 9999 resamples, so p is estimated.
  std::vector<double> a{60.1, 59.4, 61.0, 60.2, 58.9, 60.7, 61.3, 59.8};
  std::vector<double> b{61.0, 60.5, 62.1, 60.9, 61.4, 59.9, 62.5, 60.8};
  PermutationResult r = PermutationTest(a, b);
  EXPECT_FALSE(r.exact);
  EXPECT_EQ(r.splits, 9999u);
  const double exact = BruteForceP(a, b);
  ASSERT_GT(exact, 0.01) << "a case where the estimate's error shows";
  // Binomial standard error of 9999 draws is sqrt(p(1-p)/9999) < 0.005.
  EXPECT_THAT(r.p, DoubleNear(exact, 0.015));
  EXPECT_EQ(PermutationTest(a, b).p, r.p) << "the fixed seed makes reruns identical";
  EXPECT_THAT(PermutationTest(a, b, kResamples, 42).p, DoubleNear(exact, 0.015));
}

TEST(CompareStatsTest, RandomSplitsNeverGiveZero) {
  std::vector<double> a(10), b(10);
  std::iota(a.begin(), a.end(), 0.0);
  std::iota(b.begin(), b.end(), 100.0);
  PermutationResult r = PermutationTest(a, b);
  EXPECT_FALSE(r.exact);
  EXPECT_DOUBLE_EQ(r.p, 1.0 / 10000) << "no random split is as extreme: (0 + 1) / (9999 + 1)";
}

TEST(CompareStatsTest, SplitsAndTheSmallestReachableP) {
  EXPECT_EQ(Splits(3, 3), 20u);
  EXPECT_EQ(Splits(1, 3), 4u);
  EXPECT_EQ(Splits(10, 10), 184756u);
  EXPECT_EQ(Splits(100, 100), UINT64_MAX) << "saturates";
  EXPECT_DOUBLE_EQ(SmallestP(3, 3), 0.1) << "3 runs a side can never reach p < 0.01";
  EXPECT_DOUBLE_EQ(SmallestP(4, 4), 2.0 / 70);
  EXPECT_DOUBLE_EQ(SmallestP(5, 5), 2.0 / 252) << "5 runs a side can";
  EXPECT_DOUBLE_EQ(SmallestP(10, 10), 1.0 / 10000);
  EXPECT_DOUBLE_EQ(SmallestP(3, 4), 1.0 / 35);
}

TEST(CompareStatsTest, EmptySamplesAreRefused) {
  std::vector<double> a{1, 2, 3}, none;
  EXPECT_THROW(PermutationTest(a, none), std::invalid_argument);
}

TEST(CompareStatsTest, FisherGreaterMatchesTheHypergeometricTail) {
  // Counted by hand: 0 of 5 against 5 of 5 is 1 of C(10,5) = 252 ways.
  EXPECT_NEAR(FisherGreater(0, 5, 5, 5), 1.0 / 252, 1e-12);
  // 0 of 5 against 3 of 5: C(5,3) / C(10,3) = 10 / 120 (scipy.stats.fisher_exact, 'greater').
  EXPECT_NEAR(FisherGreater(0, 5, 3, 5), 10.0 / 120, 1e-12);
  // 0 of 20 against 6 of 20: C(20,6) / C(40,6) = 38760 / 3838380 (just above 0.01).
  EXPECT_NEAR(FisherGreater(0, 20, 6, 20), 38760.0 / 3838380, 1e-12);
  EXPECT_NEAR(FisherGreater(1, 20, 8, 20), 0.0098280098, 1e-9);
  // No candidate failure, or the baseline failing as often: nothing to see.
  EXPECT_EQ(FisherGreater(2, 10, 0, 10), 1.0);
  EXPECT_NEAR(FisherGreater(3, 10, 3, 10), 0.6857585, 1e-6);
}

}  // namespace
}  // namespace migtest::internal
