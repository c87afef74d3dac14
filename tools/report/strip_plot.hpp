// Strip plots: one row of dots per group, one dot per run, so that a reader sees every run and not
// only a mean. migtest-report draws one row per repeated test; migtest-compare's A/B page one row
// per side of a metric.
//
// **Example**
//
//   Svg plot = StripPlot("Downtime per run", {.lo = 0, .hi = 80, .label = "downtime (ms)"},
//                        {{.label = "A (baseline)", .values = {60, 61}, .tooltips = {"a1", "a2"}},
//                         {.label = "B (candidate)", .values = {72, 73}, .tooltips = {"b1",
//                         "b2"}}});
//   plot.Line(60.5, StripRowY(0, 2) - 0.3, 60.5, StripRowY(0, 2) + 0.3, "mean");
//   std::string svg = plot.Finish();
#pragma once

#include <string>
#include <vector>

#include "svg.hpp"

namespace migtest::internal {

struct StripRow {
  std::string label;                  // drawn at the row's top left
  std::vector<double> values;         // one dot each
  std::vector<std::string> tooltips;  // one per value (a run's folder and figure)
  std::string cls = "dot";            // the dots' CSS class
};

// The y coordinate of row i's centre of n rows (the first row on top).
inline double StripRowY(size_t i, size_t n) { return static_cast<double>(n - i) - 0.5; }

// The rows top to bottom on the x axis given; returned unfinished so that a caller may mark means
// or thresholds before Finish().
inline Svg StripPlot(const std::string& title, const Axis& x, const std::vector<StripRow>& rows,
                     int width = 860) {
  const int height = 110 + 48 * static_cast<int>(rows.size());
  Svg plot(title, x,
           {.lo = 0, .hi = static_cast<double>(rows.size()), .label = "runs", .ticks = false},
           width, height);
  for (size_t i = 0; i < rows.size(); ++i) {
    const StripRow& r = rows[i];
    const double row = StripRowY(i, rows.size());
    for (size_t k = 0; k < r.values.size(); ++k) {
      // A small vertical jitter, deterministic, so that equal values stay apart.
      const double jitter = (static_cast<double>(k % 5) - 2) * 0.06;
      plot.Dot(r.values[k], row + jitter, r.cls, k < r.tooltips.size() ? r.tooltips[k] : "");
    }
    plot.Label(plot.x().lo, row + 0.5, r.label, "start", 14, "note rowname");
  }
  return plot;
}

}  // namespace migtest::internal
