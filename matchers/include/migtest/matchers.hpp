// migtest matchers: SLO assertions on migration results that explain what broke.
//
// Every matcher accepts the part it judges either as is or as the std::optional a RunResult holds
// (a missing part or figure is a non-match that says so, never a pass), and most wrap an inner
// matcher so that Lt/Le/Gt/AllOf/Not compose. Durations compare across units (100ms, 0.1s,
// 100000us). What each judges on each backend: the README's "Which matcher takes what".
//
//   using namespace std::chrono_literals;
//   using namespace migtest;   // and ::testing::{Lt, Le, Ge, Not, AllOf}
//
//   On run.migration (MigrationResult):
//     EXPECT_THAT(run.migration, MaxDowntime(Lt(100ms)));   // the judged downtime (below)
//     EXPECT_THAT(run.migration, DowntimePhase("snapshot", Lt(10ms)));
//     EXPECT_THAT(run.migration, DowntimeDevice("virtio-net", Lt(2ms)));       // QEMU trace
//     EXPECT_THAT(run.migration, TotalMigrationTime(Le(30s)));
//     EXPECT_THAT(run.migration, SetupTime(Lt(50ms)));
//     EXPECT_THAT(run.migration, NoIterationStallAbove(50ms));
//     EXPECT_THAT(run.migration, Iterations(Le(5u)));
//     EXPECT_THAT(run.migration, PagesResent(Gt(0u)));   // sent again after the first pass
//     EXPECT_THAT(run.migration, Converged());
//     EXPECT_THAT(run.migration, PostcopyLatency(Percentile(99), Lt(5ms)));  // or Average(), Max()
//     EXPECT_THAT(run.migration, Bandwidth(Ge(1000.0)));                      // MiB/s, average
//     EXPECT_THAT(run.migration, ByteCount("multifd", Gt(0u)));   // a VMM counter, by name
//     EXPECT_THAT(run.migration, PageCount("duplicate", Gt(0u)));  // (zero pages, for QEMU)
//     EXPECT_THAT(run.migration, MemoryVerified());  // engine: every page; QEMU: the dirtier's set
//   On run.probe (ProbeResult):
//     EXPECT_THAT(run.probe, GuestBlackout(Lt(150ms)));
//     EXPECT_THAT(run.probe, PacketsLost(Le(5u)));
//   On run.dirty (DirtyResult):
//     EXPECT_THAT(run.dirty, DirtyRate(Near(200, 0.02)));  // MiB/s, within 2 % of 200
//   On the whole run (RunResult):
//     EXPECT_THAT(run, DowntimeGap(Lt(50ms)));  // guest-visible blackout minus judged downtime
//     EXPECT_THAT(run, GuestHealthy());         // console, dirtier and prober after the switch
//
// The downtime judged is JudgedDowntime (results/model.hpp): the guest's pause where the run
// measured it (QEMU 10's trace checkpoints, else the STOP→RESUME event gap), else the VMM's own
// figure; when the pause is judged, the explanation shows the VMM's figure beside it by name
// ("QEMU reported 22ms"). With QEMU's per-device times, MaxDowntime and DowntimePhase also name
// the largest phase's slowest device. A failure reads, for example:
//   Expected: has max downtime that is < 30ms
//     Actual: (completed in 1730ms, downtime 39.7ms (QEMU reported 22ms) [qemu-trace]), whose
//             downtime is 39.7ms (the guest's pause, from QEMU trace checkpoints
//             src-downtime-start → dst-precopy-bh-vm-started; QEMU reported 22ms) (stop=1ms,
//             iterable-save=3ms, non-iterable-save=30.1ms, …); the largest phase
//             non-iterable-save 30.1ms, slowest device there: 0000:00:02.0/vga 12.3ms
#pragma once

#include <gmock/gmock.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include "migtest/matchers/internal/matchers.hpp"
#include "migtest/results/model.hpp"
#include "migtest/results/print.hpp"  // PrintTo: a failing EXPECT_THAT prints a summary

namespace migtest {

// The guest's pause: source stop → destination vCPUs running. Judges what the run measured apart
// from the VMM when it can (QEMU: the trace checkpoints, else the STOP→RESUME event gap; the
// engine: its two clocks), else the VMM's own figure; the explanation says which it used, shows
// the VMM's own figure beside it (ReportedDowntimeName: "QEMU reported"), gives the downtime
// breakdown when there is one and, with per-device times (QEMU trace), the largest phase's slowest
// device ("the largest phase non-iterable-save 30.1ms, slowest device there: vga 12.3ms").
template <typename M>
internal::FigureMatcher<MigrationResult, Duration> MaxDowntime(M inner) {
  return {internal::DowntimeSpec(), testing::MatcherCast<Duration>(inner)};
}

// One named phase of the downtime breakdown (e.g. "snapshot", "final_iter", "resume"). Explained
// as a part of the judged downtime ("30.1ms of 39.7ms"), with the slowest device of that phase and
// of the largest phase when the run has per-device times.
template <typename M>
internal::FigureMatcher<MigrationResult, Duration> DowntimePhase(std::string phase, M inner) {
  return {internal::DowntimePhaseSpec(std::move(phase)), testing::MatcherCast<Duration>(inner)};
}

// The time one device's state took to save (source) or load (destination) while the guest was
// paused (QEMU's per-device trace events). `device` is the idstr or any part of it
// ("virtio-net" matches "0000:00:01.0/virtio-net"); the worst matching entry is judged.
template <typename M>
internal::FigureMatcher<MigrationResult, Duration> DowntimeDevice(std::string device, M inner) {
  return {internal::DowntimeDeviceSpec(std::move(device)), testing::MatcherCast<Duration>(inner)};
}

template <typename M>
internal::FigureMatcher<MigrationResult, Duration> TotalMigrationTime(M inner) {
  return {internal::TotalTimeSpec(), testing::MatcherCast<Duration>(inner)};
}

template <typename M>
internal::FigureMatcher<MigrationResult, Duration> SetupTime(M inner) {
  return {internal::SetupTimeSpec(), testing::MatcherCast<Duration>(inner)};
}

// The number of precopy iterations reported.
template <typename M>
internal::FigureMatcher<MigrationResult, size_t> Iterations(M inner) {
  return {internal::IterationsSpec(), testing::MatcherCast<size_t>(inner)};
}

// The pages sent again after the first full pass: by the later precopy rounds and the
// stop-and-copy, what the guest dirtied while it was being copied. Every completed precopy has a
// round after the first (the stop-and-copy), so Iterations(Ge(2u)) says nothing about dirtying;
// this does: 0 for a guest that wrote nothing. Needs the per-iteration page counts.
template <typename M>
internal::FigureMatcher<MigrationResult, uint64_t> PagesResent(M inner) {
  return {internal::PagesResentSpec(), testing::MatcherCast<uint64_t>(inner)};
}

// QEMU's auto-converge: the vCPU throttle (percent) of the first iteration it throttled, and the
// highest of any iteration. With cpu-throttle-initial I, -increment and -max X, a run that needed
// throttling shows FirstCpuThrottle(Ge(I)) and MaxCpuThrottle(Le(X)); a run that never
// throttled has neither figure (the matcher says so). The explanation lists every iteration's.
template <typename M>
internal::FigureMatcher<MigrationResult, double> FirstCpuThrottle(M inner) {
  return {internal::CpuThrottleSpec(/*first=*/true), testing::MatcherCast<double>(inner)};
}
template <typename M>
internal::FigureMatcher<MigrationResult, double> MaxCpuThrottle(M inner) {
  return {internal::CpuThrottleSpec(/*first=*/false), testing::MatcherCast<double>(inner)};
}

// One of the VMM's own byte or page counters, by its name in the result model (MigrationResult::
// bytes and ::pages; QEMU's query-migrate under these names): bytes "transferred", "multifd",
// "xbzrle", "postcopy", …; pages "normal", "duplicate" (zero pages), "xbzrle",
// "xbzrle_cache_miss", …. A run whose VMM reported no such counter is a non-match naming those it
// did report. Example, QEMU's zero-page detection sent no zero page as one:
//   EXPECT_THAT(run.migration, PageCount("duplicate", Gt(0u)));
template <typename M>
internal::FigureMatcher<MigrationResult, uint64_t> ByteCount(std::string name, M inner) {
  return {internal::CounterSpec(/*bytes=*/true, std::move(name)),
          testing::MatcherCast<uint64_t>(inner)};
}
template <typename M>
internal::FigureMatcher<MigrationResult, uint64_t> PageCount(std::string name, M inner) {
  return {internal::CounterSpec(/*bytes=*/false, std::move(name)),
          testing::MatcherCast<uint64_t>(inner)};
}

// The average migration bandwidth in MiB/s (per-second samples, else per-iteration figures).
template <typename M>
internal::FigureMatcher<MigrationResult, double> Bandwidth(M inner) {
  return {internal::BandwidthSpec(), testing::MatcherCast<double>(inner)};
}

// Every iteration's dirty-bitmap sync and every reported stall (QEMU DEBUG_SAVEVM sections) is at
// most `limit`. Names the worst culprit. An iteration's length is not a stall and is not judged.
inline internal::CheckMatcher<MigrationResult> NoIterationStallAbove(Duration limit) {
  return internal::CheckMatcher<MigrationResult>(internal::NoIterationStallAboveSpec(limit));
}

// Completed, and precopy reached the downtime goal by itself (not forced at the iteration cap).
// A run whose format does not say whether it converged is a non-match that says so.
inline internal::CheckMatcher<MigrationResult> Converged() {
  return internal::CheckMatcher<MigrationResult>(internal::ConvergedSpec());
}

// The destination's memory was checked in full and found equal. The engine checks every page
// against the source's. On QEMU the guest's dirtier checks its working set (not the rest of the
// guest): after the migration it sweeps every page of it, and this matches only when it found
// none corrupted and checked all of them; a partial check fails with its coverage ("11300 of
// 16384 pages (68.9 %) checked after the migration"), a corrupted page with the dirtier's report.
// What the rest of the guest made of the migration: GuestHealthy().
inline internal::CheckMatcher<MigrationResult> MemoryVerified() {
  return internal::CheckMatcher<MigrationResult>(internal::MemoryVerifiedSpec());
}

// The guest itself is fine after the migration: its console (the destination's serial log) shows
// no kernel panic, oops, BUG or corruption report, its dirtier found no page corrupted, and it
// answered the prober after resume. With `min_running`, the dirtier must also have reported at
// least that many seconds on the destination (verifying every page it rewrote). Explains with the
// offending console lines quoted, file:line.
inline testing::PolymorphicMatcher<internal::GuestHealthyMatcher> GuestHealthy() {
  return testing::MakePolymorphicMatcher(internal::GuestHealthyMatcher(std::nullopt));
}
inline testing::PolymorphicMatcher<internal::GuestHealthyMatcher> GuestHealthy(
    std::chrono::seconds min_running) {
  return testing::MakePolymorphicMatcher(internal::GuestHealthyMatcher(min_running));
}

// Selectors for PostcopyLatency.
inline internal::LatencySelector Percentile(double p) {
  return {internal::LatencySelector::Kind::kPercentile, p};
}
inline internal::LatencySelector Average() {
  return {internal::LatencySelector::Kind::kAverage, 0};
}
inline internal::LatencySelector Max() { return {internal::LatencySelector::Kind::kMax, 0}; }

// Postcopy page-request latency. A percentile read from a histogram is a bucket bound, and the
// explanation says so.
template <typename M>
internal::FigureMatcher<MigrationResult, Duration> PostcopyLatency(internal::LatencySelector which,
                                                                   M inner) {
  return {internal::PostcopyLatencySpec(which), testing::MatcherCast<Duration>(inner)};
}

// The longest time the guest did not answer the prober.
template <typename M>
internal::FigureMatcher<ProbeResult, Duration> GuestBlackout(M inner) {
  return {internal::BlackoutSpec(), testing::MatcherCast<Duration>(inner)};
}

template <typename M>
internal::FigureMatcher<ProbeResult, uint64_t> PacketsLost(M inner) {
  return {internal::PacketsLostSpec(), testing::MatcherCast<uint64_t>(inner)};
}

// The dirtier's achieved rate in MiB/s (the average of its per-second figures).
template <typename M>
internal::FigureMatcher<DirtyResult, double> DirtyRate(M inner) {
  return {internal::DirtyRateSpec(), testing::MatcherCast<double>(inner)};
}

// The guest-visible blackout minus the judged downtime (MaxDowntime's): what the network path
// adds to the guest's pause, or, where only the VMM's own figure exists, what that figure hides.
template <typename M>
internal::FigureMatcher<RunResult, Duration> DowntimeGap(M inner) {
  return {internal::DowntimeGapSpec(), testing::MatcherCast<Duration>(inner)};
}

// A number within `relative` (0.02 = 2 %) of `target`.
inline testing::PolymorphicMatcher<internal::NearMatcher> Near(double target, double relative) {
  return testing::MakePolymorphicMatcher(internal::NearMatcher(target, relative));
}

}  // namespace migtest
