// The name of every Format, as in result.json and on command lines. The model owns it (ToString,
// FormatFromString, FormatNames), so it sits below the parsers: formats.cc, the parsers' registry,
// checks at compile time that its rows name the same formats in the same order.
#pragma once

#include <string_view>

#include "migtest/results/model.hpp"

namespace migtest::internal {

struct FormatName {
  Format format;
  std::string_view name;
};

// "auto" first, then every format in the order detection tries them (formats.cc's order).
inline constexpr FormatName kFormatNames[] = {
    {Format::kAuto, "auto"},
    {Format::kMigtest, "migtest"},
    {Format::kQemuQmp, "qemu-qmp"},
    {Format::kTlmz, "tlmz"},
    {Format::kQemuTrace, "qemu-trace"},
    {Format::kQemuDebug, "qemu-debug"},
    {Format::kCloudHypervisor, "cloud-hypervisor"},
    {Format::kMigmon, "migmon"},
};

}  // namespace migtest::internal
