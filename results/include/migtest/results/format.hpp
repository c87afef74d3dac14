// fmt support for the result model's names: `fmt::format("{}", status)` prints the name used in
// result.json and on command lines ("completed", "qemu-qmp"), with the usual string width/align.
//
// One-line summaries of whole results (fmt::formatter<MigrationResult>, ProbeResult, DirtyResult,
// RunResult, migtest::Summary and the PrintTo GoogleTest uses) are in migtest/results/print.hpp.
//
// **Example**:
//
//   fmt::print("{:>10} [{}]\n", run.migration->status, run.format);   // " completed [tlmz]"
#pragma once

#include <fmt/format.h>

#include <string_view>

#include "migtest/results/model.hpp"

template <>
struct fmt::formatter<migtest::Format> : fmt::formatter<std::string_view> {
  auto format(migtest::Format v, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(migtest::ToString(v), ctx);
  }
};

template <>
struct fmt::formatter<migtest::Status> : fmt::formatter<std::string_view> {
  auto format(migtest::Status v, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(migtest::ToString(v), ctx);
  }
};
