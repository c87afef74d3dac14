// The postcopy destination's content checks in-process: what a precopy round may legitimately
// deliver (a page caught mid-write on the source) against what must fail (such a page kept).
#include "engine/postcopy.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "page_writer.hpp"

namespace migtest::engine {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kPages = 8;

// Guest memory no page of which was touched (userfaultfd's requirement), unmapped at the end.
struct Region {
  Region() {
    void* p = ::mmap(nullptr, kPages * kPageSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    base = p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
  }
  ~Region() {
    if (base != nullptr) ::munmap(base, kPages * kPageSize);
  }
  uint8_t* base = nullptr;
};

// A page as the source's writers leave it: generation `g`, header and body consistent.
std::array<uint8_t, kPageSize> Page(uint64_t index, uint64_t g) {
  std::array<uint8_t, kPageSize> page{};
  WritePage(page.data(), index, g, /*with_body=*/true);
  return page;
}

// The same page read mid-write: the new generation is in, its checksum not yet (the writers store
// both in one 16-byte write, which a concurrent reader can see half done).
std::array<uint8_t, kPageSize> Torn(uint64_t index, uint64_t g) {
  std::array<uint8_t, kPageSize> page = Page(index, g);
  const uint64_t next = g + 1;
  std::memcpy(page.data() + 16, &next, sizeof next);  // bytes 16..23: the generation
  return page;
}

class PostcopyChecks : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(region_.base, nullptr);
    try {
      dst_ = std::make_unique<PostcopyDestination>(region_.base, kPages);
    } catch (const NoUserfaultfd& e) {
      // The host gives no userfaultfd (not root, unprivileged_userfaultfd=0): a skip, except in
      // CI, where a missing component is a failure. Any other error fails the test.
      const char* ci = std::getenv("CI");
      if (ci != nullptr && *ci != '\0') FAIL() << e.what() << " (CI is set)";
      GTEST_SKIP() << e.what();
    } catch (const std::exception& e) {
      FAIL() << "setting up userfaultfd: " << e.what();
    }
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    urgent_ = Channel(Fd(sv[0]), "the test's urgent channel");
    source_end_ = Fd(sv[1]);
  }
  void TearDown() override {
    if (dst_) dst_->Stop();
  }
  // The switch, with the source's dirty bitmap: `dirty` pages are dropped and fetched again.
  void Switch(std::initializer_list<uint64_t> dirty) {
    std::vector<uint64_t> bitmap((kPages + 63) / 64);
    for (uint64_t p : dirty) bitmap[p / 64] |= uint64_t{1} << (p % 64);
    dst_->Start(std::move(urgent_), bitmap);
  }
  // Precopy: every page once, page `torn` caught mid-write.
  void PrecopyRoundWithATornPage(uint64_t torn) {
    for (uint64_t i = 0; i < kPages; ++i) {
      const auto page = i == torn ? Torn(i, 3) : Page(i, 3);
      dst_->Install(i, page.data());
    }
  }

  Region region_;
  std::unique_ptr<PostcopyDestination> dst_;
  Channel urgent_;
  Fd source_end_;
};

TEST_F(PostcopyChecks, ATornCopyThePrecopySendsAgainIsNoError) {
  PrecopyRoundWithATornPage(5);
  const auto again = Page(5, 4);  // the write's dirty bit: the next round sends it whole
  dst_->Install(5, again.data());
  Switch({});
  std::string why;
  EXPECT_TRUE(dst_->Verified(&why)) << why;
}

TEST_F(PostcopyChecks, ATornCopyDroppedAtTheSwitchIsNoError) {
  PrecopyRoundWithATornPage(2);
  Switch({2});  // still dirty at the switch: dropped, to be fetched from the stopped source
  std::string why;
  EXPECT_TRUE(dst_->Verified(&why)) << why;
  EXPECT_EQ(dst_->discarded(), 1u);
}

// The fault the checks exist for: the page's dirty bit was lost, so the torn copy stays and the
// guest would run on it.
TEST_F(PostcopyChecks, ATornCopyKeptAtTheSwitchIsCaught) {
  PrecopyRoundWithATornPage(6);
  Switch({});
  std::string why;
  EXPECT_FALSE(dst_->Verified(&why));
  EXPECT_THAT(why, HasSubstr("page 6"));
  EXPECT_THAT(why, HasSubstr("kept at the switch"));
}

// After the switch the source is stopped: a bad copy then is an error at once.
TEST_F(PostcopyChecks, ABadCopyAfterTheSwitchIsCaught) {
  PrecopyRoundWithATornPage(kPages);  // none torn
  Switch({1});
  const auto bad = Torn(1, 3);
  dst_->Install(1, bad.data());
  std::string why;
  EXPECT_FALSE(dst_->Verified(&why));
  EXPECT_THAT(why, HasSubstr("page 1"));
}

}  // namespace
}  // namespace migtest::engine
