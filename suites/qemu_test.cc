// Live migration of a real QEMU (10.0 from bookworm-backports, TCG on CI machines) with migtest's
// own guest: Debian's kernel, busybox and a static migmon that dirties and verifies its memory and
// answers UDP probes. One VM pair at a time, 512 MiB guests, sized for 2 cores under TCG.
//
// Bounds come from repeated runs on the CI machine kind (2 cores, TCG; the closing note of issue 7
// has the table). TCG is slow and noisy, so they are loose; each comment says what it would still
// catch.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <migtest/fixtures.hpp>
#include <migtest/matchers.hpp>
#include <optional>
#include <string>

namespace {

using namespace std::chrono_literals;
using namespace migtest;
using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::Ge;
using ::testing::HasSubstr;
using ::testing::Le;
using ::testing::Lt;
using ::testing::Not;

class QemuSlo : public MigrationTest {
 protected:
  QemuSlo() : MigrationTest("qemu") {}
};

// An idle guest: one pass over 512 MiB (mostly zero pages) and a short stop-and-copy. Measured
// (6 runs): total 0.81–0.82 s, downtime 11–21 ms, STOP→RESUME 14–53 ms, blackout 40–106 ms. 300 ms
// catches a stop-and-copy that re-sends the guest's memory (~4 s at the 128 MiB/s default cap).
TEST_F(QemuSlo, IdleGuestPrecopy) {
  RunResult run = Migrate({.memory = 512_MiB, .mode = Mode::Precopy});
  EXPECT_THAT(run.migration, Converged());
  EXPECT_THAT(run.migration, MaxDowntime(Lt(300ms)));
  EXPECT_THAT(run.migration, TotalMigrationTime(Lt(10s)));
  EXPECT_THAT(run.probe, GuestBlackout(Lt(1s)));
  EXPECT_THAT(run, GuestHealthy());
}

// A guest rewriting (and verifying) 64 MiB at 50 MiB/s: converges under the default 300 ms
// downtime limit, and the guest keeps running correctly on the destination. Measured (6 runs):
// total 1.6–1.7 s, 4 iterations, downtime 18–22 ms, blackout 60–73 ms.
// The busy precopy tests watch the guest for 1 s after the switchover (QemuSpec's default is 3 s):
// right after it the dirtier checks its whole working set (the sweep, MemoryVerified), so the
// second of running on is for the kernel and the prober. On a pooled guest that is most of what a
// test costs beyond QEMU's own time (bench/qemu.sh --reuse); the pool's next test still checks the
// guest before it migrates it, and fails naming this test if it broke after its watch.
TEST_F(QemuSlo, BusyGuestPrecopy) {
  RunResult run = Migrate({.memory = 512_MiB,
                           .dirty = {.rate = 50_MiBps},
                           .mode = Mode::Precopy,
                           .qemu = {.healthy_for = 1s}});
  EXPECT_THAT(run.migration, Converged());
  EXPECT_THAT(run.migration, MemoryVerified());  // by the guest's dirtier, on the destination
  EXPECT_THAT(run.migration, MaxDowntime(Lt(300ms)));
  EXPECT_THAT(run.migration, Iterations(Ge(2u)));
  // Dirty-bitmap syncs (QEMU's trace) took 0.4–4.9 ms here. An iterate call over the 300 ms
  // downtime limit is a stall too: QEMU ends one after 50 ms of sending, but under TCG on a loaded
  // 2-core CI runner the migration thread waits for a core, and one ram iterate call took
  // 363.8 ms there. The SLO is set above that host noise; a stall of seconds (seed 002's) fails.
  EXPECT_THAT(run.migration, NoIterationStallAbove(1s));
  EXPECT_THAT(run.migration, TotalMigrationTime(Lt(15s)));
  EXPECT_THAT(run.probe, GuestBlackout(Lt(1s)));
  EXPECT_THAT(run, GuestHealthy(1s));
}

// The guest's pause from QEMU's trace checkpoints against two clocks that know nothing of them.
// QMP's STOP (source) and RESUME (destination) events are sent inside the pause: STOP while the
// vCPUs stop (the trace's "stop" phase: src-downtime-start → src-vm-stopped), RESUME as they
// start (its "vcpu-start" phase, which ends at the vm-started checkpoint). Both clocks are the
// host's wall clock, so the STOP→RESUME gap is at most the pause and short of it by at most those
// two phases (1 ms for rounding): measured 0.7 and 3.3 ms short, with 1.7 and 4.4 ms allowed. The
// prober hears nothing from the first probe the paused guest misses to its first reply after the
// resume: a blackout of at least the pause less one probe interval. A pause read from the wrong
// checkpoints (too long, or ending before the destination ran the guest) breaks one of them.
std::optional<Duration> PhaseOf(const MigrationResult& m, const std::string& name) {
  for (const Phase& p : m.downtime_breakdown) {
    if (p.name == name) return p.duration;
  }
  return std::nullopt;
}

testing::AssertionResult PauseAgreesWithQmpAndProber(const RunResult& run) {
  const MigrationResult& m = *run.migration;
  const auto stop = PhaseOf(m, "stop"), start = PhaseOf(m, "vcpu-start");
  if (!m.guest_pause || !m.stop_resume_gap || !stop || !start || !run.probe ||
      !run.probe->longest_blackout || !run.probe->interval) {
    return testing::AssertionFailure() << "a figure is missing: " << testing::PrintToString(run);
  }
  const Duration pause = *m.guest_pause, gap = *m.stop_resume_gap;
  const Duration allowed = *stop + *start + 1ms;
  if (gap > pause + 1ms || pause - gap > allowed) {
    return testing::AssertionFailure()
           << "the trace's pause " << FormatDuration(pause) << " does not hold the STOP→RESUME gap "
           << FormatDuration(gap) << " (QMP events) within " << FormatDuration(allowed)
           << " (its stop and vcpu-start phases)";
  }
  const Duration blackout = *run.probe->longest_blackout, interval = *run.probe->interval;
  if (blackout < pause - interval) {
    return testing::AssertionFailure()
           << "the prober's longest blackout " << FormatDuration(blackout)
           << " is shorter than the trace's pause " << FormatDuration(pause)
           << " less one probe interval (" << FormatDuration(interval) << ")";
  }
  return testing::AssertionSuccess()
         << "pause " << FormatDuration(pause) << ", STOP→RESUME " << FormatDuration(gap)
         << ", blackout " << FormatDuration(blackout);
}

// The seeds' own figures from QEMU's trace points, on the busy guest above: every iteration's
// dirty-bitmap sync, a downtime breakdown across both QEMUs, per-device save/load times. The
// pause the trace checkpoints measure must agree with the STOP→RESUME gap and the prober, which
// measure it independently; each check must also fail when its limit is below what QEMU really
// did, or on a pause mis-read.
TEST_F(QemuSlo, TraceFiguresOfABusyGuest) {
  RunResult run = Migrate({.memory = 512_MiB,
                           .dirty = {.rate = 50_MiBps},
                           .mode = Mode::Precopy,
                           .qemu = {.healthy_for = 1s}});
  ASSERT_TRUE(run.migration);
  const MigrationResult& m = *run.migration;
  ASSERT_EQ(m.status, Status::kCompleted);
  EXPECT_EQ(m.config.count("trace_note"), 0u) << m.config.at("trace_note");
  ASSERT_THAT(m.iterations, Not(::testing::IsEmpty()));
  for (const Iteration& it : m.iterations) {
    EXPECT_TRUE(it.sync_time) << "iteration " << it.index << " has no sync time";
  }
  EXPECT_THAT(run.migration, NoIterationStallAbove(1s));  // why 1 s: BusyGuestPrecopy
  ASSERT_TRUE(m.guest_pause);
  ASSERT_TRUE(m.stop_resume_gap);
  const testing::AssertionResult agrees = PauseAgreesWithQmpAndProber(run);
  EXPECT_TRUE(agrees);
  RecordProperty("pause_check", agrees.message());
  EXPECT_GE(*m.guest_pause + 1ms, *m.downtime) << "QEMU's figure is the source's part of it";
  // Mis-read pauses fail it: one read from the first dirty-bitmap sync (the first pass counted
  // in), and one short of the real pause by more than the stop and vcpu-start phases (as when
  // it ends before the destination has loaded the guest and the load takes longer than those).
  RunResult misread = run;
  ASSERT_TRUE(m.iterations.front().duration && PhaseOf(m, "stop") && PhaseOf(m, "vcpu-start"));
  misread.migration->guest_pause = *m.guest_pause + *m.iterations.front().duration;
  EXPECT_FALSE(PauseAgreesWithQmpAndProber(misread));
  misread.migration->guest_pause =
      *m.guest_pause - *PhaseOf(m, "stop") - *PhaseOf(m, "vcpu-start") - 2ms;
  EXPECT_FALSE(PauseAgreesWithQmpAndProber(misread));
  EXPECT_THAT(run.migration, DowntimePhase("non-iterable-save", Lt(100ms)));
  EXPECT_THAT(run.migration, DowntimeDevice("virtio-net", Lt(50ms)));
  // The same checks with limits below what QEMU did: each fails and names its culprit.
  testing::StringMatchResultListener why;
  EXPECT_FALSE(ExplainMatchResult(NoIterationStallAbove(1us), m, &why));
  // The worst is a sync, or a ram iterate call over the downtime limit on a loaded runner.
  EXPECT_THAT(why.str(), AnyOf(HasSubstr("in dirty-bitmap sync"), HasSubstr("section ram")));
  why.Clear();
  EXPECT_FALSE(ExplainMatchResult(DowntimePhase("destination-load", Lt(1us)), m, &why));
  EXPECT_THAT(why.str(), HasSubstr("downtime phase destination-load is"));
  EXPECT_THAT(why.str(), HasSubstr("slowest device there: ")) << "the loads' per-device times";
  why.Clear();
  EXPECT_FALSE(ExplainMatchResult(DowntimeDevice("virtio-net", Lt(1us)), m, &why));
  EXPECT_THAT(why.str(), HasSubstr("virtio-net took"));
  why.Clear();
  EXPECT_FALSE(ExplainMatchResult(MaxDowntime(Lt(*m.guest_pause)), m, &why));
  EXPECT_THAT(why.str(), HasSubstr("the guest's pause, from QEMU trace checkpoints"));
  EXPECT_THAT(why.str(), HasSubstr("QEMU reported "));
  // Where the pause went by device: the largest phase's slowest device (or, when no device time
  // falls in that phase, the slowest one elsewhere).
  EXPECT_THAT(why.str(), HasSubstr("; the largest phase "));
  EXPECT_THAT(why.str(), HasSubstr("slowest device"));
  RecordProperty("verdict_max_downtime", why.str());
}

// multifd with 4 channels, through QemuSpec's pass-through of capabilities and parameters: the
// RAM goes over the multifd channels (QEMU counts it as multifd-bytes) and the guest comes out
// whole.
TEST_F(QemuSlo, MultifdWithFourChannels) {
  RunResult run = Migrate({.memory = 512_MiB,
                           .dirty = {.rate = 50_MiBps},
                           .mode = Mode::Precopy,
                           .qemu = {.healthy_for = 1s,
                                    .capabilities = {{"multifd", true}},
                                    .parameters = {{"multifd-channels", 4}}}});
  ASSERT_TRUE(run.migration);
  EXPECT_EQ(run.migration->status, Status::kCompleted);
  EXPECT_THAT(run.migration, Converged());
  ASSERT_TRUE(run.migration->bytes.contains("multifd"));
  EXPECT_GT(run.migration->bytes.at("multifd"), 16u << 20)
      << "the dirtier's 64 MiB working set alone is more than this";
  EXPECT_THAT(run, GuestHealthy(1s));
  EXPECT_THAT(run.migration, MemoryVerified());
}

// 500 MiB/s over a 64 MiB working set against QEMU's default 128 MiB/s cap: every pass finds the
// whole working set dirty again, so the stop-and-copy never fits 300 ms. The fixture cancels it
// at the scenario's timeout; the guest goes on running on the source. The timeout also bounds the
// guest's boot: 20 s, as a boot under `stress-ng --cpu 2 --vm 1` took up to 16 s here (15 s
// failed one run in five).
TEST_F(QemuSlo, OverDirtyingGuestDoesNotConvergeAtDefaultBandwidth) {
  RunResult run = Migrate(
      {.memory = 512_MiB, .dirty = {.rate = 500_MiBps}, .mode = Mode::Precopy, .timeout = 20s});
  ASSERT_TRUE(run.migration);
  EXPECT_THAT(run.migration, Not(Converged()));
  EXPECT_EQ(run.migration->status, Status::kCancelled);
  EXPECT_THAT(run.migration, Iterations(Ge(3u)));
}

// A guest on 4 vCPUs rewriting random pages of a 128 MiB working set at 300 MiB/s, with the cap
// raised to 10 GiB/s and a 100 ms goal: the link (loopback, limited by TCG's CPU) outruns the
// dirtier and precopy converges (0.8–0.9 s). The guest must come out whole: this is the scenario
// QEMU 7.2 breaks (see the last test).
Scenario FastDirtyingGuest() {
  return {.memory = 512_MiB,
          .vcpus = 4,
          .dirty = {.rate = 300_MiBps, .pattern = Pattern::Random},
          .mode = Mode::Precopy,
          .downtime_limit = 100ms,
          .max_bandwidth = 10_GiBps,
          .timeout = 60s,
          .qemu = {.dirty_memory = 128_MiB, .healthy_for = 5s}};
}

TEST_F(QemuSlo, FastDirtyingGuestConvergesWithRaisedBandwidth) {
  RunResult run = Migrate(FastDirtyingGuest());
  EXPECT_THAT(run.migration, Converged());
  EXPECT_THAT(run.migration, MaxDowntime(Lt(300ms)));
  EXPECT_THAT(run, GuestHealthy(5s));
}

// Postcopy after the first pass: the destination runs the guest (2 vCPUs rewriting random pages
// of 256 MiB at 100 MiB/s) and pulls every page it touches before the background stream (capped
// at 64 MiB/s) brings it. With postcopy-preempt the page requests have their own channel.
// Per-fault latency comes from the destination's trace events (request → page placed); their
// count matched QEMU's postcopy-requests in every run. Measured (2 runs): 13–15 thousand faults,
// p50 60–67 µs, p99 1.4–2.3 ms, max 64–89 ms; downtime 1 ms; blocktime 0.66–0.91 s; total 4.6–4.7
// s.
Scenario PostcopyBusyGuest() {
  return {.memory = 512_MiB,
          .vcpus = 2,
          .dirty = {.rate = 100_MiBps, .pattern = Pattern::Random},
          .mode = Mode::Postcopy,
          .max_bandwidth = 64_MiBps,
          .postcopy_after = 1,
          .qemu = {.dirty_memory = 256_MiB, .postcopy_preempt = true}};
}

// The per-fault latency SLO of that guest. With preempt (30 migrations here, 6 of them under
// `stress-ng --cpu 2 --vm 1`): p50 0.1 ms, p90 0.2-1.8 ms (0.6-5.6 ms under stress), p99 4-47 ms
// (40-90 ms under stress in an earlier 8 runs: the vCPU thread waits one or two scheduler
// slices). Without preempt a request waits for the stream's next 100 ms rate-limit slice unless
// it lands while the slice is still sending: p90 84-98 ms in all 17 runs, while p50 spread 18-77
// ms and was 1.7 ms over 209 requests once in CI. So p90 is what tells preempt from no preempt;
// p50 alone missed it on a host where most requests met a sending stream.
auto PostcopyLatencySlo() {
  return AllOf(PostcopyLatency(Percentile(50), Lt(5ms)), PostcopyLatency(Percentile(90), Lt(20ms)),
               PostcopyLatency(Percentile(99), Lt(100ms)));
}

TEST_F(QemuSlo, PostcopyWithFaultLatency) {
  RunResult run = Migrate(PostcopyBusyGuest());
  ASSERT_TRUE(run.migration);
  EXPECT_EQ(run.migration->status, Status::kCompleted);
  // The guest's pause (which MaxDowntime judges when QEMU's own figure is shorter): 68–76 ms
  // here, up to 120 ms under `stress-ng --cpu 2 --vm 1` (TCG loads the device state on a starved
  // CPU), so 150 ms: a gate that holds on a busy runner and still catches a doubling.
  EXPECT_THAT(run.migration, MaxDowntime(Lt(150ms)));
  EXPECT_THAT(run.migration, PostcopyLatencySlo());
  EXPECT_TRUE(run.migration->postcopy_blocktime) << "QEMU reported no postcopy-blocktime";
  // QEMU's downtime ends when the source has sent the device state; the guest stays paused until
  // the destination has loaded it (faulting pages in) and started its vCPUs. Measured: QEMU 3 ms,
  // the guest's pause 25 ms (destination-load 21 ms).
  ASSERT_TRUE(run.migration->guest_pause);
  ASSERT_TRUE(run.migration->downtime);
  EXPECT_GT(*run.migration->guest_pause, *run.migration->downtime);
  RecordProperty("qemu_downtime_us", std::to_string(run.migration->downtime->count()));
  RecordProperty("guest_pause_us", std::to_string(run.migration->guest_pause->count()));
  EXPECT_THAT(run, GuestHealthy(3s));
  EXPECT_THAT(run.migration, MemoryVerified());
}

// The same migration without postcopy-preempt: page requests share the capped stream and wait
// behind it. The SLO above catches that configuration regression, with the numbers: measured p90
// 84-98 ms over 72-119 faults (the vCPUs stall on each, so there are few). The guest is still
// whole; only slow.
TEST_F(QemuSlo, PostcopyWithoutPreemptFailsTheLatencySlo) {
  Scenario s = PostcopyBusyGuest();
  s.qemu.postcopy_preempt = false;
  RunResult run = Migrate(s);
  ASSERT_TRUE(run.migration);
  EXPECT_EQ(run.migration->status, Status::kCompleted);
  testing::StringMatchResultListener why;
  EXPECT_FALSE(testing::ExplainMatchResult(PostcopyLatencySlo(), *run.migration, &why))
      << why.str();
  EXPECT_THAT(why.str(), HasSubstr("postcopy latency is"));
  RecordProperty("verdict", why.str());
  // The guest's pause shows it too (recorded, not asserted: 100–200 ms over the runs): QEMU
  // reported 1 ms, the guest stood still 203 ms in one run, almost all of it the destination
  // loading virtio-net's state (196 ms: its rings fault in behind the capped stream).
  why.Clear();
  (void)testing::ExplainMatchResult(MaxDowntime(Lt(100ms)), *run.migration, &why);
  RecordProperty("downtime", why.str());
  EXPECT_THAT(run, GuestHealthy(3s));
}

// What the guest sees against what QEMU reports: the STOP→RESUME gap and the prober's blackout run
// tens of ms above QEMU's `downtime` (the announce, the tap, the bridge relearning the guest's
// MAC). Reported in result.json; the bound only catches a blackout far beyond the downtime.
TEST_F(QemuSlo, GuestBlackoutVersusReportedDowntime) {
  RunResult run = Migrate({.memory = 512_MiB,
                           .dirty = {.rate = 50_MiBps},
                           .mode = Mode::Precopy,
                           .probe = {.interval = 5ms},
                           .qemu = {.healthy_for = 1s}});
  ASSERT_TRUE(run.migration);
  ASSERT_TRUE(run.migration->downtime);
  ASSERT_TRUE(run.migration->stop_resume_gap);
  EXPECT_GE(*run.migration->stop_resume_gap, *run.migration->downtime - 5ms)
      << "the guest cannot be stopped for less time than QEMU says it was down";
  EXPECT_THAT(run, DowntimeGap(Lt(500ms)));  // measured 43–60 ms
  RecordProperty("stop_resume_gap_ms",
                 std::to_string(run.migration->stop_resume_gap->count() / 1000));
  ASSERT_TRUE(run.migration->guest_pause);
  EXPECT_GE(*run.migration->guest_pause, *run.migration->downtime - 1ms);
  RecordProperty("guest_pause_us", std::to_string(run.migration->guest_pause->count()));
}

// The suite catches a real VMM bug: Debian 12's QEMU 7.2 corrupts a busy guest it migrates under
// TCG (most likely the TCG dirty-bitmap coherency bug fixed upstream in 9.0). The scenario QEMU 10
// passes above must fail its verdict with the guest's own report quoted. The bug is a race; how
// often the guest broke (7.2, TCG, 2 cores): this scenario 12 of 12 (a kernel oops, GPF or NULL
// dereference within seconds of resume; once a guest that never answered again); 2 vCPUs and a
// 64 MiB working set at 300 MiB/s, 7 of 12; 2 vCPUs at 100 MiB/s, 8 of 11 (the dirtier's own
// "lost write"); 1 vCPU, 0 of 4. QEMU 10 broke none. The test migrates up to 3 times and needs one
// broken guest.
TEST_F(QemuSlo, CatchesQemu72CorruptingABusyGuest) {
  const char* cache = std::getenv("MIGTEST_CACHE");
  const char* home = std::getenv("HOME");
  const std::filesystem::path root =
      (cache && *cache ? std::filesystem::path(cache)
                       : std::filesystem::path(home ? home : "/tmp") / ".cache" / "migtest") /
      "qemu-7.2" / "root";
  const std::filesystem::path old = root / "usr/bin/qemu-system-x86_64";
  if (!std::filesystem::exists(old)) {
    if (InCi()) FAIL() << old << " is missing: ci/install-qemu --with-7.2 unpacks it";
    GTEST_SKIP() << old << " is missing (ci/install-qemu --with-7.2 unpacks it)";
  }
  Scenario s = FastDirtyingGuest();
  s.qemu.binary = old;
  s.qemu.data_dir = root / "usr/share/qemu";
  s.qemu.accel = "tcg";      // the bug is TCG's; under KVM 7.2 tracks dirty pages correctly
  s.qemu.healthy_for = 10s;  // a "Bad page state" has shown up 6 s after resume
  std::string verdicts;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    RunResult run = Migrate(s);
    ASSERT_TRUE(run.migration);
    EXPECT_THAT(run.migration->config["qemu_version"], HasSubstr("version 7.2"));
    testing::StringMatchResultListener why;
    const bool healthy = testing::ExplainMatchResult(GuestHealthy(10s), run, &why);
    // Caught: the verdict fails and quotes the guest's own words. A guest that just went silent
    // (it happened once) is broken too, but the test wants the evidence quoted: try again.
    const bool quoted =
        !why.str().empty() && (why.str().find("BUG") != std::string::npos ||
                               why.str().find("Oops") != std::string::npos ||
                               why.str().find("Kernel panic") != std::string::npos ||
                               why.str().find("corrupt") != std::string::npos ||
                               why.str().find("fault") != std::string::npos);
    if (!healthy && quoted) {
      RecordProperty("caught_on_attempt", attempt);
      RecordProperty("verdict", why.str());
      return;
    }
    verdicts += fmt::format("\n  attempt {}: {}{}", attempt, healthy ? "healthy: " : "", why.str());
  }
  ADD_FAILURE() << "QEMU 7.2 migrated the busy guest 3 times without a quoted sign of corruption:"
                << verdicts;
}

// Faults, each with what must not be lost.

// The destination QEMU killed 1 s into a precopy: the migration fails with QEMU's reason, QEMU
// resumes the guest on the source, and there it keeps answering the prober and its dirtier keeps
// verifying every page it rewrites (source-after-fault.console.log): the fault lost nothing.
TEST_F(QemuSlo, KilledDestinationMidPrecopyLeavesTheGuestWholeOnTheSource) {
  RunResult run = Migrate(
      {.memory = 512_MiB,
       .dirty = {.rate = 50_MiBps},
       .mode = Mode::Precopy,
       .max_bandwidth = 32_MiBps,
       .fault = FaultInjection{.kind = FaultInjection::Kind::kKillDestination, .after = 1s}});
  ASSERT_TRUE(run.migration);
  EXPECT_EQ(run.migration->status, Status::kFailed);
  EXPECT_TRUE(run.migration->error) << "a failed migration says why";
  ASSERT_TRUE(run.guest);
  EXPECT_THAT(run.guest->console, HasSubstr("source-after-fault"));
  EXPECT_THAT(run, GuestHealthy(3s)) << "the guest must keep running, whole, on the source";
  EXPECT_EQ(run.guest->answered, true) << "the source's guest must still answer the prober";
  EXPECT_FALSE(run.migration->verified) << "nothing reached a destination to verify";
}

// Postcopy with its link broken 1 s after the switch (the TCP connections reset): QEMU pauses
// (postcopy-paused) instead of losing the guest, which is split between the two sides; recovery
// (migrate-recover on the destination, migrate resume=true on the source) completes it, and the
// guest's dirtier then verifies its working set on the destination.
TEST_F(QemuSlo, PostcopyRecoversFromABrokenLink) {
  Scenario s = PostcopyBusyGuest();
  s.fault = FaultInjection{.kind = FaultInjection::Kind::kBreakLink, .after = 1s};
  s.qemu.postcopy_recovery = true;
  RunResult run = Migrate(s);
  ASSERT_TRUE(run.migration);
  EXPECT_EQ(run.migration->status, Status::kCompleted);
  EXPECT_TRUE(run.extra.contains("postcopy_recovery")) << "the link broke but nothing paused";
  EXPECT_THAT(run, GuestHealthy(3s));
  EXPECT_THAT(run.migration, MemoryVerified());
}

}  // namespace
