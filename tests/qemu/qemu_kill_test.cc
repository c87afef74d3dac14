// A suite binary running a QEMU migration ends by SIGKILL (OOM, a cancelled job), SIGINT (Ctrl-C)
// or SIGTERM (`timeout`, ctest): within 2 s nothing of it is left: no QEMU, no prober, no network
// namespace, no temporary folder (the Supervisor's guardian removes them once the binary is gone).
// And a later run sweeps what an older migtest (without the guardian) left behind.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <migtest/fixtures.hpp>
#include <regex>
#include <set>
#include <thread>

#include "../fixtures/proc_util.hpp"

namespace migtest {
namespace {

using namespace std::chrono_literals;
using testing_support::Alive;
using testing_support::Descendants;

// What a suite binary with pid `pid` owns outside its processes: network namespaces (mt<pid>n<k>)
// and temporary folders (/tmp/migtest-qemu-<pid>-*).
std::vector<std::string> Leftovers(pid_t pid) {
  std::vector<std::string> out;
  const std::regex ns(fmt::format("^mt{}n\\d+$", pid));
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/run/netns", ec)) {
    if (std::regex_match(e.path().filename().string(), ns)) out.push_back(e.path().string());
  }
  const std::string dir = fmt::format("migtest-qemu-{}-", pid);
  for (const auto& e : std::filesystem::directory_iterator("/tmp", ec)) {
    if (e.path().filename().string().rfind(dir, 0) == 0) out.push_back(e.path().string());
  }
  return out;
}

class QemuKill : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    InstallLeakChecker();
    std::string why;
    if (!MakeBackend("qemu")->Available(&why)) {
      if (InCi()) FAIL() << why;
      GTEST_SKIP() << why;
    }
  }
  Supervisor lab_{ArtifactDir(), {.grace = Millis(2000)}};
};

TEST_P(QemuKill, NothingIsLeftTwoSecondsAfterTheSignal) {
  const int sig = GetParam();
  const std::filesystem::path artifacts = ArtifactDir() / "inner";
  std::filesystem::remove_all(artifacts);
  Process& suite =
      lab_.Start({.name = "suite",
                  .exe = MIGTEST_MIGRATION_HELPER,
                  .args = {"--gtest_filter=LongMigration.*"},
                  .env = {{"MIGTEST_ARTIFACTS", artifacts.string()}, {"MIGTEST_BACKEND", "qemu"}}});
  // Mid-migration: the prober runs (it starts once both QEMUs are up and the guest answers).
  const auto prober = artifacts / "LongMigration" / "RunsForAWhile" / "prober.stdout.log";
  const auto until = std::chrono::steady_clock::now() + Scaled(240s);
  while (!std::filesystem::exists(prober) && !suite.exited() &&
         std::chrono::steady_clock::now() < until) {
    (void)suite.WaitForExit(100ms);
  }
  ASSERT_TRUE(std::filesystem::exists(prober))
      << "the QEMU migration never got going: " << suite.Describe();
  std::this_thread::sleep_for(1s);  // into the migration proper
  const std::set<pid_t> children = Descendants(suite.pid());
  const std::vector<std::string> owned = Leftovers(suite.pid());
  ASSERT_GE(children.size(), 3u) << "expected two QEMUs and a prober";
  ASSERT_GE(owned.size(), 2u) << "expected a namespace and a socket folder";
  for (const auto& path : owned) {
    struct stat st {};
    if (path.rfind("/tmp/", 0) == 0 && ::stat(path.c_str(), &st) == 0) {
      EXPECT_EQ(st.st_mode & 0777, 0700u) << path << ": the QMP sockets' folder is not private";
    }
  }

  const auto signalled = std::chrono::steady_clock::now();
  ::kill(suite.pid(), sig);  // to the binary alone, as timeout(1) and the OOM killer do
  ASSERT_TRUE(suite.WaitForExit(Scaled(10s)));
  std::vector<pid_t> alive;
  std::vector<std::string> left;
  do {
    std::this_thread::sleep_for(50ms);
    alive.clear();
    for (pid_t p : children) {
      if (Alive(p)) alive.push_back(p);
    }
    left = Leftovers(suite.pid());
  } while ((!alive.empty() || !left.empty()) && std::chrono::steady_clock::now() - signalled < 2s);
  const auto took =
      std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - signalled);
  RecordProperty("clean_after_ms", std::to_string(took.count()));
  EXPECT_THAT(alive, ::testing::IsEmpty()) << "processes outlived " << ::strsignal(sig);
  EXPECT_THAT(left, ::testing::IsEmpty())
      << "left behind " << took.count() << " ms after " << ::strsignal(sig);
  std::cout << "[          ] " << ::strsignal(sig) << ": clean " << took.count()
            << " ms after the signal\n";
  for (pid_t p : alive) ::kill(p, SIGKILL);
}

INSTANTIATE_TEST_SUITE_P(Signals, QemuKill, ::testing::Values(SIGKILL, SIGINT, SIGTERM),
                         [](const ::testing::TestParamInfo<int>& signal) {
                           return std::string(signal.param == SIGKILL  ? "SIGKILL"
                                              : signal.param == SIGINT ? "SIGINT"
                                                                       : "SIGTERM");
                         });

// A folder an older, killed run left (its pid is gone) is swept when the next run makes its own;
// one whose owner still runs is not touched, nor a folder that is not migtest's.
TEST(QemuSweep, StaleFoldersOfDeadOwnersAreSweptLiveOnesKept) {
  // A pid that is surely dead: a child we reaped.
  pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ASSERT_GT(dead, 0);
  int status = 0;
  ::waitpid(dead, &status, 0);
  const std::filesystem::path stale = fmt::format("/tmp/migtest-qemu-{}-AbC123", dead);
  const std::filesystem::path live = fmt::format("/tmp/migtest-qemu-{}-AbC123", ::getppid());
  const std::filesystem::path other = fmt::format("/tmp/not-migtest-qemu-{}-AbC123", dead);
  for (const auto& d : {stale, live, other}) std::filesystem::create_directories(d / "sub");
  internal::SweepStaleTempDirs();
  EXPECT_FALSE(std::filesystem::exists(stale)) << "a dead owner's folder stays";
  EXPECT_TRUE(std::filesystem::exists(live)) << "a running owner's folder was taken";
  EXPECT_TRUE(std::filesystem::exists(other)) << "a folder that is not migtest's was taken";
  for (const auto& d : {stale, live, other}) std::filesystem::remove_all(d);
}

}  // namespace
}  // namespace migtest
