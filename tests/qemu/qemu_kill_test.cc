// A suite binary running a QEMU migration ends by SIGKILL (OOM, a cancelled job), SIGINT (Ctrl-C)
// or SIGTERM (`timeout`, ctest): within 2 s nothing of it is left: no QEMU, no prober, no network
// namespace, no temporary folder (the Supervisor's guardian removes them once the binary is gone),
// wherever in the run the signal lands (QemuKillPoints), and nothing comes back.
// And a later run sweeps what an older migtest (without the guardian) left behind.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <migtest/fixtures.hpp>
#include <optional>
#include <regex>
#include <set>
#include <thread>

#include "../fixtures/proc_util.hpp"

namespace migtest {
namespace {

using namespace std::chrono_literals;
using testing_support::Alive;
using testing_support::Descendants;
using testing_support::ReadProc;
using testing_support::SubreaperScope;
using Clock = std::chrono::steady_clock;

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

// Leftovers(), and the rest of what a binary names after its pid: the host end of a namespace's
// veth pair (mt<pid>h<k>) and the folders of the Supervisors that probe QEMU and the engine
// (/tmp/migtest-qemu-version-<pid>, /tmp/migtest-engine-check-<pid>).
std::vector<std::string> AllLeftovers(pid_t pid) {
  std::vector<std::string> out = Leftovers(pid);
  const std::regex veth(fmt::format("^mt{}h\\d+$", pid));
  const std::regex dir(fmt::format("^migtest-[a-z-]+-{}$", pid));
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/sys/class/net", ec)) {
    if (std::regex_match(e.path().filename().string(), veth)) out.push_back(e.path().string());
  }
  for (const auto& e : std::filesystem::directory_iterator("/tmp", ec)) {
    if (std::regex_match(e.path().filename().string(), dir)) out.push_back(e.path().string());
  }
  return out;
}

// A process as /proc shows it, its command line with spaces for NULs.
struct Proc {
  pid_t pid = 0, ppid = 0;
  char state = '?';
  std::string cmdline;
};

std::string Cmdline(pid_t pid) {
  std::string s = ReadProc(pid, "cmdline");
  std::replace(s.begin(), s.end(), '\0', ' ');
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

std::string Describe(const Proc& p) {
  return fmt::format("pid {} (parent {}, state {}): '{}'", p.pid, p.ppid, p.state,
                     p.cmdline.substr(0, 200));
}

// What a run's processes are named: a QEMU (also while `ip netns exec` still runs it), the prober.
bool IsQemuOrProber(const std::string& cmdline) {
  return cmdline.find("qemu-system") != std::string::npos ||
         cmdline.find("migmon client_rr") != std::string::npos;
}

// Where a victim binary is killed: `after` past the moment the `nth` process whose command line
// matches `anchor` appeared under it, or a path starting with `path` (its {} the binary's pid)
// appeared; past the binary's start when both are empty.
struct KillPoint {
  std::string what;    // "the source QEMU"
  std::string anchor;  // a regex on a command line
  int nth = 1;
  Millis after{0};
  std::string path{};  // "/run/netns/mt{}n0"
  std::string Name() const { return fmt::format("{} +{}ms", what, after.count()); }
};

// Whether something whose path starts with `prefix` is there.
bool PathThere(const std::filesystem::path& prefix) {
  std::error_code ec;
  const std::string start = prefix.filename().string();
  for (const auto& e : std::filesystem::directory_iterator(prefix.parent_path(), ec)) {
    if (e.path().filename().string().rfind(start, 0) == 0) return true;
  }
  return false;
}

// This process's children that are not `ours` nor `victim` (orphans of the victim, re-parented
// here by the SubreaperScope): killed and reaped (waitpid by pid: this lab's own children are
// Boost.Process's to reap). Bounded: a SIGKILLed process ends unless stuck in the kernel.
void KillAndReapOrphans(const std::set<pid_t>& ours, pid_t victim) {
  const auto until = Clock::now() + std::chrono::seconds(5);
  for (;;) {
    bool any = false;
    for (const auto& e : internal::ProcTable()) {
      if (e.ppid != ::getpid() || ours.count(e.pid) != 0 || e.pid == victim) continue;
      any = true;
      if (e.state == 'Z') {
        ::waitpid(e.pid, nullptr, WNOHANG);
      } else {
        ::kill(e.pid, SIGKILL);
      }
    }
    if (!any || Clock::now() >= until) return;
    std::this_thread::sleep_for(Millis(10));  // polling: the SIGKILLed end within milliseconds
  }
}

// A binary that runs a QEMU migration (fixtures_migration_helper with a filter and environment).
struct Victim {
  std::string filter;
  std::vector<std::pair<std::string, std::string>> env;
};

// Both kill tests need the QEMU backend: a failure in CI, a skip elsewhere.
class NeedsQemu : public ::testing::Test {
 protected:
  void SetUp() override {
    InstallLeakChecker();
    std::string why;
    if (!MakeBackend("qemu")->Available(&why)) {
      if (InCi()) FAIL() << why;
      GTEST_SKIP() << why;
    }
  }
};

class QemuKill : public NeedsQemu, public ::testing::WithParamInterface<int> {
 protected:
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

// A suite binary killed anywhere in a run (each process the run starts is a point where a child
// may be forked but not yet exec'd, registered with no guardian yet, or its namespace or folder
// made but not yet handed to the guardian): 2 s later nothing of it runs, nothing has come back,
// and no namespace, veth or folder named after it is left. This process is a child subreaper
// meanwhile, so that whatever the binary's death orphans is found here, whatever exec made of it.
class QemuKillPoints : public NeedsQemu {
 protected:
  void SetUp() override {
    NeedsQemu::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(subreaper_.ok()) << "prctl(PR_SET_CHILD_SUBREAPER): " << std::strerror(errno);
  }

  // Runs `victim` to `point`, SIGKILLs it and watches /proc for 2 s. Failure: what was alive 2 s
  // after the signal, what came back after none was left, what it left on the host.
  testing::AssertionResult KillAt(const Victim& victim, const KillPoint& point, int index);

  void KillAtEach(const Victim& victim, const std::vector<KillPoint>& points) {
    const auto start = Clock::now();
    int index = 0;
    for (const KillPoint& point : points) EXPECT_TRUE(KillAt(victim, point, ++index));
    RecordProperty("kill_points", static_cast<int>(points.size()));
    RecordProperty(
        "wall_ms",
        static_cast<int>(std::chrono::duration_cast<Millis>(Clock::now() - start).count()));
  }

  SubreaperScope subreaper_;
  Supervisor lab_{ArtifactDir(), {.grace = Millis(2000)}};
};

testing::AssertionResult QemuKillPoints::KillAt(const Victim& victim, const KillPoint& point,
                                                int index) {
  const std::filesystem::path artifacts = ArtifactDir() / fmt::format("kill-{}", index);
  std::filesystem::remove_all(artifacts);
  // Ours before the victim (this lab's guardian): not the victim's.
  const std::set<pid_t> ours = Descendants(::getpid());
  Command command{.name = fmt::format("victim-{}", index),
                  .exe = MIGTEST_MIGRATION_HELPER,
                  .args = {"--gtest_filter=" + victim.filter},
                  .env = victim.env};
  command.env.emplace_back("MIGTEST_ARTIFACTS", artifacts.string());
  command.env.emplace_back("MIGTEST_BACKEND", "qemu");
  Process& suite = lab_.Start(std::move(command));
  const auto started = Clock::now();
  const pid_t pid = suite.pid();
  std::string where = fmt::format("kill point {} of {} (pid {})", point.Name(), victim.filter, pid);

  // Up to the kill point: the victim's process tree every 2 ms (anchors are processes that live
  // long: a 4 ms `ip netns add` was missed once in 13), a path every 0.25 ms (a namespace or folder
  // made but not yet handed to the guardian was a window of about a millisecond).
  const std::regex anchor(point.anchor.empty() ? std::string("^$") : point.anchor);
  const std::filesystem::path path =
      point.path.empty() ? std::string() : fmt::format(fmt::runtime(point.path), pid);
  std::set<pid_t> anchors;
  std::optional<Clock::time_point> anchored;
  if (point.anchor.empty() && point.path.empty()) anchored = Clock::now();
  const auto give_up = Clock::now() + Scaled(Millis(60000));
  for (;;) {
    if (!path.empty()) {
      if (!anchored && PathThere(path)) anchored = Clock::now();
    } else {
      for (pid_t p : Descendants(pid)) {
        if (std::regex_search(Cmdline(p), anchor)) anchors.insert(p);
      }
    }
    if (!anchored && !point.anchor.empty() && static_cast<int>(anchors.size()) >= point.nth) {
      anchored = Clock::now();
    }
    if (anchored && Clock::now() >= *anchored + point.after) break;
    if (suite.exited() || Clock::now() >= give_up) {
      suite.Stop(Millis(100));
      return testing::AssertionFailure()
             << where << " never came: "
             << (path.empty() ? fmt::format("{} of {} processes matching /{}/ seen", anchors.size(),
                                            point.nth, point.anchor)
                              : fmt::format("nothing named {}* appeared", path.string()))
             << "; " << suite.Describe();
    }
    // Polling: no event tells of a new process (nor, portably, of a new namespace).
    std::this_thread::sleep_for(path.empty() ? std::chrono::microseconds(2000)
                                             : std::chrono::microseconds(250));
  }
  const auto killed = Clock::now();
  ::kill(pid, SIGKILL);  // to the binary alone, as the OOM killer does
  where += fmt::format(", {} ms into the run",
                       std::chrono::duration_cast<Millis>(killed - started).count());

  // 2 s of watching. Ours now: every descendant that was not ours before (the victim's orphans
  // come here); besides, anything anywhere whose command line names the victim's namespace or
  // folders.
  const std::string ns_mark = fmt::format("mt{}n", pid), dir_mark = fmt::format("-{}-", pid);
  std::map<pid_t, Proc> last_alive;
  std::map<pid_t, std::string> came_back;
  std::vector<std::string> left;
  bool none_left = false;
  long long clean_ms = -1;  // since when nothing is left (-1: something is)
  const auto until = killed + std::chrono::seconds(2);
  for (;;) {
    const auto now = Clock::now();
    const auto table = internal::ProcTable();
    const std::set<pid_t> under = Descendants(::getpid());
    std::map<pid_t, Proc> alive;
    for (const auto& e : table) {
      const bool orphan = under.count(e.pid) != 0 && ours.count(e.pid) == 0 && e.pid != pid;
      if (orphan && e.state == 'Z' && e.ppid == ::getpid()) {
        ::waitpid(e.pid, nullptr, WNOHANG);  // an orphan of the victim, re-parented here
        continue;
      }
      if (e.state == 'Z') continue;
      std::string cmd = Cmdline(e.pid);
      const bool named =
          cmd.find(ns_mark) != std::string::npos ||
          (cmd.find("migtest-") != std::string::npos && cmd.find(dir_mark) != std::string::npos);
      if (orphan || (named && e.pid != pid))
        alive[e.pid] = {e.pid, e.ppid, e.state, std::move(cmd)};
    }
    bool qemu_or_prober = false;
    for (const auto& [p, proc] : alive) {
      if (!IsQemuOrProber(proc.cmdline)) continue;
      qemu_or_prober = true;
      if (none_left && came_back.count(p) == 0) {
        came_back.emplace(
            p, fmt::format("{} is there {} ms after the signal, after none was", Describe(proc),
                           std::chrono::duration_cast<Millis>(now - killed).count()));
      }
    }
    if (!qemu_or_prober) none_left = true;
    left = AllLeftovers(pid);
    if (alive.empty() && left.empty()) {
      if (clean_ms < 0) clean_ms = std::chrono::duration_cast<Millis>(now - killed).count();
    } else {
      clean_ms = -1;
    }
    last_alive = std::move(alive);
    if (now >= until) break;
    std::this_thread::sleep_for(Millis(20));  // polling /proc: nothing else tells of a reappearance
  }
  // What is left goes now, so that the next point starts clean.
  for (const auto& [p, proc] : last_alive) ::kill(p, SIGKILL);
  KillAndReapOrphans(ours, pid);
  for (const auto& thing : left) {
    if (thing.rfind("/run/netns/", 0) == 0) {
      const std::string name = std::filesystem::path(thing).filename().string();
      (void)RunToCompletion(lab_,
                            {.name = "netns-del", .exe = "ip", .args = {"netns", "del", name}},
                            Scaled(Millis(10000)));
    } else if (thing.rfind("/tmp/", 0) == 0) {
      std::error_code ec;
      std::filesystem::remove_all(thing, ec);
    }
  }
  const testing::AssertionResult reaped = suite.WaitForExit(Scaled(Millis(10000)));
  std::cout << fmt::format("[          ] {}: {}\n", where,
                           clean_ms >= 0 ? fmt::format("clean {} ms after SIGKILL", clean_ms)
                                         : std::string("NOT clean 2 s after SIGKILL"))
            << std::flush;
  if (!reaped) return reaped;
  if (last_alive.empty() && left.empty() && came_back.empty()) {
    return testing::AssertionSuccess() << where << ": clean " << clean_ms << " ms after SIGKILL";
  }
  std::string text;
  for (const auto& [p, proc] : last_alive)
    text += "\n  still alive 2 s after the signal: " + Describe(proc);
  for (const auto& [p, c] : came_back) text += "\n  came back: " + c;
  for (const auto& l : left) text += "\n  left behind 2 s after the signal: " + l;
  return testing::AssertionFailure() << where << ": the killed binary left something:" << text;
}

// Kill points spread over a fresh run (MIGTEST_QEMU_REUSE=0: the test's own Supervisor owns
// the QEMUs): each process the run starts, at its start, then into the boot and the migration.
TEST_F(QemuKillPoints, NothingIsLeftWhereverAFreshRunIsKilled) {
  const Victim fresh{"LongMigration.RunsForAWhile", {{"MIGTEST_QEMU_REUSE", "0"}}};
  KillAtEach(
      fresh,
      {
          {.what = "the start", .anchor = "", .after = Millis(60)},
          {.what = "QEMU's -version probe's folder",
           .anchor = "",
           .path = "/tmp/migtest-qemu-version-{}"},
          {.what = "the guest image's check", .anchor = "build-guest"},
          {.what = "the namespace", .anchor = "", .path = "/run/netns/mt{}n0"},
          {.what = "the sockets folder", .anchor = "", .path = "/tmp/migtest-qemu-{}-"},
          {.what = "the source QEMU", .anchor = "qemu-system.* -machine"},
          {.what = "the source QEMU", .anchor = "qemu-system.* -machine", .after = Millis(3000)},
          {.what = "the destination QEMU", .anchor = "-incoming defer"},
          {.what = "the prober", .anchor = "migmon client_rr", .after = Millis(250)},
      });
}

// Kill points in a pooled run (MIGTEST_QEMU_REUSE=1: the pool's process-wide Supervisor owns the
// QEMUs and the guest's namespace and folder): as the pool is set up, then in the second migration
// of one booted guest (its fresh destination, its prober, the migration).
TEST_F(QemuKillPoints, NothingIsLeftWhereverAPooledRunIsKilled) {
  const Victim pooled{"PooledMigration.TwiceOnOneGuest", {{"MIGTEST_QEMU_REUSE", "1"}}};
  KillAtEach(pooled,
             {
                 {.what = "the pool's folder", .anchor = "", .path = "/tmp/migtest-qemu-{}-"},
                 {.what = "the pool's namespace", .anchor = "", .path = "/run/netns/mt{}n0"},
                 {.what = "the second destination QEMU", .anchor = "-incoming defer", .nth = 2},
                 {.what = "the second prober",
                  .anchor = "migmon client_rr",
                  .nth = 2,
                  .after = Millis(250)},
             });
}

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
