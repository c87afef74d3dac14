#include "migtest/results/print.hpp"

#include <cmath>
#include <numeric>

namespace migtest {

namespace internal {
double Mean(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}
}  // namespace internal

std::string FormatDuration(Duration d) {
  const auto us = d.count();
  if (us < 0) {
    // -min() does not fit: its magnitude, one microsecond less, prints the same to a reader.
    return "-" + FormatDuration(d == Duration::min() ? Duration::max() : -d);
  }
  if (us < 1000) return fmt::format("{}us", us);
  // Below 10 s the SLO's own unit; above it, ms stop being readable ("179963ms" is 3m00s).
  if (us < 10'000'000) {
    if (us % 1000 == 0) return fmt::format("{}ms", us / 1000);
    return fmt::format("{:.1f}ms", static_cast<double>(us) / 1000.0);
  }
  if (us < 60'000'000) {
    if (us % 1'000'000 == 0) return fmt::format("{}s", us / 1'000'000);
    return fmt::format("{:.1f}s", static_cast<double>(us) / 1e6);
  }
  const auto s = us / 1'000'000 + (us % 1'000'000 >= 500'000);  // whole seconds, rounded
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m{:02}s", s / 3600, s % 3600 / 60, s % 60);
}

std::string FormatNumber(double v) {
  if (std::abs(v - std::round(v)) < 1e-9) return fmt::format("{:.0f}", v);
  return fmt::format("{:.1f}", v);
}

std::string DowntimeText(const MigrationResult& m) {
  const auto judged = JudgedDowntimeOf(m);
  if (!judged) return "downtime not reported";
  std::string s = "downtime " + FormatDuration(judged->value);
  if (judged->from == DowntimeSource::kReported) return s;
  const std::string_view vmm = ReportedDowntimeName(m.format);
  s += m.downtime ? fmt::format(" ({} {})", vmm, FormatDuration(*m.downtime))
                  : fmt::format(" ({} none)", vmm);
  return s;
}

std::string Summary(const MigrationResult& m) {
  // A figure the VMM did not report is said to be missing, never printed as a number.
  std::string s = std::string(ToString(m.status));
  if (m.total_time) {
    s += fmt::format(" in {}", FormatDuration(*m.total_time));
  } else if (m.status == Status::kCompleted) {
    s += " (total time not reported)";
  }
  if (m.error) s += fmt::format(" ({})", *m.error);
  s += ", " + DowntimeText(m);
  if (!m.iterations.empty()) s += fmt::format(", {} iterations", m.iterations.size());
  // The worst dirty-bitmap sync is the first thing to look at when downtime or stalls break an
  // SLO, so the one-line summary carries it.
  if (auto worst = WorstStall(m, StallSources::kSyncOnly)) {
    s += fmt::format(", worst sync {}", FormatDuration(worst->duration));
  }
  if (m.converged) s += *m.converged ? ", converged" : ", not converged";
  if (m.verified) s += *m.verified ? ", memory verified" : ", MEMORY NOT VERIFIED";
  return fmt::format("{} [{}]", s, ToString(m.format));
}

std::string Summary(const ProbeResult& p) {
  std::string s = "probe:";
  if (p.sent) s += fmt::format(" {} sent", *p.sent);
  if (p.lost) s += fmt::format(", {} lost", *p.lost);
  if (p.longest_blackout)
    s += fmt::format(", longest blackout {}", FormatDuration(*p.longest_blackout));
  if (p.max_latency) s += fmt::format(", max latency {}", FormatDuration(*p.max_latency));
  if (s == "probe:") s += " no figures";
  return s;
}

std::string Summary(const DirtyResult& d) {
  std::string s = "dirtier:";
  if (d.pattern) s += " " + *d.pattern;
  if (d.requested_mib_s) s += fmt::format(" at {} MiB/s", FormatNumber(*d.requested_mib_s));
  if (!d.rate_mib_s.empty()) {
    s += fmt::format(", achieved {} MiB/s over {}s", FormatNumber(internal::Mean(d.rate_mib_s)),
                     d.rate_mib_s.size());
  }
  if (d.verify_errors && *d.verify_errors > 0) {
    s += fmt::format(", {} corrupted pages", *d.verify_errors);
  }
  return s;
}

std::string Summary(const RunResult& r) {
  std::string s = r.test ? *r.test : r.source;
  if (r.migration) s += "; " + Summary(*r.migration);
  if (r.probe) s += "; " + Summary(*r.probe);
  if (r.dirty) s += "; " + Summary(*r.dirty);
  return s;
}

void PrintTo(const MigrationResult& m, std::ostream* os) { *os << Summary(m); }
void PrintTo(const ProbeResult& p, std::ostream* os) { *os << Summary(p); }
void PrintTo(const DirtyResult& d, std::ostream* os) { *os << Summary(d); }
void PrintTo(Format format, std::ostream* os) { *os << ToString(format); }
void PrintTo(Status status, std::ostream* os) { *os << ToString(status); }
void PrintTo(const RunResult& r, std::ostream* os) {
  *os << Summary(r);
  if (r.guest) {
    *os << fmt::format(", guest: {} problem{}", r.guest->problems.size(),
                       r.guest->problems.size() == 1 ? "" : "s");
    if (r.guest->dirtier_seconds) *os << fmt::format(", dirtier {} s", *r.guest->dirtier_seconds);
  }
}

}  // namespace migtest
