// The qemu backend's pool of booted guests (MIGTEST_QEMU_REUSE): a reused guest gives the verdicts
// a fresh boot gives, a pooled guest broken between two tests is found out before the next one
// uses it, and a test that asks for another QEMU binary boots its own guest. ctest runs each test
// in its own process, so each test here runs its migrations in one test.
#include "qemu_pool.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <migtest/fixtures.hpp>
#include <migtest/fixtures/qemu.hpp>
#include <migtest/matchers.hpp>
#include <thread>

#include "failures.hpp"
#include "turns.hpp"

namespace migtest {
namespace {

using namespace std::chrono_literals;
using ::testing::Lt;

class QemuPoolTest : public MigrationTest {
 protected:
  QemuPoolTest() : MigrationTest("qemu") {}
  void TearDown() override {
    ::unsetenv("MIGTEST_QEMU_REUSE");
    MigrationTest::TearDown();
  }

  // A small busy guest, watched for a second after the switchover.
  static Scenario Busy() {
    return {.memory = 512_MiB,
            .dirty = {.rate = 50_MiBps},
            .mode = Mode::Precopy,
            .qemu = {.healthy_for = 1s}};
  }

  // The verdicts a suite would give, in words (compared between the modes).
  static std::vector<std::string> Verdicts(const RunResult& run) {
    auto verdict = [](bool ok, const char* what) { return std::string(ok ? "" : "not ") + what; };
    return {
        verdict(testing::Matches(Converged())(run.migration), "converged"),
        verdict(testing::Matches(MemoryVerified())(run.migration), "memory verified"),
        verdict(testing::Matches(MaxDowntime(Lt(1s)))(run.migration), "downtime < 1s"),
        verdict(testing::Matches(GuestHealthy())(run), "guest healthy"),
        verdict(testing::Matches(GuestBlackout(Lt(2s)))(run.probe), "blackout < 2s"),
    };
  }

  static nlohmann::json Pool(const RunResult& run) {
    return run.extra.contains("qemu") ? run.extra["qemu"].value("pool", nlohmann::json())
                                      : nlohmann::json();
  }
};

// Fresh, then pooled twice (the second a reuse): the same verdicts, all passing; the reuse sets
// back what the first pooled migration set, and its folder holds its own window of the guest's
// console (its sweep, not the boot).
TEST_F(QemuPoolTest, FreshAndReusedGuestsGiveTheSameVerdicts) {
  ::setenv("MIGTEST_QEMU_REUSE", "0", 1);
  const RunResult fresh = Migrate(Busy());
  EXPECT_TRUE(Pool(fresh).is_null()) << Pool(fresh).dump();
  ::setenv("MIGTEST_QEMU_REUSE", "1", 1);
  // The boot's migration with multifd: the reused one must set it back (a destination without
  // multifd takes a multifd stream for "Not a migration stream").
  Scenario multifd = Busy();
  multifd.qemu.capabilities = {{"multifd", true}};
  multifd.qemu.parameters = {{"multifd-channels", 4}};
  const RunResult booted = Migrate(multifd);
  const RunResult reused = Migrate(Busy());
  EXPECT_THAT(reused.extra["qemu"]["capabilities"].dump(),
              ::testing::HasSubstr(R"({"capability":"multifd","state":false})"));
  EXPECT_EQ(reused.extra["qemu"]["parameters"].value("multifd-channels", 0), 2);
  const std::vector<std::string> all_pass = {"converged", "memory verified", "downtime < 1s",
                                             "guest healthy", "blackout < 2s"};
  EXPECT_EQ(Verdicts(fresh), all_pass);
  EXPECT_EQ(Verdicts(booted), all_pass);
  EXPECT_EQ(Verdicts(reused), all_pass);
  EXPECT_EQ(Pool(booted).value("reused", true), false) << Pool(booted).dump();
  EXPECT_EQ(Pool(reused).value("reused", false), true) << Pool(reused).dump();
  EXPECT_EQ(Pool(reused).value("guest", 0), Pool(booted).value("guest", -1));
  EXPECT_EQ(Pool(reused).value("migration", 0), 2);
  // The reused source's console starts at this migration, not at the guest's boot.
  std::ifstream console(artifacts() / "run3" / "source.stdout.log");
  const std::string text((std::istreambuf_iterator<char>(console)), {});
  EXPECT_EQ(text.find("MIGTEST-GUEST-READY"), std::string::npos);
  std::ifstream dst(artifacts() / "run3" / "destination.stdout.log");
  const std::string dst_text((std::istreambuf_iterator<char>(dst)), {});
  EXPECT_NE(dst_text.find("verify-sweep 2: started"), std::string::npos) << dst_text;
}

// Break-it: the pooled guest's QEMU SIGKILLed between two tests. The next migration finds it gone
// before using it and fails for it, naming the migration after which it was last judged healthy
// (a guest that breaks after its test's watch is never passed over in silence); it boots a fresh
// guest, whose migration is measured and passes.
TEST_F(QemuPoolTest, AKilledPooledGuestIsReplacedByAFreshOne) {
  ::setenv("MIGTEST_QEMU_REUSE", "1", 1);
  const RunResult first = Migrate(Busy());
  ASSERT_THAT(first.migration, Converged());
  const auto [id, pid] = internal::IdlePooledGuest();
  ASSERT_GT(pid, 0) << "no idle pooled guest after a completed migration";
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  RunResult second;
  const std::vector<std::string> failures = test::Failures([&] { second = Migrate(Busy()); });
  ASSERT_EQ(failures.size(), 1u) << "the guest's breaking should fail the test that found it, once";
  const std::string& message = failures[0];
  EXPECT_THAT(message, ::testing::HasSubstr(fmt::format("the pooled guest g{} broke", id)));
  EXPECT_THAT(message, ::testing::HasSubstr("its QEMU ended"));
  EXPECT_THAT(message,
              ::testing::HasSubstr(
                  "after migration 1 (QemuPoolTest.AKilledPooledGuestIsReplacedByAFreshOne)"));
  EXPECT_EQ(Verdicts(second), Verdicts(first));
  EXPECT_THAT(second.migration, Converged());
  EXPECT_THAT(second.migration, MemoryVerified());
  EXPECT_THAT(second, GuestHealthy());
  EXPECT_EQ(Pool(second).value("reused", true), false) << Pool(second).dump();
  EXPECT_NE(Pool(second).value("guest", id), id) << Pool(second).dump();
}

// Parked between ci/ab's turns (internal::ParkPooledGuest, at the end of each repetition): the
// pooled guest's dirtier holds its writers (a whole second at 0 MB/s on its console), and the next
// test on it sets its own rate again and passes as a reused guest.
TEST_F(QemuPoolTest, AParkedGuestIdlesUntilTheNextTestSetsItsRate) {
  ::setenv("MIGTEST_QEMU_REUSE", "1", 1);
  const RunResult first = Migrate(Busy());
  ASSERT_THAT(first.migration, Converged());
  internal::ParkPooledGuest();
  std::string dirtier;
  size_t from = 0;
  internal::WithIdlePooledGuest([&](internal::PooledGuest& g) {
    dirtier = g.dirtier;
    from = g.home->Lines().size();
  });
  EXPECT_EQ(dirtier, "idle");
  // The first whole second after the hold is 0 MB/s (at 50 MiB/s none is).
  bool idle_second = false;
  for (const auto until = std::chrono::steady_clock::now() + 5s;
       !idle_second && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(100ms);
    internal::WithIdlePooledGuest([&](internal::PooledGuest& g) {
      const auto lines = g.home->Lines();
      int seconds = 0;
      for (size_t i = from; i < lines.size(); ++i) {
        if (lines[i].find("dirty-rate: ") == std::string::npos) continue;
        // The first line after the hold may cover part of a busy second: the second one decides.
        if (++seconds == 2) idle_second = lines[i].starts_with("dirty-rate: 0 (MB/s)");
        if (seconds == 2) break;
      }
    });
  }
  EXPECT_TRUE(idle_second) << "no whole second at 0 MB/s after the guest was parked";
  const RunResult second = Migrate(Busy());
  EXPECT_EQ(Pool(second).value("migration", 0), 2) << Pool(second).dump();
  EXPECT_THAT(second.migration, Converged());
  EXPECT_THAT(second.migration, MemoryVerified());
  EXPECT_THAT(second, GuestHealthy(1s));
  std::ifstream console(artifacts() / "run2" / "source.stdout.log");
  const std::string text((std::istreambuf_iterator<char>(console)), {});
  EXPECT_NE(text.find("rate-set: 50 MiB/s"), std::string::npos) << "the rate was not set again";
}

// A test that asks for another QEMU binary (here the same QEMU under another path, as ci/ab's
// candidate is) never gets a guest another binary booted: it boots its own.
TEST_F(QemuPoolTest, AnotherBinaryGetsItsOwnGuest) {
  std::string why;
  const std::optional<QemuBinary> qemu = FindQemu({}, &why);
  ASSERT_TRUE(qemu) << why;
  const std::filesystem::path dir = artifacts() / "other-qemu";
  std::filesystem::create_directories(dir);
  const std::filesystem::path other = dir / "qemu-system-x86_64";
  std::filesystem::remove(other);
  std::filesystem::create_symlink(qemu->exe, other);

  ::setenv("MIGTEST_QEMU_REUSE", "1", 1);
  const RunResult a = Migrate(Busy());
  Scenario s = Busy();
  s.qemu.binary = other;
  const RunResult b = Migrate(s);
  EXPECT_THAT(a.migration, Converged());
  EXPECT_THAT(b.migration, Converged());
  EXPECT_THAT(b, GuestHealthy());
  EXPECT_EQ(b.extra["qemu"].value("binary", ""), other.string());
  EXPECT_EQ(Pool(b).value("reused", true), false) << Pool(b).dump();
  EXPECT_NE(Pool(b).value("guest", 0), Pool(a).value("guest", 0));
}

}  // namespace
}  // namespace migtest
