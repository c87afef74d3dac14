// Shared pieces of the parsers: a line reader that knows where it is, strict number reading that
// reports file:line, and splitting a stream into top-level JSON values.
#pragma once

#include <algorithm>
#include <charconv>
#include <istream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "migtest/results/model.hpp"
#include "migtest/results/parse.hpp"

namespace migtest::internal {

// Reads `in` line by line; a carriage return also ends a line (status lines are redrawn with \r).
class LineReader {
 public:
  LineReader(std::istream& in, std::string_view source) : in_(in), source_(source) {}
  bool Next(std::string& line);
  size_t line_number() const { return line_; }
  const std::string& source() const { return source_; }
  [[noreturn]] void Fail(std::string expected, std::string_view found) const;

 private:
  std::istream& in_;
  std::string source_;
  size_t line_ = 0;
  std::string pending_;  // the rest of a physical line after a \r
  bool has_pending_ = false;
};

// The found text of an error: the offending text, shortened, with control bytes shown as \xNN.
std::string Quote(std::string_view text);

std::string_view Trim(std::string_view s);
std::vector<std::string_view> SplitWords(std::string_view s);

template <typename T>
std::optional<T> ToNumber(std::string_view s) {
  T value{};
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

// A JSON number as T. nlohmann converts a float to an integer type with a static_cast, undefined
// behaviour beyond the type's range (1e91 as an int64): such a value throws json::out_of_range
// (406) instead, which the callers report as they report a wrong type.
template <typename T>
T GetNumber(const nlohmann::json& v) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (v.is_number_float()) {
      const double d = v.get<double>();
      // T's bounds as doubles are exact: 0 or -2^N, and 2^N (its max + 1).
      constexpr double kMin = static_cast<double>(std::numeric_limits<T>::min());
      constexpr double kEnd = 2.0 * static_cast<double>(std::numeric_limits<T>::max() / 2 + 1);
      if (!(d >= kMin && d < kEnd)) {
        throw nlohmann::json::out_of_range::create(406, "number out of range: " + v.dump(), &v);
      }
    }
  }
  return v.get<T>();
}

// "55ms", "0.96s", "120us", "3ns" → Duration; nullopt when it is not one.
std::optional<Duration> ToDuration(std::string_view s);
inline Duration Millis(double ms) {
  return Duration(static_cast<Duration::rep>(ms * 1000.0 + 0.5));
}

// One top-level JSON value of a stream and the line it starts on.
struct JsonValue {
  nlohmann::json value;
  size_t line = 0;
};
// Splits `in` into top-level JSON values (one document, JSON lines, or pretty-printed objects one
// after another); text between values that is not JSON is an error.
std::vector<JsonValue> ReadJsonValues(std::istream& in, std::string_view source);

// Whether the head of an input reads as a format: kWeak is a hint another format may override.
enum class Detection { kNo, kWeak, kYes };

// Helpers for the parsers' Detect* functions (each in its parse_*.cc; formats.cc lists them).
inline bool Has(std::string_view head, std::string_view needle) {
  return head.find(needle) != std::string_view::npos;
}
inline bool StartsAsJson(std::string_view head) {
  std::string_view first = Trim(head);
  return !first.empty() && first.front() == '{';
}
inline Detection Yes(bool claimed) { return claimed ? Detection::kYes : Detection::kNo; }
// Whether a line of the head (without its '\n') satisfies `claims`. A loop, not std::regex: a
// regex search over a 64 KiB head that no format claims took milliseconds (and most of fuzz_auto).
template <class Pred>
bool AnyLine(std::string_view head, Pred claims) {
  for (;;) {
    const size_t end = head.find('\n');
    if (claims(head.substr(0, end))) return true;
    if (end == std::string_view::npos) return false;
    head.remove_prefix(end + 1);
  }
}
// Skips the leading characters of `s` in `chars` and returns how many it skipped.
inline size_t Skip(std::string_view& s, std::string_view chars) {
  const size_t n = std::min(s.find_first_not_of(chars), s.size());
  s.remove_prefix(n);
  return n;
}
inline constexpr std::string_view kDigits = "0123456789";

// One format migtest reads (formats.cc holds them all, in detection order; its name, as in
// result.json and on command lines, is ToString(format): format_names.hpp).
struct FormatEntry {
  Format format;
  Detection (*detect)(std::string_view head);  // nullptr: kAuto, only a request
  std::vector<RunResult> (*parse)(std::istream& in, std::string_view source);  // every run
};
std::span<const FormatEntry> Formats();
// nullptr for a Format with no row (none: every enumerator has one).
const FormatEntry* FindFormat(Format format);

}  // namespace migtest::internal
