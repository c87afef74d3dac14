// TLMZ report (seed 000): tlc_conf lines, s221/s222 pairs per epoch, s2s3gap, s3, the percent
// line, RAM_SAVE_FLAG_EOS … stage N, and s4. The s222 that follows stage 3 carries the downtime.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <type_traits>

#include "parse_internal.hpp"

namespace migtest::internal {
namespace {

template <typename T>
T Field(const LineReader& r, std::string_view line, std::string_view word, const char* what) {
  auto v = ToNumber<T>(word);
  // Every fractional TLMZ figure is a progress or milliseconds, which must fit a Duration (int64
  // microseconds): never negative, infinite or NaN.
  if constexpr (std::is_floating_point_v<T>) {
    if (v && !(*v >= 0 && *v < 9e15)) v.reset();
  }
  if (!v) r.Fail(fmt::format("{} as a number", what), line);
  return *v;
}

// A field a writer had no figure for: "-" (migmon migrate prints it so). Absent, never a number.
template <typename T>
std::optional<T> FieldOrAbsent(const LineReader& r, std::string_view line, std::string_view word,
                               const char* what) {
  if (word == "-") return std::nullopt;
  return Field<T>(r, line, word, what);
}

}  // namespace

// Detection (formats.cc): TLMZ's configuration or end-of-stream line, or a stage-2 line.
Detection DetectTlmz(std::string_view head) {
  // A stage-2 line: "s221 <digit>" or "s222 <digit>" after any indentation.
  auto stage2 = [](std::string_view line) {
    Skip(line, " \t\r\f\v");
    return (line.starts_with("s221 ") || line.starts_with("s222 ")) && line.size() > 5 &&
           kDigits.find(line[5]) != std::string_view::npos;
  };
  return Yes(Has(head, "tlc_conf:") || Has(head, "RAM_SAVE_FLAG_EOS") || AnyLine(head, stage2));
}

RunResult ParseTlmz(std::istream& in, std::string_view source) {
  RunResult run;
  run.format = Format::kTlmz;
  run.source = std::string(source);
  MigrationResult m;
  m.format = Format::kTlmz;
  LineReader r(in, source);
  std::string raw;
  int stage = 0;
  bool seen_record = false;
  // s222 completes the iteration its s221 opened; an s222 with no s221 opens one of its own.
  bool open_s221 = false;
  Duration elapsed{};
  while (r.Next(raw)) {
    std::string_view line = Trim(raw);
    if (line.starts_with("tlc_conf:")) {
      std::string_view kv = Trim(line.substr(9));
      auto eq = kv.find('=');
      if (eq == std::string_view::npos) r.Fail("'tlc_conf: KEY = VALUE'", line);
      m.config[std::string(Trim(kv.substr(0, eq)))] = std::string(Trim(kv.substr(eq + 1)));
      continue;
    }
    auto w = SplitWords(line);
    if (w.empty()) continue;
    // A record carries numbers; "s221 duration_id pages_copied …" is the report's own legend.
    if (w.size() > 1 && !std::any_of(w.begin() + 1, w.end(), [](std::string_view f) {
          return std::isdigit(static_cast<unsigned char>(f.front()));
        })) {
      continue;
    }
    if (w[0] == "s221") {
      if (w.size() != 3 && w.size() != 4) {
        r.Fail("'s221 [id] pages_copied epoch_ms' (2 or 3 numbers)", line);
      }
      size_t i = w.size() == 4 ? 2 : 1;
      if (w.size() == 4) Field<uint64_t>(r, line, w[1], "the epoch id");
      Iteration it;
      it.index = static_cast<int>(m.iterations.size()) + 1;
      it.pages_sent = Field<uint64_t>(r, line, w[i], "pages_copied_last_epoch");
      it.duration = Millis(Field<double>(r, line, w[i + 1], "epoch_duration (ms)"));
      it.start = elapsed;
      elapsed += *it.duration;
      m.iterations.push_back(it);
      open_s221 = true;
      seen_record = true;
    } else if (w[0] == "s222") {
      if (w.size() != 5) {
        r.Fail("'s222 pages_dirtied mig_duration_ms io_count progress' (4 numbers)", line);
      }
      auto dirtied = Field<uint64_t>(r, line, w[1], "pages_gen_last_epoch");
      auto ms = FieldOrAbsent<double>(r, line, w[2], "mig_duration (ms)");
      auto io = FieldOrAbsent<uint64_t>(r, line, w[3], "all_io_cnt");
      auto progress = Field<double>(r, line, w[4], "stage2_progress");
      if (!open_s221) {
        Iteration it;
        it.index = static_cast<int>(m.iterations.size()) + 1;
        m.iterations.push_back(it);
      }
      Iteration& it = m.iterations.back();
      it.pages_dirtied = dirtied;
      it.io_count = io;
      it.progress = progress;
      if (stage >= 3) {
        // After stage 3 the "dirty bit update" includes sending what remained with the VM
        // stopped: that is the downtime, not a sync stall.
        if (ms) m.downtime = Millis(*ms);
        if (io) m.config["all_io_cnt"] = std::to_string(*io);
      } else if (ms) {
        it.sync_time = Millis(*ms);
      }
      open_s221 = false;
      seen_record = true;
    } else if (w[0] == "s2s3gap") {
      if (w.size() < 2) r.Fail("'s2s3gap N [ps_wait N]'", line);
      if (auto gap = FieldOrAbsent<uint64_t>(r, line, w[1], "s2s3gap (ms)")) {
        m.config["s2s3gap"] = std::to_string(*gap);
      }
      if (w.size() >= 4 && w[2] == "ps_wait") {
        if (auto wait = FieldOrAbsent<uint64_t>(r, line, w[3], "ps_wait")) {
          m.config["ps_wait"] = std::to_string(*wait);
        }
      }
    } else if (w[0] == "s3") {
      if (w.size() != 3) r.Fail("'s3 last_addr_buffer num_cp_threads' (2 numbers)", line);
      m.pages["stage3"] = Field<uint64_t>(r, line, w[1], "last_addr_buffer (pages)");
      if (auto threads = FieldOrAbsent<uint64_t>(r, line, w[2], "num_cp_threads")) {
        m.config["num_cp_threads"] = std::to_string(*threads);
      }
      seen_record = true;
    } else if (w[0] == "s4") {
      if (w.size() != 4) {
        r.Fail("'s4 pages_sent_mserv s21_pages_transferred total_ms' (3 numbers)", line);
      }
      m.pages["dtx"] = Field<uint64_t>(r, line, w[1], "tlc_pages_sent_mserv");
      m.pages["mtx"] = Field<uint64_t>(r, line, w[2], "tlc_s21_pages_transferred");
      m.total_time = Millis(Field<double>(r, line, w[3], "total_migration_time (ms)"));
      m.status = Status::kCompleted;
      seen_record = true;
    } else if (w[0] == "RAM_SAVE_FLAG_EOS") {
      if (w.size() < 2 || w[w.size() - 2] != "stage") r.Fail("'RAM_SAVE_FLAG_EOS … stage N'", line);
      stage = Field<int>(r, line, w.back(), "the stage number");
      seen_record = true;
    }
    // Everything else (the percent line, connection chatter) belongs to nobody.
  }
  if (!seen_record) {
    throw ParseError(std::string(source), r.line_number(), "TLMZ s221/s222/s3/s4 lines",
                     "none before the end of the input");
  }
  if (m.status == Status::kUnknown) m.status = Status::kActive;  // no s4: not finished
  run.migration = std::move(m);
  return run;
}

}  // namespace migtest::internal
