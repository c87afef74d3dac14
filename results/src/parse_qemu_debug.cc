// QEMU DEBUG_MIGRATION / DEBUG_SAVEVM text (seed 002), plus ping's summary line. Records may sit
// anywhere inside a line (the seed is one long line of prose). One file may hold several runs: a
// run ends with "migration: ended after", and takes the ping summary that follows it.
#include <regex>
#include <stdexcept>

#include "parse_internal.hpp"

namespace migtest::internal {
namespace {

struct Pattern {
  std::string_view marker;  // a record starts here …
  std::regex re;            // … and must then read like this
  const char* expected;
};

const Pattern& StallPattern() {
  static const Pattern p{
      "savevm: save li",
      std::regex(
          R"(^savevm: save li(?:ve|vne) iterate section id (\d+) name (\S+) took (\d+) milliseconds (\d+) times?)"),
      "'savevm: save live iterate section id N name X took T milliseconds K times'"};
  return p;
}
const Pattern& DevicesPattern() {
  static const Pattern p{"savevm: save devices",
                         std::regex(R"(^savevm: save devices took (\d+) milliseconds)"),
                         "'savevm: save devices took T milliseconds'"};
  return p;
}
const Pattern& EndedPattern() {
  static const Pattern p{"migration: ended after",
                         std::regex(R"(^migration: ended after (\d+) milliseconds)"),
                         "'migration: ended after T milliseconds'"};
  return p;
}
const Pattern& RttPattern() {
  static const Pattern p{
      "rtt min/avg/max/mdev",
      std::regex(
          R"(^rtt min/avg/max/mdev = (\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)/(\d+(?:\.\d+)?) ms(?:, pipe (\d+))?)"),
      "'rtt min/avg/max/mdev = a/b/c/d ms[, pipe N]'"};
  return p;
}

struct Run {
  RunResult result;
  bool ended = false;
  bool has_rtt = false;
  bool has_anything = false;
};

}  // namespace

// Detection (formats.cc): QEMU's savevm or end-of-migration debug lines.
Detection DetectQemuDebug(std::string_view head) {
  if (Has(head, "savevm: save") || Has(head, "migration: ended after")) return Detection::kYes;
  // ping's summary alone: the debug text of a run, unless another format claims the input.
  return Has(head, "rtt min/avg/max/mdev") ? Detection::kWeak : Detection::kNo;
}

std::vector<RunResult> ParseQemuDebugRuns(std::istream& in, std::string_view source) {
  std::vector<Run> runs(1);
  auto fresh = [&](Run& run) {
    run.result.format = Format::kQemuDebug;
    run.result.source = std::string(source);
  };
  fresh(runs.back());
  auto migration = [&]() -> MigrationResult& {
    auto& r = runs.back().result;
    if (!r.migration) {
      r.migration.emplace();
      r.migration->format = Format::kQemuDebug;
      r.migration->status = Status::kActive;
    }
    runs.back().has_anything = true;
    return *r.migration;
  };
  auto next_run = [&] {
    runs.emplace_back();
    fresh(runs.back());
  };

  LineReader r(in, source);
  std::string line;
  const Pattern* patterns[] = {&StallPattern(), &DevicesPattern(), &EndedPattern(), &RttPattern()};
  while (r.Next(line)) {
    // Find every record start in the line, in order.
    size_t pos = 0;
    while (true) {
      const Pattern* hit = nullptr;
      size_t at = std::string::npos;
      for (const Pattern* p : patterns) {
        size_t f = line.find(p->marker, pos);
        if (f < at) {
          at = f;
          hit = p;
        }
      }
      if (!hit) break;
      std::smatch m;
      auto begin = line.cbegin() + static_cast<std::ptrdiff_t>(at);
      if (!std::regex_search(begin, line.cend(), m, hit->re)) {
        r.Fail(hit->expected, std::string_view(line).substr(at, 90));
      }
      pos = at + static_cast<size_t>(m.length(0));
      // Digit runs too long for their field (std::out_of_range) are a malformed record too.
      try {
        auto ms = [](const std::ssub_match& s) {
          const double v = std::stod(s.str());
          if (!(v < 1e12)) throw std::out_of_range("milliseconds");  // beyond what a Duration holds
          return Millis(v);
        };
        if (hit == &RttPattern()) {
          if (runs.back().has_rtt) next_run();
          auto& run = runs.back();
          run.has_rtt = run.has_anything = true;
          ProbeResult& probe = run.result.probe.emplace();
          probe.rtt.reported_min = ms(m[1]);
          probe.rtt.reported_avg = ms(m[2]);
          probe.rtt.reported_max = ms(m[3]);
          probe.rtt.reported_mdev = ms(m[4]);
          probe.max_latency = probe.rtt.reported_max;
          if (m[5].matched) probe.pipe = std::stoull(m[5]);
          continue;
        }
        if (runs.back().ended || runs.back().has_rtt) next_run();
        MigrationResult& mig = migration();
        if (hit == &StallPattern()) {
          mig.stalls.push_back(
              migtest::Stall{m[2].str(), std::stoi(m[1]), ms(m[3]), std::stoull(m[4])});
        } else if (hit == &DevicesPattern()) {
          mig.stalls.push_back(migtest::Stall{"devices", std::nullopt, ms(m[1]), 1});
        } else {
          mig.total_time = ms(m[1]);
          mig.status = Status::kCompleted;
          runs.back().ended = true;
        }
      } catch (const std::logic_error&) {
        r.Fail(hit->expected, std::string_view(line).substr(at, 90));
      }
    }
  }
  if (!runs.front().has_anything) {
    throw ParseError(std::string(source), r.line_number(),
                     "QEMU 'savevm:'/'migration: ended after' records or a ping summary",
                     "none before the end of the input");
  }
  std::vector<RunResult> out;
  for (auto& run : runs) {
    if (run.has_anything) out.push_back(std::move(run.result));
  }
  return out;
}

}  // namespace migtest::internal
