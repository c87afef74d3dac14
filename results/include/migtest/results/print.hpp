// Human-readable results: one-line summaries of each part of a RunResult, the `PrintTo` that
// GoogleTest finds by argument-dependent lookup (so a failing EXPECT_THAT prints a summary, not
// bytes) and `fmt::formatter`s printing the same summaries.
//
// **Example**:
//
//   fmt::print("{}\n", *run.migration);
//   // completed in 960ms, downtime 143ms, 9 iterations, worst sync 212ms, converged [tlmz]
//   fmt::print("{}\n", migtest::FormatDuration(std::chrono::microseconds(6200)));   // 6.2ms
#pragma once

#include <fmt/format.h>

#include <ostream>
#include <string>
#include <vector>

#include "migtest/results/model.hpp"

namespace migtest {

// "143ms", "6.2ms", "850us": the unit people read in an SLO; from 10 s on in seconds ("12.5s"),
// from a minute on in minutes and whole seconds ("3m00s", "1h02m03s").
std::string FormatDuration(Duration d);
// "200", "0.5": a figure as a person reads it (whole numbers without decimals, else one).
std::string FormatNumber(double v);

// "downtime 43.0ms (QEMU reported 26ms)": the judged downtime (JudgedDowntime), and the VMM's
// own figure beside it under its own name when that is not what is judged; "downtime 68ms" when
// the VMM's figure is the judged one; "downtime not reported".
std::string DowntimeText(const MigrationResult& m);

std::string Summary(const MigrationResult& m);
std::string Summary(const ProbeResult& p);
std::string Summary(const DirtyResult& d);
std::string Summary(const RunResult& r);

void PrintTo(const MigrationResult& m, std::ostream* os);
void PrintTo(const ProbeResult& p, std::ostream* os);
void PrintTo(const DirtyResult& d, std::ostream* os);
void PrintTo(const RunResult& r, std::ostream* os);
// A format or a status by its name ("qemu-trace", "completed"), not as four bytes.
void PrintTo(Format format, std::ostream* os);
void PrintTo(Status status, std::ostream* os);

namespace internal {
// The arithmetic mean of per-second (or per-iteration) figures; `v` must not be empty.
double Mean(const std::vector<double>& v);
}  // namespace internal

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
