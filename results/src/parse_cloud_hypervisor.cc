// cloud-hypervisor's migration log lines (seed 003 and the forms merged upstream), behind its log
// prefix `cloud-hypervisor:  S.SSSSSSs: <vmm> LEVEL:path/file.rs:LINE -- `. Unknown phase names
// are kept by name.
#include <fmt/format.h>

#include <regex>

#include "parse_internal.hpp"

namespace migtest::internal {
namespace {

// The messages of a line: behind each log prefix (a pasted log can hold several on one line), or
// the whole line when it has none. Text before the first prefix is prose and belongs to nobody.
std::vector<std::string_view> Messages(std::string_view line) {
  constexpr std::string_view kPrefix = "cloud-hypervisor:";
  std::vector<std::string_view> out;
  size_t p = line.find(kPrefix);
  if (p == std::string_view::npos) {
    out.push_back(Trim(line));
    return out;
  }
  while (p != std::string_view::npos) {
    size_t next = line.find(kPrefix, p + kPrefix.size());
    std::string_view segment =
        line.substr(p, next == std::string_view::npos ? line.npos : next - p);
    if (auto sep = segment.find(" -- "); sep != std::string_view::npos) {
      out.push_back(Trim(segment.substr(sep + 4)));
    }
    p = next;
  }
  return out;
}

Duration NeedDuration(const LineReader& r, std::string_view line, std::string_view text) {
  auto d = ToDuration(text);
  if (!d) r.Fail(fmt::format("a duration like 55ms (in {})", Quote(line)), text);
  return *d;
}

// "name=55ms name2=2ms" or "name:55ms name2:2ms" → phases, in order.
std::vector<Phase> Phases(const LineReader& r, std::string_view line, std::string_view list,
                          char sep, std::string_view prefix = {}) {
  std::vector<Phase> phases;
  for (std::string_view word : SplitWords(list)) {
    auto at = word.find(sep);
    if (at == std::string_view::npos && !phases.empty()) break;  // the list ended; prose follows
    if (at == std::string_view::npos || at == 0) {
      r.Fail(fmt::format("'phase{}Nms'", sep), word);
    }
    phases.push_back({std::string(prefix) + std::string(word.substr(0, at)),
                      NeedDuration(r, line, word.substr(at + 1))});
  }
  if (phases.empty()) r.Fail("at least one phase", line);
  return phases;
}

// A byte size with its unit: "512MiB", "1.5GiB", "4096B".
std::optional<uint64_t> ToBytes(std::string_view s) {
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"B", 1.0}};
  for (auto [suffix, mult] : kUnits) {
    if (s.ends_with(suffix)) {
      auto n = ToNumber<double>(s.substr(0, s.size() - suffix.size()));
      // Not negative, not NaN, and within a uint64 (2^64 is about 1.8447e19).
      if (!n || !(*n >= 0 && *n * mult < 1.8e19)) return std::nullopt;
      return static_cast<uint64_t>(*n * mult + 0.5);
    }
  }
  return std::nullopt;
}

}  // namespace

// Detection (formats.cc): the VMM's migration lines that the parser reads.
Detection DetectCloudHypervisor(std::string_view head) {
  return Yes(Has(head, "cloud-hypervisor:") || Has(head, "Migration downtime breakdown:") ||
             Has(head, "Downtime breakdown:") || Has(head, "Migration complete") ||
             Has(head, "Precopy: ") || Has(head, "Precopy converged: ") ||
             Has(head, "Migration (incoming):"));
}

RunResult ParseCloudHypervisor(std::istream& in, std::string_view source) {
  RunResult run;
  run.format = Format::kCloudHypervisor;
  run.source = std::string(source);
  MigrationResult m;
  m.format = Format::kCloudHypervisor;
  bool seen = false;

#define MIGTEST_DUR R"((\d+(?:\.\d+)?(?:ns|us|ms|s)))"
  // Anchored at the message's start; prose may follow a record.
  static const std::regex kComplete("^Migration complete: actual downtime was " MIGTEST_DUR
                                    " and migration took " MIGTEST_DUR);
  static const std::regex kCompleted("^Migration completed after " MIGTEST_DUR
                                     " with a downtime of " MIGTEST_DUR " \\(goal was " MIGTEST_DUR
                                     "\\)");
  static const std::regex kBreakdown("^Downtime breakdown: " MIGTEST_DUR R"( \(([^)]*)\))");
  static const std::regex kIncomingResume(
      "^Migration \\(incoming\\): Receiving final state and resuming the VM took " MIGTEST_DUR);
#undef MIGTEST_DUR

  LineReader r(in, source);
  std::string raw;
  while (r.Next(raw)) {
    for (std::string_view msg : Messages(raw)) {
      std::smatch sm;
      std::string s(msg);
      if (msg.starts_with("Migration downtime breakdown:")) {
        auto phases = Phases(r, msg, msg.substr(29), '=');
        m.downtime_breakdown.insert(m.downtime_breakdown.end(), phases.begin(), phases.end());
        seen = true;
      } else if (msg.starts_with("Downtime breakdown:")) {
        if (!std::regex_search(s, sm, kBreakdown)) {
          r.Fail("'Downtime breakdown: Nms (phase:Nms …)'", msg);
        }
        if (!m.downtime) m.downtime = NeedDuration(r, msg, sm[1].str());
        auto phases = Phases(r, msg, sm[2].str(), ':');
        m.downtime_breakdown.insert(m.downtime_breakdown.end(), phases.begin(), phases.end());
        seen = true;
      } else if (msg.starts_with("Migration complete:")) {
        if (!std::regex_search(s, sm, kComplete)) {
          r.Fail("'Migration complete: actual downtime was Nms and migration took S.SSs'", msg);
        }
        m.downtime = NeedDuration(r, msg, sm[1].str());
        m.total_time = NeedDuration(r, msg, sm[2].str());
        m.status = Status::kCompleted;
        seen = true;
      } else if (msg.starts_with("Migration completed after")) {
        if (!std::regex_search(s, sm, kCompleted)) {
          r.Fail("'Migration completed after S.Ss with a downtime of Nms (goal was Nms)'", msg);
        }
        m.total_time = NeedDuration(r, msg, sm[1].str());
        m.downtime = NeedDuration(r, msg, sm[2].str());
        m.downtime_goal = NeedDuration(r, msg, sm[3].str());
        m.status = Status::kCompleted;
        seen = true;
      } else if (msg.starts_with("Migration (incoming):")) {
        if (std::regex_search(s, sm, kIncomingResume)) {
          m.downtime_breakdown.push_back(
              {"incoming.receive_state_and_resume", NeedDuration(r, msg, sm[1].str())});
        } else {
          auto phases = Phases(r, msg, Trim(msg.substr(21)), ':', "incoming.");
          m.downtime_breakdown.insert(m.downtime_breakdown.end(), phases.begin(), phases.end());
        }
        seen = true;
      } else if (msg.starts_with("Precopy: ") || msg.starts_with("Precopy converged: ") ||
                 msg.starts_with("Precopy complete: ")) {
        if (msg.starts_with("Precopy converged")) m.converged = true;
        Iteration it;
        it.index = static_cast<int>(m.iterations.size()) + 1;
        bool has_iter = false;
        for (std::string_view kv : SplitWords(msg.substr(msg.find(':') + 1))) {
          auto eq = kv.find('=');
          if (eq == std::string_view::npos) break;  // the pairs ended; prose follows
          std::string_view key = kv.substr(0, eq), value = kv.substr(eq + 1);
          if (key == "iter") {
            auto n = ToNumber<int>(value);
            if (!n) r.Fail("iter=N", kv);
            it.index = *n;
            has_iter = true;
          } else if (key == "curr") {
            auto b = ToBytes(value);
            if (!b) r.Fail("curr=<size>MiB", kv);
            it.bytes_sent = b;
          } else if (key == "total") {
            if (!ToBytes(value)) r.Fail("total=<size>MiB", kv);
          } else if (key == "bw") {
            if (!value.ends_with("MiB/s")) r.Fail("bw=N.NNMiB/s", kv);
            auto bw = ToNumber<double>(value.substr(0, value.size() - 5));
            if (!bw) r.Fail("bw=N.NNMiB/s", kv);
            it.bandwidth_mib_s = bw;
          } else if (key == "transfer") {
            it.duration = NeedDuration(r, msg, value);
          } else if (key == "overhead") {
            // The dirty-log fetch and bookkeeping between two transfers: the iteration's sync
            // stall.
            it.sync_time = NeedDuration(r, msg, value);
          } else if (key == "est_downtime") {
            it.est_downtime = NeedDuration(r, msg, value);
          } else if (key == "elapsed") {
            it.start = NeedDuration(r, msg, value);
          }
          // avg_bw and keys a newer cloud-hypervisor adds are not needed.
        }
        if (has_iter || !msg.starts_with("Precopy complete")) m.iterations.push_back(it);
        seen = true;
      }
    }
  }
  if (!seen) {
    throw ParseError(std::string(source), r.line_number(),
                     "cloud-hypervisor migration lines (Migration complete…, Downtime breakdown…, "
                     "Precopy: iter=…)",
                     "none before the end of the input");
  }
  if (m.status == Status::kUnknown) m.status = Status::kActive;
  run.migration = std::move(m);
  return run;
}

}  // namespace migtest::internal
