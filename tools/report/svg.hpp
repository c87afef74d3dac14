// Small inline-SVG plots for migtest-report's HTML page: one plot area with two labelled axes
// (linear or log10), drawn in data coordinates. No JavaScript, no fonts, no network: the page must
// open from an artifact archive years later.
//
// **Example**
//
//   Svg plot("Bytes sent per iteration", {.lo = 0, .hi = 350, .label = "time (ms)"},
//            {.lo = 0, .hi = 260, .label = "sent (MiB)"});
//   plot.Rect(21, 0, 248, 256, "bar", "iteration 1: 256 MiB");
//   std::string svg = plot.Finish();
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

namespace migtest::internal {

// Text from a result.json file is data, never markup.
inline std::string Escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A tick label: short, no trailing zeros, thousands as k/M so that labels fit under the ticks.
inline std::string TickLabel(double v) {
  const double a = std::abs(v);
  if (a >= 1e6) return fmt::format("{:g}M", v / 1e6);
  if (a >= 1e4) return fmt::format("{:g}k", v / 1e3);
  return fmt::format("{:g}", std::round(v * 1000) / 1000);
}

struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  std::string label;  // with the unit: "time (ms)"
  bool ticks = true;  // false: no numbers (a stacked bar's height means nothing)

  // A usable range: a single value or a log axis touching 0 still gets a span.
  Axis Fixed() const {
    Axis a = *this;
    if (a.log) {
      a.lo = std::max(a.lo, 1e-3);
      a.lo = std::pow(10, std::floor(std::log10(a.lo)));
      a.hi = std::pow(10, std::ceil(std::log10(std::max(a.hi, a.lo * 10))));
      if (a.hi <= a.lo) a.hi = a.lo * 10;
    } else if (!(a.hi > a.lo)) {
      a.hi = a.lo + (a.lo == 0 ? 1 : std::abs(a.lo));
    }
    return a;
  }
  double Frac(double v) const {
    if (log) {
      v = std::max(v, lo);
      return (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
    }
    return (v - lo) / (hi - lo);
  }
  std::vector<double> Ticks() const {
    std::vector<double> t;
    if (log) {
      for (double v = lo; v <= hi * 1.0001; v *= 10) t.push_back(v);
      return t;
    }
    const double raw = (hi - lo) / 5;
    const double mag = std::pow(10, std::floor(std::log10(raw)));
    double step = mag;
    for (double m : {1.0, 2.0, 5.0, 10.0}) {
      if (mag * m >= raw) {
        step = mag * m;
        break;
      }
    }
    for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) t.push_back(v);
    return t;
  }
};

class Svg {
 public:
  Svg(std::string title, Axis x, Axis y, int width = 860, int height = 250)
      : title_(std::move(title)), x_(x.Fixed()), y_(y.Fixed()), w_(width), h_(height) {}

  double X(double v) const { return left_ + std::clamp(x_.Frac(v), 0.0, 1.0) * PlotW(); }
  double Y(double v) const { return top_ + (1 - std::clamp(y_.Frac(v), 0.0, 1.0)) * PlotH(); }
  const Axis& x() const { return x_; }
  const Axis& y() const { return y_; }

  // A rectangle between data coordinates, at least 2 px wide so that short events stay visible.
  void Rect(double x0, double y0, double x1, double y1, std::string_view cls,
            std::string_view tooltip = {}, std::string_view fill = {}) {
    double px0 = X(x0), px1 = X(x1);
    if (px1 - px0 < 2) px1 = px0 + 2;
    const double py0 = std::min(Y(y0), Y(y1)), py1 = std::max(Y(y0), Y(y1));
    body_ +=
        fmt::format(R"(<rect class="{}" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}"{}>)",
                    cls, px0, py0, px1 - px0, std::max(py1 - py0, 1.0),
                    fill.empty() ? "" : fmt::format(R"( style="fill:{}")", fill));
    body_ += Tooltip(tooltip) + "</rect>\n";
  }
  void Dot(double x, double y, std::string_view cls, std::string_view tooltip = {}) {
    body_ += fmt::format(R"(<circle class="{}" cx="{:.1f}" cy="{:.1f}" r="4">)", cls, X(x), Y(y));
    body_ += Tooltip(tooltip) + "</circle>\n";
  }
  void Line(double x0, double y0, double x1, double y1, std::string_view cls) {
    body_ += fmt::format(R"(<line class="{}" x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}"/>)",
                         cls, X(x0), Y(y0), X(x1), Y(y1)) +
             "\n";
  }
  void Polyline(const std::vector<std::pair<double, double>>& pts, std::string_view cls) {
    std::string p;
    for (const auto& [x, y] : pts) p += fmt::format("{:.1f},{:.1f} ", X(x), Y(y));
    body_ += fmt::format(R"(<polyline class="{}" points="{}"/>)", cls, p) + "\n";
  }
  // A label at data coordinates; anchor start|middle|end. dy shifts it in pixels.
  void Label(double x, double y, std::string_view text, std::string_view anchor = "start",
             double dy = 0, std::string_view cls = "note") {
    body_ += fmt::format(R"(<text class="{}" x="{:.1f}" y="{:.1f}" text-anchor="{}">{}</text>)",
                         cls, X(x), Y(y) + dy, anchor, Escape(text)) +
             "\n";
  }
  // A label in pixels below the plot area (legends).
  void Legend(double px, std::string_view text, std::string_view fill) {
    const double py = h_ - 8;
    body_ += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="12" height="12" style="fill:{}"/>)",
                         px, py - 10, fill);
    body_ += fmt::format(R"(<text class="legend" x="{:.1f}" y="{:.1f}">{}</text>)", px + 16, py,
                         Escape(text)) +
             "\n";
  }
  // Category names under the x axis instead of numeric ticks.
  void Categories(std::vector<std::pair<double, std::string>> c) { categories_ = std::move(c); }
  void ReserveLegend() { legend_ = true; }

  std::string Finish() const {
    std::string s = fmt::format(
        R"(<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" role="img" aria-label="{}">)"
        "\n",
        w_, h_, Escape(title_));
    s +=
        fmt::format(R"(<text class="title" x="{}" y="18">{}</text>)", left_, Escape(title_)) + "\n";
    s += fmt::format(R"(<rect class="frame" x="{}" y="{}" width="{:.1f}" height="{:.1f}"/>)", left_,
                     top_, PlotW(), PlotH()) +
         "\n";
    for (double t : y_.ticks ? y_.Ticks() : std::vector<double>{}) {
      s += fmt::format(R"(<line class="grid" x1="{}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}"/>)", left_,
                       Y(t), left_ + PlotW(), Y(t));
      s += fmt::format(R"(<text class="tick" x="{}" y="{:.1f}" text-anchor="end">{}</text>)",
                       left_ - 6, Y(t) + 4, TickLabel(t)) +
           "\n";
    }
    const double base = top_ + PlotH();
    if (categories_.empty()) {
      for (double t : x_.Ticks()) {
        s += fmt::format(R"(<line class="axis" x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}"/>)",
                         X(t), base, X(t), base + 5);
        s += fmt::format(
                 R"(<text class="tick" x="{:.1f}" y="{:.1f}" text-anchor="middle">{}</text>)", X(t),
                 base + 18, TickLabel(t)) +
             "\n";
      }
    } else {
      for (const auto& [x, name] : categories_) {
        s += fmt::format(
                 R"(<text class="tick" x="{:.1f}" y="{:.1f}" text-anchor="middle">{}</text>)", X(x),
                 base + 18, Escape(name)) +
             "\n";
      }
    }
    s += body_;
    s += fmt::format(
             R"(<text class="axislabel" x="{:.1f}" y="{:.1f}" text-anchor="middle">{}</text>)",
             left_ + PlotW() / 2, base + 36, Escape(x_.label)) +
         "\n";
    s +=
        fmt::format(
            R"x(<text class="axislabel" transform="translate(16 {:.1f}) rotate(-90)" text-anchor="middle">{}</text>)x",
            top_ + PlotH() / 2, Escape(y_.label)) +
        "\n";
    s += "</svg>\n";
    return s;
  }

 private:
  static std::string Tooltip(std::string_view t) {
    return t.empty() ? std::string() : "<title>" + Escape(t) + "</title>";
  }
  double PlotW() const { return w_ - left_ - right_; }
  double PlotH() const { return h_ - top_ - bottom_ - (legend_ ? 22 : 0); }

  std::string title_;
  Axis x_, y_;
  int w_, h_;
  int left_ = 78, right_ = 20, top_ = 30, bottom_ = 48;
  bool legend_ = false;
  std::vector<std::pair<double, std::string>> categories_;
  std::string body_;
};

}  // namespace migtest::internal
