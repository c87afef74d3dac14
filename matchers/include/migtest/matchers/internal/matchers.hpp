// The machinery behind migtest/matchers.hpp's factories: the polymorphic figure and check
// matchers, the part a matcher judges (a part or RunResult's optional of it), and the specs the
// factories build in matchers.cc. Users must not name anything here: include
// <migtest/matchers.hpp>. Installed because the factories' templates instantiate it.
#pragma once

#include <gmock/gmock.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "migtest/results/model.hpp"

namespace migtest::internal {

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
FigureSpec<MigrationResult, uint64_t> PagesResentSpec();
FigureSpec<MigrationResult, double> BandwidthSpec();
FigureSpec<MigrationResult, double> CpuThrottleSpec(bool first);
FigureSpec<MigrationResult, uint64_t> CounterSpec(bool bytes, std::string name);
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

}  // namespace migtest::internal
