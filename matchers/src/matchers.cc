#include "migtest/matchers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

namespace migtest {
namespace {

std::string FormatName(const MigrationResult& m) { return std::string(ToString(m.format)); }

// "which has no downtime figure (format tlmz reported none)"
std::string Missing(const MigrationResult& m, std::string_view what) {
  // A run the harness could not measure has no figure at all; the reason was reported once.
  if (m.error && m.error->starts_with(kHarnessFailure)) {
    return fmt::format("which has no {}: {}", what, *m.error);
  }
  std::string s = fmt::format("which has no {} (format {} reported none", what, FormatName(m));
  if (m.status != Status::kCompleted) {
    s += fmt::format("; status {}", ToString(m.status));
    if (m.error) s += fmt::format(": {}", *m.error);
  }
  return s + ")";
}

std::string Breakdown(const std::vector<Phase>& phases) {
  std::string s;
  for (const Phase& p : phases) {
    if (!s.empty()) s += ", ";
    s += fmt::format("{}={}", p.name, FormatDuration(p.duration));
  }
  return s;
}

bool IsQemu(Format f) {
  return f == Format::kQemuQmp || f == Format::kQemuTrace || f == Format::kQemuDebug;
}

// "vga 12.3ms"
std::string DeviceFigure(const DeviceDowntime& d) {
  return DeviceName(d) + " " + FormatDuration(d.duration);
}

// ", slowest device there: vga 12.3ms" for a phase that has device times, else "".
std::string SlowestDeviceThere(const MigrationResult& m, std::string_view phase) {
  auto slowest = SlowestDevices(m, "", phase, 1);
  if (slowest.empty()) return "";
  return ", slowest device there: " + DeviceFigure(*slowest.front());
}

// Where the downtime went by device (QEMU's per-device trace times): "the largest phase
// non-iterable-save 30.1ms, slowest device there: vga 12.3ms". Empty when the run has no device
// times: a run without them says nothing about devices.
std::string LargestPhaseDevice(const MigrationResult& m) {
  if (m.downtime_devices.empty()) return "";
  auto slowest = SlowestDevices(m, "", "", 1);
  const DeviceDowntime& worst = *slowest.front();
  const std::string where =
      worst.side == "destination" ? "load on the destination" : "save on the source";
  auto largest =
      std::max_element(m.downtime_breakdown.begin(), m.downtime_breakdown.end(),
                       [](const Phase& a, const Phase& b) { return a.duration < b.duration; });
  if (largest == m.downtime_breakdown.end()) {
    return fmt::format("slowest device: {} ({})", DeviceFigure(worst), where);
  }
  std::string s =
      fmt::format("the largest phase {} {}", largest->name, FormatDuration(largest->duration));
  if (std::string there = SlowestDeviceThere(m, largest->name); !there.empty()) return s + there;
  return s + fmt::format(" (no device times there; slowest device: {}, {})", DeviceFigure(worst),
                         where);
}

}  // namespace

namespace internal {

FigureSpec<MigrationResult, Duration> DowntimeSpec() {
  return {"max downtime", JudgedDowntime,
          [](const MigrationResult& m, const Duration& d) {
            std::string s = "whose downtime is " + FormatDuration(d);
            const auto judged = JudgedDowntimeOf(m);
            if (judged && judged->from != DowntimeSource::kReported) {
              // The VMM's own figure beside the judged one, under its own name.
              s += fmt::format(" ({}; {} {})", DescribeDowntimeSource(m, judged->from),
                               ReportedDowntimeName(m.format),
                               m.downtime ? FormatDuration(*m.downtime) : std::string("none"));
            } else if (IsQemu(m.format)) {
              s += " (" + DescribeDowntimeSource(m, DowntimeSource::kReported) + ")";
            }
            if (!m.downtime_breakdown.empty()) s += " (" + Breakdown(m.downtime_breakdown) + ")";
            if (std::string devices = LargestPhaseDevice(m); !devices.empty()) s += "; " + devices;
            return s;
          },
          [](const MigrationResult& m) { return Missing(m, "downtime figure"); }};
}

FigureSpec<MigrationResult, Duration> DowntimeDeviceSpec(std::string device) {
  // A device is named by its idstr ("0000:00:01.0/virtio-net"), its last part ("virtio-net"),
  // or any part of it; the worst matching entry (either side) is judged.
  auto matches = [device](const DeviceDowntime& d) {
    return d.device.find(device) != std::string::npos;
  };
  auto worst = [matches](const MigrationResult& m) -> const DeviceDowntime* {
    const DeviceDowntime* w = nullptr;
    for (const DeviceDowntime& d : m.downtime_devices) {
      if (matches(d) && (w == nullptr || d.duration > w->duration)) w = &d;
    }
    return w;
  };
  return {fmt::format("downtime of device {}", device),
          [worst](const MigrationResult& m) -> std::optional<Duration> {
            if (const DeviceDowntime* d = worst(m)) return d->duration;
            return std::nullopt;
          },
          [worst, matches](const MigrationResult& m, const Duration&) {
            const DeviceDowntime* d = worst(m);
            size_t n = 0;
            for (const DeviceDowntime& e : m.downtime_devices) n += matches(e) ? 1 : 0;
            std::string s = fmt::format("whose device {} took {} to {} on the {}", d->device,
                                        FormatDuration(d->duration),
                                        d->side == "destination" ? "load" : "save", d->side);
            if (n > 1) s += fmt::format(" (the worst of {} matching entries)", n);
            return s;
          },
          [device](const MigrationResult& m) {
            if (m.downtime_devices.empty()) return Missing(m, "per-device downtime figures");
            std::vector<std::string> names;
            for (const DeviceDowntime& d : m.downtime_devices) {
              if (names.size() == 8) {
                names.push_back("…");
                break;
              }
              names.push_back(d.device);
            }
            return fmt::format("which has no device matching {} (worst first: {})", device,
                               fmt::join(names, ", "));
          }};
}

FigureSpec<MigrationResult, Duration> DowntimePhaseSpec(std::string phase) {
  return {fmt::format("downtime phase {}", phase),
          [phase](const MigrationResult& m) -> std::optional<Duration> {
            for (const Phase& p : m.downtime_breakdown) {
              if (p.name == phase) return p.duration;
            }
            return std::nullopt;
          },
          [phase](const MigrationResult& m, const Duration& d) {
            std::string s = fmt::format("whose downtime phase {} is {}", phase, FormatDuration(d));
            if (auto judged = JudgedDowntime(m)) s += " of " + FormatDuration(*judged);
            s += SlowestDeviceThere(m, phase);
            // The largest phase too, unless it is this one: where else the downtime went.
            auto largest = std::max_element(
                m.downtime_breakdown.begin(), m.downtime_breakdown.end(),
                [](const Phase& a, const Phase& b) { return a.duration < b.duration; });
            if (largest != m.downtime_breakdown.end() && largest->name != phase) {
              if (std::string devices = LargestPhaseDevice(m); !devices.empty()) {
                s += "; " + devices;
              }
            }
            return s;
          },
          [phase](const MigrationResult& m) {
            if (m.downtime_breakdown.empty()) return Missing(m, "downtime breakdown");
            std::string names;
            for (const Phase& p : m.downtime_breakdown)
              names += (names.empty() ? "" : ", ") + p.name;
            return fmt::format("which has no downtime phase named {} (phases: {})", phase, names);
          }};
}

FigureSpec<MigrationResult, Duration> TotalTimeSpec() {
  return {"total migration time", [](const MigrationResult& m) { return m.total_time; },
          [](const MigrationResult&, const Duration& d) {
            return "whose total migration time is " + FormatDuration(d);
          },
          [](const MigrationResult& m) { return Missing(m, "total migration time"); }};
}

FigureSpec<MigrationResult, Duration> SetupTimeSpec() {
  return {"setup time", [](const MigrationResult& m) { return m.setup_time; },
          [](const MigrationResult&, const Duration& d) {
            return "whose setup time is " + FormatDuration(d);
          },
          [](const MigrationResult& m) { return Missing(m, "setup time"); }};
}

FigureSpec<MigrationResult, size_t> IterationsSpec() {
  return {"iteration count",
          [](const MigrationResult& m) -> std::optional<size_t> {
            if (m.iterations.empty()) return std::nullopt;
            return m.iterations.size();
          },
          [](const MigrationResult&, const size_t& n) {
            return fmt::format("which has {} iteration{}", n, n == 1 ? "" : "s");
          },
          [](const MigrationResult& m) { return Missing(m, "iterations"); }};
}

namespace {
// Every round after the first has a page count: a partial sum would be a guess.
bool LaterRoundsCounted(const MigrationResult& m) {
  return m.iterations.size() >= 2 &&
         std::all_of(m.iterations.begin() + 1, m.iterations.end(),
                     [](const Iteration& it) { return it.pages_sent.has_value(); });
}
}  // namespace

FigureSpec<MigrationResult, uint64_t> PagesResentSpec() {
  return {"pages sent again after the first pass",
          [](const MigrationResult& m) -> std::optional<uint64_t> {
            if (!LaterRoundsCounted(m)) return std::nullopt;
            uint64_t n = 0;
            for (size_t i = 1; i < m.iterations.size(); ++i) n += *m.iterations[i].pages_sent;
            return n;
          },
          [](const MigrationResult& m, const uint64_t& n) {
            std::string each;
            for (size_t i = 1; i < m.iterations.size(); ++i) {
              each += fmt::format("{}iteration {}: {}", each.empty() ? "" : ", ",
                                  m.iterations[i].index, *m.iterations[i].pages_sent);
            }
            return fmt::format("whose rounds after the first pass sent {} page{} ({})", n,
                               n == 1 ? "" : "s", each);
          },
          [](const MigrationResult& m) {
            return Missing(m, "page counts for the rounds after the first pass");
          }};
}

FigureSpec<MigrationResult, uint64_t> CounterSpec(bool bytes, std::string name) {
  const char* unit = bytes ? "bytes" : "pages";
  auto counters = [bytes](const MigrationResult& m) -> const std::map<std::string, uint64_t>& {
    return bytes ? m.bytes : m.pages;
  };
  return {fmt::format("the {} counter '{}'", unit, name),
          [counters, name](const MigrationResult& m) -> std::optional<uint64_t> {
            const auto& c = counters(m);
            if (auto it = c.find(name); it != c.end()) return it->second;
            return std::nullopt;
          },
          [counters, unit, name](const MigrationResult& m, const uint64_t& n) {
            std::string others;
            for (const auto& [k, v] : counters(m)) {
              if (k != name) others += fmt::format("{}{} {}", others.empty() ? "" : ", ", k, v);
            }
            return fmt::format("whose {} counter '{}' is {}{}", unit, name, n,
                               others.empty() ? "" : " (beside: " + others + ")");
          },
          [counters, unit, name](const MigrationResult& m) {
            std::string had;
            for (const auto& [k, v] : counters(m)) had += (had.empty() ? "" : ", ") + k;
            if (had.empty()) return Missing(m, fmt::format("{} counters at all", unit));
            return fmt::format("which has no {} counter '{}' (it has: {})", unit, name, had);
          }};
}

FigureSpec<MigrationResult, double> CpuThrottleSpec(bool first) {
  return {first ? "the vCPU throttle of the first throttled iteration, in %"
                : "the highest vCPU throttle of any iteration, in %",
          [first](const MigrationResult& m) -> std::optional<double> {
            std::optional<double> out;
            for (const Iteration& it : m.iterations) {
              if (!it.cpu_throttle_percent || *it.cpu_throttle_percent <= 0) continue;
              if (first) return it.cpu_throttle_percent;
              out = std::max(out.value_or(0), *it.cpu_throttle_percent);
            }
            return out;
          },
          [](const MigrationResult& m, const double&) {
            std::string each;
            for (const Iteration& it : m.iterations) {
              each += fmt::format("{}iteration {}: {}", each.empty() ? "" : ", ", it.index,
                                  it.cpu_throttle_percent
                                      ? fmt::format("{:g} %", *it.cpu_throttle_percent)
                                      : std::string("-"));
            }
            return fmt::format("whose iterations were throttled so ({})", each);
          },
          [](const MigrationResult& m) {
            if (m.iterations.empty() || m.status != Status::kCompleted) {
              return Missing(m, "vCPU throttle figures (auto-converge)");
            }
            // QEMU reports cpu-throttle-percentage only while it throttles.
            return fmt::format("which throttled none of its {} iteration{}", m.iterations.size(),
                               m.iterations.size() == 1 ? "" : "s");
          }};
}

FigureSpec<MigrationResult, double> BandwidthSpec() {
  return {"average bandwidth in MiB/s",
          [](const MigrationResult& m) -> std::optional<double> {
            if (!m.bandwidth_mib_s.empty()) return Mean(m.bandwidth_mib_s);
            std::vector<double> per_iteration;
            for (const Iteration& it : m.iterations) {
              if (it.bandwidth_mib_s) per_iteration.push_back(*it.bandwidth_mib_s);
            }
            if (per_iteration.empty()) return std::nullopt;
            return Mean(per_iteration);
          },
          [](const MigrationResult& m, const double& v) {
            if (!m.bandwidth_mib_s.empty()) {
              return fmt::format("whose average bandwidth is {} MiB/s over {} per-second samples",
                                 FormatNumber(v), m.bandwidth_mib_s.size());
            }
            return fmt::format("whose average bandwidth is {} MiB/s over its iterations",
                               FormatNumber(v));
          },
          [](const MigrationResult& m) { return Missing(m, "bandwidth figures"); }};
}

FigureSpec<MigrationResult, Duration> PostcopyLatencySpec(LatencySelector which) {
  auto name = [which]() -> std::string {
    switch (which.kind) {
      case LatencySelector::Kind::kAverage:
        return "average";
      case LatencySelector::Kind::kMax:
        return "max";
      case LatencySelector::Kind::kPercentile:
        break;
    }
    return "p" + FormatNumber(which.percentile);
  };
  auto estimate =
      [which](const LatencyDistribution& d) -> std::optional<LatencyDistribution::Estimate> {
    switch (which.kind) {
      case LatencySelector::Kind::kAverage:
        if (auto a = d.Average()) return LatencyDistribution::Estimate{*a, *a, *a, true};
        return std::nullopt;
      case LatencySelector::Kind::kMax:
        if (!d.samples.empty() || d.reported_max) {
          auto m = *d.Max();
          return LatencyDistribution::Estimate{m, m, m, true};
        }
        return d.Percentile(100);
      case LatencySelector::Kind::kPercentile:
        break;
    }
    return d.Percentile(which.percentile);
  };
  return {name() + " postcopy latency",
          [estimate](const MigrationResult& m) -> std::optional<Duration> {
            if (!m.postcopy_latency) return std::nullopt;
            auto e = estimate(*m.postcopy_latency);
            if (!e) return std::nullopt;
            return e->value;
          },
          [estimate, name](const MigrationResult& m, const Duration& v) {
            const LatencyDistribution& d = *m.postcopy_latency;
            std::string s =
                fmt::format("whose {} postcopy latency is {}", name(), FormatDuration(v));
            if (uint64_t n = d.Count(); n > 0) s += fmt::format(" over {} requests", n);
            auto e = estimate(d);
            if (e && !e->exact) {
              if (e->upper_bound) {
                s += fmt::format(" (histogram bucket bound; true value in [{}, {}))",
                                 FormatDuration(e->lower_bound), FormatDuration(*e->upper_bound));
              } else {
                s += fmt::format(" (open histogram bucket; true value ≥ {})",
                                 FormatDuration(e->lower_bound));
              }
            }
            return s;
          },
          [name](const MigrationResult& m) {
            if (m.postcopy_latency) {
              return Missing(m, fmt::format("{} postcopy latency figure", name()));
            }
            return Missing(m, "postcopy latency figures");
          }};
}

FigureSpec<ProbeResult, Duration> BlackoutSpec() {
  return {"guest blackout", [](const ProbeResult& p) { return p.longest_blackout; },
          [](const ProbeResult& p, const Duration& d) {
            std::string s = "whose longest blackout is " + FormatDuration(d);
            std::vector<std::string> ctx;
            if (p.sent) {
              ctx.push_back(p.interval ? fmt::format("{} probes sent every {}", *p.sent,
                                                     FormatDuration(*p.interval))
                                       : fmt::format("{} probes sent", *p.sent));
            }
            if (p.lost) ctx.push_back(fmt::format("{} lost", *p.lost));
            if (!ctx.empty()) s += " (" + fmt::format("{}", fmt::join(ctx, ", ")) + ")";
            return s;
          },
          [](const ProbeResult& p) {
            if (p.max_latency) {
              return fmt::format("which has no blackout figure (only a max latency of {})",
                                 FormatDuration(*p.max_latency));
            }
            return std::string("which has no blackout figure");
          }};
}

FigureSpec<ProbeResult, uint64_t> PacketsLostSpec() {
  return {"lost probe count", [](const ProbeResult& p) { return p.lost; },
          [](const ProbeResult& p, const uint64_t& n) {
            if (p.sent) return fmt::format("which lost {} of {} probes", n, *p.sent);
            return fmt::format("which lost {} probes", n);
          },
          [](const ProbeResult&) { return std::string("which has no loss figure"); }};
}

FigureSpec<DirtyResult, double> DirtyRateSpec() {
  return {
      "achieved dirty rate in MiB/s",
      [](const DirtyResult& d) -> std::optional<double> {
        if (d.rate_mib_s.empty()) return std::nullopt;
        return Mean(d.rate_mib_s);
      },
      [](const DirtyResult& d, const double& v) {
        std::string s = fmt::format("whose achieved dirty rate is {} MiB/s over {} seconds",
                                    FormatNumber(v), d.rate_mib_s.size());
        if (d.requested_mib_s)
          s += fmt::format(" (requested {} MiB/s)", FormatNumber(*d.requested_mib_s));
        return s;
      },
      [](const DirtyResult&) { return std::string("which has no per-second dirty rate figures"); }};
}

FigureSpec<RunResult, Duration> DowntimeGapSpec() {
  return {"guest blackout beyond the downtime",
          [](const RunResult& r) -> std::optional<Duration> {
            if (!r.migration || !r.probe || !r.probe->longest_blackout) return std::nullopt;
            const auto judged = JudgedDowntime(*r.migration);
            if (!judged) return std::nullopt;
            return *r.probe->longest_blackout - *judged;
          },
          [](const RunResult& r, const Duration& gap) {
            const MigrationResult& m = *r.migration;
            std::string downtime = FormatDuration(*JudgedDowntime(m));
            if (auto beside = ReportedDowntimeBeside(m)) {
              downtime +=
                  fmt::format(" ({} {})", ReportedDowntimeName(m.format), FormatDuration(*beside));
            }
            const std::string blackout = FormatDuration(*r.probe->longest_blackout);
            if (gap < Duration::zero()) {
              return fmt::format("whose guest blackout {} is {} below the downtime {}", blackout,
                                 FormatDuration(-gap), downtime);
            }
            return fmt::format("whose guest blackout {} exceeds the downtime {} by {}", blackout,
                               downtime, FormatDuration(gap));
          },
          [](const RunResult& r) {
            if (!r.migration) return std::string("which has no migration result");
            if (!JudgedDowntime(*r.migration)) return Missing(*r.migration, "downtime figure");
            if (!r.probe) return std::string("which has no probe result");
            return std::string("which has no guest blackout figure");
          }};
}

CheckSpec<MigrationResult> NoIterationStallAboveSpec(Duration limit) {
  const std::string lim = FormatDuration(limit);
  return {
      "has no iteration stall above " + lim, "has an iteration stall above " + lim,
      [limit, lim](const MigrationResult& m, std::string* why) {
        const std::optional<WorstStallFigure> worst = WorstStall(m);
        if (!worst) {
          *why = Missing(m, "iteration sync times or stalls");
          return false;
        }
        std::string culprit;
        if (worst->iteration) {
          culprit =
              fmt::format("iteration {} of {} stalled {} in dirty-bitmap sync", *worst->iteration,
                          m.iterations.size(), FormatDuration(worst->duration));
        } else {
          const Stall& s = *worst->section;
          culprit = fmt::format("section {}", s.section);
          if (s.section_id) culprit += fmt::format(" (id {})", *s.section_id);
          culprit += fmt::format(" stalled {}", FormatDuration(s.duration));
          if (s.count) {
            culprit += fmt::format(", {} time{}", *s.count, *s.count == 1 ? "" : "s");
          }
        }
        if (worst->duration > limit) {
          *why = fmt::format("{} (limit {})", culprit, lim);
          return false;
        }
        *why = fmt::format("whose worst stall is {}: {}", FormatDuration(worst->duration), culprit);
        return true;
      }};
}

CheckSpec<MigrationResult> ConvergedSpec() {
  return {
      "converged (completed without being forced to stop)",
      "did not converge (failed, or forced to stop at the iteration cap)",
      [](const MigrationResult& m, std::string* why) {
        const std::string iters =
            m.iterations.empty() ? "" : fmt::format(" after {} iterations", m.iterations.size());
        if (m.status != Status::kCompleted) {
          *why = fmt::format("which did not complete (status {}{})", ToString(m.status),
                             m.error ? ": " + *m.error : "");
          return false;
        }
        if (m.converged == false) {
          *why = "which completed" + iters + " only because it was forced to stop (not converged)";
          return false;
        }
        if (!m.converged) {
          *why = fmt::format("which completed{}, but format {} does not say whether it converged",
                             iters, FormatName(m));
          return false;
        }
        *why = "which converged" + iters;
        return true;
      }};
}

CheckSpec<MigrationResult> MemoryVerifiedSpec() {
  return {"has destination memory verified equal to the source's",
          "does not have destination memory verified equal to the source's",
          [](const MigrationResult& m, std::string* why) {
            if (!m.verified) {
              // A check that covered part of the memory is no verification; it says how much.
              auto by = m.config.find("verified_by");
              *why = by != m.config.end()
                         ? "whose destination memory was not verified in full (checked by " +
                               by->second + ")"
                         : Missing(m, "memory verification");
              return false;
            }
            if (!*m.verified) {
              *why = "whose destination memory did not verify";
              if (auto by = m.config.find("verified_by"); by != m.config.end()) {
                *why += " (checked by " + by->second + ")";
              }
              if (m.error) *why += ": " + *m.error;
              return false;
            }
            *why = "whose destination memory verified";
            if (auto by = m.config.find("verified_by"); by != m.config.end()) {
              *why += " (checked by " + by->second + ")";
            }
            return true;
          }};
}

bool GuestHealthyMatcher::Check(const GuestResult* g,
                                testing::MatchResultListener* listener) const {
  if (g == nullptr) {
    *listener << "which has no guest result (the backend read no guest console)";
    return false;
  }
  const std::string name = std::filesystem::path(g->console).filename().string();
  if (!g->problems.empty()) {
    *listener << fmt::format("whose guest console {} shows {} problem line{}:", g->console,
                             g->problems.size(), g->problems.size() == 1 ? "" : "s");
    for (const ConsoleLine& l : g->problems) {
      *listener << fmt::format("\n  {}:{}: {}", name, l.line, l.text);
    }
    return false;
  }
  if (g->verify_errors.value_or(0) > 0) {
    *listener << fmt::format("whose guest dirtier reported {} corrupted page{} ({})",
                             *g->verify_errors, *g->verify_errors == 1 ? "" : "s", g->console);
    return false;
  }
  if (g->answered == false) {
    *listener << "whose guest never answered the prober after resume";
    return false;
  }
  const uint64_t ran = g->dirtier_seconds.value_or(0);
  if (min_running_ && ran < static_cast<uint64_t>(min_running_->count())) {
    *listener << fmt::format(
        "whose guest dirtier ran {} s on the destination (wanted at least {} "
        "s; {} lines on {})",
        ran, min_running_->count(), g->lines, g->console);
    return false;
  }
  *listener << fmt::format("whose guest console {} shows no problem in {} lines", g->console,
                           g->lines);
  if (g->dirtier_seconds) *listener << fmt::format(", the dirtier verifying for {} s", ran);
  if (g->answered) *listener << ", answering the prober";
  return true;
}

void GuestHealthyMatcher::DescribeTo(std::ostream* os) const {
  *os << "has a healthy guest (no panic, oops or corruption on its console";
  if (min_running_) *os << ", its dirtier verifying for at least " << min_running_->count() << " s";
  *os << ")";
}

void GuestHealthyMatcher::DescribeNegationTo(std::ostream* os) const {
  *os << "has a guest that panicked, reported corruption, stopped answering";
  if (min_running_) *os << " or ran its dirtier less than " << min_running_->count() << " s";
}

bool NearMatcher::MatchAndExplain(double x, testing::MatchResultListener* listener) const {
  const double off = target_ == 0 ? std::abs(x) : std::abs(x - target_) / std::abs(target_);
  if (listener->IsInterested()) {
    *listener << fmt::format("which is {:.1f}% off", off * 100.0);
  }
  return off <= relative_;
}

void NearMatcher::DescribeTo(std::ostream* os) const {
  *os << fmt::format("is within {}% of {}", FormatNumber(relative_ * 100.0), FormatNumber(target_));
}

void NearMatcher::DescribeNegationTo(std::ostream* os) const {
  *os << fmt::format("isn't within {}% of {}", FormatNumber(relative_ * 100.0),
                     FormatNumber(target_));
}

}  // namespace internal
}  // namespace migtest
