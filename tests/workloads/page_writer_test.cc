// PageWriter and LatencyHistogram, in-process: page content, verification, pause semantics, the
// dirty bitmap, rate pacing (with a generous bound: this is a loaded 2-core machine).
#include "page_writer.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

namespace migtest {
namespace {

using ::testing::HasSubstr;

struct Region {
  explicit Region(size_t bytes) : size(bytes) {
    ptr = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ptr == MAP_FAILED) ptr = nullptr;
  }
  ~Region() {
    if (ptr) munmap(ptr, size);
  }
  uint8_t* bytes() const { return static_cast<uint8_t*>(ptr); }
  void* ptr;
  size_t size;
};

TEST(PageWriterTest, PagesVerifyOnTheirOwnAndCorruptionIsNamed) {
  Region r(4 * kPageSize);
  ASSERT_NE(r.ptr, nullptr);
  PageWriter w(r.ptr, r.size, {});
  w.Preheat();
  std::string why;
  for (uint64_t i = 0; i < 4; ++i)
    EXPECT_TRUE(VerifyPage(r.bytes() + i * kPageSize, i, &why)) << why;

  EXPECT_FALSE(VerifyPage(r.bytes() + kPageSize, 2, &why));
  EXPECT_THAT(why, HasSubstr("page 2: header names page 1"));

  r.bytes()[2 * kPageSize + 1000] ^= 0x40;
  EXPECT_FALSE(VerifyPage(r.bytes() + 2 * kPageSize, 2, &why));
  EXPECT_THAT(why, HasSubstr("page 2: body corrupted at byte"));

  std::memset(r.bytes() + 3 * kPageSize, 0, kPageSize);
  EXPECT_FALSE(VerifyPage(r.bytes() + 3 * kPageSize, 3, &why));
  EXPECT_THAT(why, HasSubstr("all zero"));
}

TEST(PageWriterTest, RejectsMisalignedOrEmptyRegions) {
  Region r(2 * kPageSize);
  EXPECT_THROW(PageWriter(r.bytes() + 1, kPageSize, {}), std::invalid_argument);
  EXPECT_THROW(PageWriter(r.ptr, 100, {}), std::invalid_argument);
  EXPECT_THROW(PageWriter(r.ptr, 0, {}), std::invalid_argument);
}

TEST(PageWriterTest, WritersSetDirtyBitsAndPauseLeavesEveryPageConsistent) {
  constexpr size_t kPages = 1024;
  Region r(kPages * kPageSize);
  std::vector<std::atomic<uint64_t>> dirty(kPages / 64);
  PageWriter::Options o;
  o.pattern = WritePattern::kRandom;
  o.threads = 2;
  o.verify = true;
  o.dirty_bitmap = dirty.data();
  PageWriter w(r.ptr, r.size, o);
  w.Preheat();
  w.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (int round = 0; round < 20; ++round) {
    w.Pause();
    const uint64_t before = w.PagesWritten();
    std::string why;
    ASSERT_EQ(w.VerifyAll(&why), 0u) << why;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(w.PagesWritten(), before) << "a writer wrote while paused";
    w.Resume();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  w.Stop();
  EXPECT_GT(w.PagesWritten(), 0u);
  EXPECT_EQ(w.Errors(), 0u);
  size_t set = 0;
  for (auto& word : dirty) set += static_cast<size_t>(__builtin_popcountll(word.load()));
  EXPECT_GT(set, kPages / 2) << "random writes over 100+ ms should have touched most pages";
}

TEST(PageWriterTest, VerifyCatchesACorruptedPageAndNamesIt) {
  constexpr size_t kPages = 256;
  Region r(kPages * kPageSize);
  PageWriter::Options o;
  o.verify = true;
  o.rate_bytes_per_s = 64ull << 20;
  PageWriter w(r.ptr, r.size, o);
  w.Preheat();
  w.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  w.CorruptPageForTest(77);
  for (int i = 0; i < 400 && !w.Done(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(w.Done());
  EXPECT_EQ(w.Errors(), 1u);
  ASSERT_TRUE(w.FirstError().has_value());
  EXPECT_THAT(*w.FirstError(), HasSubstr("page 77:"));
}

TEST(PageWriterTest, VerifyAllCatchesALostWrite) {
  constexpr size_t kPages = 64;
  Region r(kPages * kPageSize);
  Region stale(kPages * kPageSize);
  PageWriter::Options o;
  o.verify = true;
  o.pattern = WritePattern::kOnce;
  PageWriter w(r.ptr, r.size, o);
  w.Preheat();
  std::memcpy(stale.ptr, r.ptr, r.size);  // what a migration that missed later writes would hold
  w.Start();
  for (int i = 0; i < 400 && !w.Done(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(w.Done());
  w.Pause();
  std::memcpy(r.bytes() + 9 * kPageSize, stale.bytes() + 9 * kPageSize, kPageSize);
  std::string why;
  EXPECT_EQ(w.VerifyAll(&why), 1u);
  EXPECT_THAT(why, HasSubstr("page 9: generation 0 but"));
  EXPECT_TRUE(VerifyPage(r.bytes() + 9 * kPageSize, 9, nullptr))
      << "the stale page is self-consistent";
}

TEST(PageWriterTest, RateIsPacedAndThrottleSlowsIt) {
  constexpr size_t kPages = 4096;  // 16 MiB
  Region r(kPages * kPageSize);
  PageWriter::Options o;
  o.rate_bytes_per_s = 40ull << 20;  // 40 MiB/s = 10240 pages/s
  PageWriter w(r.ptr, r.size, o);
  w.Preheat();
  w.Start();
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const uint64_t n = w.PagesWritten();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double rate = static_cast<double>(n) / s;
  // Generous: pacing is exact to a slice, but this machine is shared.
  EXPECT_GT(rate, 10240 * 0.6);
  EXPECT_LT(rate, 10240 * 1.2);

  w.SetThrottle(0.5);
  const uint64_t n1 = w.PagesWritten();
  const auto t1 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const double rate2 = static_cast<double>(w.PagesWritten() - n1) /
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  EXPECT_LT(rate2, 10240 * 0.5 * 1.2);
  EXPECT_GT(rate2, 10240 * 0.5 * 0.6);
  w.Stop();
}

TEST(PageWriterTest, OnceWritesEveryPageExactlyOnce) {
  constexpr size_t kPages = 300;
  Region r(kPages * kPageSize);
  std::vector<std::atomic<uint64_t>> dirty((kPages + 63) / 64);
  PageWriter::Options o;
  o.pattern = WritePattern::kOnce;
  o.threads = 3;
  o.dirty_bitmap = dirty.data();
  PageWriter w(r.ptr, r.size, o);
  w.Preheat();
  w.Start();
  for (int i = 0; i < 400 && !w.Done(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(w.Done());
  EXPECT_EQ(w.PagesWritten(), kPages);
  size_t set = 0;
  for (auto& word : dirty) set += static_cast<size_t>(__builtin_popcountll(word.load()));
  EXPECT_EQ(set, kPages);
  for (size_t i = 0; i < kPages; ++i) EXPECT_NE(PageGeneration(r.bytes() + i * kPageSize), 0u);
}

TEST(LatencyHistogramTest, PercentilesWithinOnePercentAndMigmonBuckets) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 100000; ++v) h.Record(v * 100);  // 100 ns .. 10 ms, uniform
  EXPECT_EQ(h.Count(), 100000u);
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9}) {
    const double truth = p / 100.0 * 100000 * 100;
    EXPECT_NEAR(static_cast<double>(h.PercentileNs(p)), truth, truth * 0.01) << "p" << p;
  }
  EXPECT_EQ(h.MaxNs(), 10'000'000u);
  const auto b = h.MigmonBuckets();
  EXPECT_EQ(b[0], 19u);  // 100..1999 ns: at most 1 us (1999 ns truncates to 1 us)
  EXPECT_EQ(b[1], 10u);  // 2000..2999 ns -> 2 us
  uint64_t total = 0;
  for (auto c : b) total += c;
  EXPECT_EQ(total, 100000u);
  const std::string text = h.MigmonText();
  EXPECT_THAT(text, HasSubstr("1 (us): 19\n2 (us): 10\n"));
  EXPECT_THAT(text, HasSubstr("\n1048576 (us): 0\n"));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 21);

  LatencyHistogram before = h;
  h.Record(5'000'000'000);  // 5 s: mig_mon's last bucket
  const LatencyHistogram d = h.Since(before);
  EXPECT_EQ(d.Count(), 1u);
  EXPECT_EQ(d.MigmonBuckets()[20], 1u);
  EXPECT_NEAR(static_cast<double>(d.PercentileNs(50)), 5e9, 5e9 * 0.01);
}

}  // namespace
}  // namespace migtest
