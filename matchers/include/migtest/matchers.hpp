// migtest matchers: SLO assertions on migration results that explain what broke.
//
// Every matcher accepts the part it judges either as is or as the std::optional a RunResult holds
// (a missing part or figure is a non-match that says so, never a pass), and most wrap an inner
// matcher so that Lt/Le/Gt/AllOf/Not compose. Durations compare across units (100ms, 0.1s,
// 100000us).
//
//   using namespace std::chrono_literals;
//   using namespace migtest;   // and ::testing::{Lt, Le, Ge, Not, AllOf}
//
//   On run.migration (MigrationResult):
//     EXPECT_THAT(run.migration, MaxDowntime(Lt(100ms)));
//     EXPECT_THAT(run.migration, DowntimePhase("snapshot", Lt(10ms)));
//     EXPECT_THAT(run.migration, DowntimeDevice("virtio-net", Lt(2ms)));       // QEMU trace
//     EXPECT_THAT(run.migration, TotalMigrationTime(Le(30s)));
//     EXPECT_THAT(run.migration, SetupTime(Lt(50ms)));
//     EXPECT_THAT(run.migration, NoIterationStallAbove(50ms));
//     EXPECT_THAT(run.migration, Iterations(Le(5u)));
//     EXPECT_THAT(run.migration, Converged());
//     EXPECT_THAT(run.migration, PostcopyLatency(Percentile(99), Lt(5ms)));  // or Average(), Max()
//     EXPECT_THAT(run.migration, Bandwidth(Ge(1000.0)));                      // MiB/s, average
//     EXPECT_THAT(run.migration, MemoryVerified());
//   On run.probe (ProbeResult):
//     EXPECT_THAT(run.probe, GuestBlackout(Lt(150ms)));
//     EXPECT_THAT(run.probe, PacketsLost(Le(5u)));
//   On run.dirty (DirtyResult):
//     EXPECT_THAT(run.dirty, DirtyRate(Near(200, 0.02)));                  // within 2 % of 200
//     MiB/s
//   On the whole run (RunResult):
//     EXPECT_THAT(run, DowntimeGap(Lt(50ms)));   // guest-visible blackout minus reported downtime
//
// A failure reads, for example:
//   Expected: has max downtime that is < 100ms
//     Actual: completed in 960ms, downtime 143ms, 3 iterations, whose downtime is 143ms
//             (final_iter=120ms, state=9ms, send_state=13ms, complete=1ms)
#pragma once

#include <fmt/format.h>
#include <gmock/gmock.h>

#include <chrono>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

#include "migtest/results/model.hpp"

namespace migtest {

// One-line human summaries, used by PrintTo (so a failing EXPECT_THAT prints a summary, not bytes)
// and by the fmt formatters below.
std::string Summary(const MigrationResult& m);
std::string Summary(const ProbeResult& p);
std::string Summary(const DirtyResult& d);
std::string Summary(const RunResult& r);
// "143ms", "6.2ms", "850us": the unit people read in an SLO.
std::string FormatDuration(Duration d);

void PrintTo(const MigrationResult& m, std::ostream* os);
void PrintTo(const ProbeResult& p, std::ostream* os);
void PrintTo(const DirtyResult& d, std::ostream* os);
void PrintTo(const RunResult& r, std::ostream* os);

namespace internal {

template <typename Part>
std::string_view PartName();
template <>
inline std::string_view PartName<MigrationResult>() {
  return "migration";
}
template <>
inline std::string_view PartName<ProbeResult>() {
  return "probe";
}
template <>
inline std::string_view PartName<DirtyResult>() {
  return "dirty";
}
template <>
inline std::string_view PartName<RunResult>() {
  return "run";
}

// The part a matcher judges, from the part itself or from RunResult's optional.
template <typename Part>
const Part* PartOf(const Part& p) {
  return &p;
}
template <typename Part>
const Part* PartOf(const std::optional<Part>& p) {
  return p ? &*p : nullptr;
}

template <typename T, typename Part>
concept PartLike = std::is_same_v<std::remove_cvref_t<T>, Part> ||
    std::is_same_v<std::remove_cvref_t<T>, std::optional<Part>>;

// What a figure matcher needs to know about its figure.
template <typename Part, typename Value>
struct FigureSpec {
  std::string description;  // completes "has …": "max downtime"
  std::function<std::optional<Value>(const Part&)> get;
  std::function<std::string(const Part&, const Value&)> explain;  // "whose downtime is 143ms …"
  std::function<std::string(const Part&)> missing;  // "which has no downtime figure (…)"
};

template <typename T, typename Part, typename Value>
class FigureMatcherImpl : public testing::MatcherInterface<T> {
 public:
  FigureMatcherImpl(FigureSpec<Part, Value> spec, testing::Matcher<Value> inner)
      : spec_(std::move(spec)), inner_(std::move(inner)) {}

  bool MatchAndExplain(T x, testing::MatchResultListener* listener) const override {
    const Part* part = PartOf<Part>(x);
    if (part == nullptr) {
      *listener << "which has no " << PartName<Part>() << " result";
      return false;
    }
    std::optional<Value> value = spec_.get(*part);
    if (!value) {
      *listener << spec_.missing(*part);
      return false;
    }
    testing::StringMatchResultListener inner;
    const bool matched = inner_.MatchAndExplain(*value, &inner);
    if (listener->IsInterested()) {
      *listener << spec_.explain(*part, *value);
      if (!inner.str().empty()) *listener << ", " << inner.str();
    }
    return matched;
  }
  void DescribeTo(std::ostream* os) const override {
    *os << "has " << spec_.description << " that ";
    inner_.DescribeTo(os);
  }
  void DescribeNegationTo(std::ostream* os) const override {
    *os << "has " << spec_.description << " that ";
    inner_.DescribeNegationTo(os);
  }

 private:
  FigureSpec<Part, Value> spec_;
  testing::Matcher<Value> inner_;
};

// A polymorphic matcher on one figure of a part: converts to Matcher<Part> and to
// Matcher<std::optional<Part>> (by value or reference).
template <typename Part, typename Value>
class FigureMatcher {
 public:
  FigureMatcher(FigureSpec<Part, Value> spec, testing::Matcher<Value> inner)
      : spec_(std::move(spec)), inner_(std::move(inner)) {}

  template <typename T>
  requires PartLike<T, Part>
  operator testing::Matcher<T>() const {  // NOLINT: implicit by design, as gmock's own
    return testing::Matcher<T>(new FigureMatcherImpl<T, Part, Value>(spec_, inner_));
  }

 private:
  FigureSpec<Part, Value> spec_;
  testing::Matcher<Value> inner_;
};

// A yes/no property of a part, with its own words.
template <typename Part>
struct CheckSpec {
  std::string description;  // "has no iteration stall above 50ms"
  std::string negation;     // "has an iteration stall above 50ms"
  // Returns whether it holds, and writes why to *why ("whose worst stall is …").
  std::function<bool(const Part&, std::string* why)> check;
};

template <typename T, typename Part>
class CheckMatcherImpl : public testing::MatcherInterface<T> {
 public:
  explicit CheckMatcherImpl(CheckSpec<Part> spec) : spec_(std::move(spec)) {}
  bool MatchAndExplain(T x, testing::MatchResultListener* listener) const override {
    const Part* part = PartOf<Part>(x);
    if (part == nullptr) {
      *listener << "which has no " << PartName<Part>() << " result";
      return false;
    }
    std::string why;
    const bool holds = spec_.check(*part, &why);
    if (listener->IsInterested()) *listener << why;
    return holds;
  }
  void DescribeTo(std::ostream* os) const override { *os << spec_.description; }
  void DescribeNegationTo(std::ostream* os) const override { *os << spec_.negation; }

 private:
  CheckSpec<Part> spec_;
};

template <typename Part>
class CheckMatcher {
 public:
  explicit CheckMatcher(CheckSpec<Part> spec) : spec_(std::move(spec)) {}
  template <typename T>
  requires PartLike<T, Part>
  operator testing::Matcher<T>() const {  // NOLINT: implicit by design
    return testing::Matcher<T>(new CheckMatcherImpl<T, Part>(spec_));
  }

 private:
  CheckSpec<Part> spec_;
};

// The non-template halves, in matchers.cc.
FigureSpec<MigrationResult, Duration> DowntimeSpec();
FigureSpec<MigrationResult, Duration> DowntimePhaseSpec(std::string phase);
FigureSpec<MigrationResult, Duration> DowntimeDeviceSpec(std::string device);
FigureSpec<MigrationResult, Duration> TotalTimeSpec();
FigureSpec<MigrationResult, Duration> SetupTimeSpec();
FigureSpec<MigrationResult, size_t> IterationsSpec();
FigureSpec<MigrationResult, double> BandwidthSpec();
FigureSpec<ProbeResult, Duration> BlackoutSpec();
FigureSpec<ProbeResult, uint64_t> PacketsLostSpec();
FigureSpec<DirtyResult, double> DirtyRateSpec();
FigureSpec<RunResult, Duration> DowntimeGapSpec();
CheckSpec<MigrationResult> NoIterationStallAboveSpec(Duration limit);
CheckSpec<MigrationResult> ConvergedSpec();
CheckSpec<MigrationResult> MemoryVerifiedSpec();

// GuestHealthy's judgement: on RunResult::guest, a GuestResult or its optional.
class GuestHealthyMatcher {
 public:
  explicit GuestHealthyMatcher(std::optional<std::chrono::seconds> min_running)
      : min_running_(min_running) {}
  bool MatchAndExplain(const RunResult& r, testing::MatchResultListener* listener) const {
    return Check(r.guest ? &*r.guest : nullptr, listener);
  }
  bool MatchAndExplain(const GuestResult& g, testing::MatchResultListener* listener) const {
    return Check(&g, listener);
  }
  bool MatchAndExplain(const std::optional<GuestResult>& g,
                       testing::MatchResultListener* listener) const {
    return Check(g ? &*g : nullptr, listener);
  }
  void DescribeTo(std::ostream* os) const;
  void DescribeNegationTo(std::ostream* os) const;

 private:
  bool Check(const GuestResult* g, testing::MatchResultListener* listener) const;
  std::optional<std::chrono::seconds> min_running_;
};

// Which figure of a latency distribution PostcopyLatency judges.
struct LatencySelector {
  enum class Kind { kPercentile, kAverage, kMax } kind = Kind::kPercentile;
  double percentile = 0;
};
FigureSpec<MigrationResult, Duration> PostcopyLatencySpec(LatencySelector selector);

class NearMatcher {
 public:
  NearMatcher(double target, double relative) : target_(target), relative_(relative) {}
  bool MatchAndExplain(double x, testing::MatchResultListener* listener) const;
  void DescribeTo(std::ostream* os) const;
  void DescribeNegationTo(std::ostream* os) const;

 private:
  double target_;
  double relative_;
};

}  // namespace internal

// The guest's pause: source stop → destination vCPUs running. Judges what the run measured apart
// from the VMM when it can (QEMU: the trace checkpoints, else the STOP→RESUME event gap; the
// engine: its two clocks), else the VMM's own figure; the explanation says which it used, shows
// the VMM's own figure beside it, and gives the downtime breakdown when there is one.
template <typename M>
internal::FigureMatcher<MigrationResult, Duration> MaxDowntime(M inner) {
  return {internal::DowntimeSpec(), testing::MatcherCast<Duration>(inner)};
}

// One named phase of the downtime breakdown (e.g. "snapshot", "final_iter", "resume").
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

// The destination checked its memory against the source's and found it equal (the engine checks
// every page; a real VMM reports no such figure: judge its guest with GuestHealthy()).
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

// The guest-visible blackout minus the VMM-reported downtime: what the VMM's figure hides.
template <typename M>
internal::FigureMatcher<RunResult, Duration> DowntimeGap(M inner) {
  return {internal::DowntimeGapSpec(), testing::MatcherCast<Duration>(inner)};
}

// A number within `relative` (0.02 = 2 %) of `target`.
inline testing::PolymorphicMatcher<internal::NearMatcher> Near(double target, double relative) {
  return testing::MakePolymorphicMatcher(internal::NearMatcher(target, relative));
}

}  // namespace migtest

template <>
struct fmt::formatter<migtest::MigrationResult> : fmt::formatter<std::string> {
  auto format(const migtest::MigrationResult& v, fmt::format_context& ctx) const {
    return fmt::formatter<std::string>::format(migtest::Summary(v), ctx);
  }
};
template <>
struct fmt::formatter<migtest::ProbeResult> : fmt::formatter<std::string> {
  auto format(const migtest::ProbeResult& v, fmt::format_context& ctx) const {
    return fmt::formatter<std::string>::format(migtest::Summary(v), ctx);
  }
};
template <>
struct fmt::formatter<migtest::DirtyResult> : fmt::formatter<std::string> {
  auto format(const migtest::DirtyResult& v, fmt::format_context& ctx) const {
    return fmt::formatter<std::string>::format(migtest::Summary(v), ctx);
  }
};
template <>
struct fmt::formatter<migtest::RunResult> : fmt::formatter<std::string> {
  auto format(const migtest::RunResult& v, fmt::format_context& ctx) const {
    return fmt::formatter<std::string>::format(migtest::Summary(v), ctx);
  }
};
