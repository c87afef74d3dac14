// The figures' names, units and table cells, shared by migtest-compare's text output and its A/B
// page.
#include "compare/ab.hpp"

#include <fmt/format.h>

#include <cmath>
#include <map>

namespace migtest::internal::compare {

// Half a millisecond: below it, a change in a downtime, a phase or a sync is the runner's jitter
// (the same QEMU against itself moves sub-millisecond phases by tens of percent).
constexpr double kMsFloor = 0.5;

const std::vector<std::pair<std::string, MetricInfo>>& KnownMetrics() {
  static const std::vector<std::pair<std::string, MetricInfo>> metrics = {
      {"downtime", {"ms", false, kMsFloor}}, {"total_time", {"ms", false, kMsFloor}},
      {"iterations", {"", false, 0.5}},      {"worst_sync", {"ms", false, kMsFloor}},
      {"postcopy_p50", {"us", false, 10}},   {"postcopy_p99", {"us", false, 10}},
      {"blackout", {"ms", false, kMsFloor}}, {"bandwidth", {"MiB/s", true, 1}},
  };
  return metrics;
}

MetricInfo InfoOf(const std::string& metric) {
  for (const auto& [name, info] : KnownMetrics()) {
    if (name == metric) return info;
  }
  return {"ms", false, kMsFloor};  // phase:<name>
}

int Digits(double v) {
  const double a = std::abs(v);
  return a < 10 ? 2 : a < 1000 ? 1 : 0;
}
std::string Num(double v, int digits) { return fmt::format("{:.{}f}", v, digits); }

std::string MeanCell(const MeanSd& s, const MeanSd& other) {
  if (s.n == 0) return "-";
  const int d = Digits(std::max(std::abs(s.mean), other.n ? std::abs(other.mean) : 0.0));
  return fmt::format("{} ± {} ({})", Num(s.mean, d), Num(s.sd, d), s.n);
}

std::string ChangeCell(const std::optional<double>& change) {
  if (!change) return "-";
  if (std::isinf(*change)) return *change > 0 ? "+inf%" : "-inf%";
  return fmt::format("{:+.1f}%", *change);
}

std::string PCell(const std::optional<double>& p) {
  if (!p) return "-";
  return *p >= 0.0001 ? fmt::format("{:.4f}", *p) : fmt::format("{:.1e}", *p);
}

std::string MetricCell(const std::string& metric) {
  const std::string unit = InfoOf(metric).unit;
  return unit.empty() ? metric : fmt::format("{} [{}]", metric, unit);
}

// "3 (2 not completed, 1 memory not verified)": the runs left out of the timings, and why ("did
// not complete, as its test expects" for a run whose test expected it).
std::string LeftOut(const std::vector<Run>& runs) {
  std::map<std::string, size_t> why;
  size_t n = 0;
  for (const Run& r : runs) {
    if (r.timings) continue;
    ++n;
    for (const auto& p : r.problems) {
      if (p.kind != RunProblem::Kind::kTestFailed) ++why[r.Label(p)];
    }
  }
  if (n == 0) return "0";
  std::vector<std::string> parts;
  for (const auto& [k, c] : why) parts.push_back(fmt::format("{} {}", c, k));
  return fmt::format("{} ({})", n, fmt::join(parts, ", "));
}

const std::vector<std::string>& OutcomeHead() {
  static const std::vector<std::string> head{"test",
                                             "side",
                                             "runs",
                                             "test failed",
                                             "failed runs",
                                             "memory not verified",
                                             "guest unhealthy",
                                             "harness failure",
                                             "left out of timings"};
  return head;
}

}  // namespace migtest::internal::compare
