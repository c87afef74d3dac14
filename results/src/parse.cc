#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "parse_internal.hpp"

namespace migtest {

ParseError::ParseError(std::string file, size_t line, std::string expected, std::string found)
    : std::runtime_error(
          line > 0 ? fmt::format("{}:{}: expected {}, found {}", file, line, expected, found)
                   : fmt::format("{}: expected {}, found {}", file, expected, found)),
      file_(std::move(file)),
      line_(line),
      expected_(std::move(expected)),
      found_(std::move(found)) {}

namespace internal {

bool LineReader::Next(std::string& line) {
  if (has_pending_) {
    has_pending_ = false;
    line = std::move(pending_);
  } else {
    if (!std::getline(in_, line)) return false;
    ++line_;
  }
  if (auto cr = line.find('\r'); cr != std::string::npos) {
    // A \r redraws a status line: each drawing is a line of its own, on the same line number.
    pending_ = line.substr(cr + 1);
    has_pending_ = !pending_.empty();
    line.resize(cr);
  }
  return true;
}

void LineReader::Fail(std::string expected, std::string_view found) const {
  throw ParseError(source_, line_, std::move(expected), Quote(found));
}

std::string Quote(std::string_view text) {
  constexpr size_t kMax = 80;
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < kMax; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kMax) out += "...";
  out += "'";
  if (text.empty()) return "an empty value";
  return out;
}

std::string_view Trim(std::string_view s) {
  const auto* ws = " \t\r\n\f\v";
  auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

std::vector<std::string_view> SplitWords(std::string_view s) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    if (j > i) words.push_back(s.substr(i, j - i));
    i = j;
  }
  return words;
}

std::optional<Duration> ToDuration(std::string_view s) {
  struct Unit {
    std::string_view suffix;
    double us;
  };
  static constexpr Unit kUnits[] = {
      {"ns", 0.001}, {"us", 1.0}, {"\xc2\xb5s", 1.0}, {"ms", 1000.0}, {"s", 1e6}};
  for (const Unit& u : kUnits) {
    if (s.size() > u.suffix.size() && s.ends_with(u.suffix)) {
      auto number = ToNumber<double>(s.substr(0, s.size() - u.suffix.size()));
      // Not negative, not NaN, and within what a Duration (int64 microseconds) holds.
      if (!number || !(*number >= 0 && *number * u.us < 9e18)) return std::nullopt;
      return Duration(static_cast<Duration::rep>(*number * u.us + 0.5));
    }
  }
  return std::nullopt;
}

std::vector<JsonValue> ReadJsonValues(std::istream& in, std::string_view source) {
  std::vector<JsonValue> values;
  std::string text;
  size_t line = 1, start_line = 0, depth = 0;
  bool in_string = false, escaped = false;
  char c;
  while (in.get(c)) {
    if (depth == 0) {
      if (c == '\n') {
        ++line;
        continue;
      }
      if (c == ' ' || c == '\t' || c == '\r') continue;
      if (c != '{' && c != '[') {
        std::string rest(1, c);
        std::string tail;
        std::getline(in, tail);
        throw ParseError(std::string(source), line, "a JSON object", Quote(rest + tail));
      }
      start_line = line;
      text.clear();
    }
    text += c;
    if (c == '\n') ++line;
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) {
        auto value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (value.is_discarded()) {
          throw ParseError(std::string(source), start_line, "a well-formed JSON value",
                           Quote(text));
        }
        values.push_back({std::move(value), start_line});
      }
    }
  }
  if (depth != 0) {
    throw ParseError(std::string(source), start_line, "the JSON value to end",
                     "the end of the input (truncated?)");
  }
  return values;
}

}  // namespace internal

Format DetectFormat(std::string_view head) {
  const internal::FormatEntry* weak = nullptr;
  for (const internal::FormatEntry& f : internal::Formats()) {
    if (f.detect == nullptr) continue;
    const internal::Detection d = f.detect(head);
    if (d == internal::Detection::kYes) return f.format;
    if (d == internal::Detection::kWeak && weak == nullptr) weak = &f;
  }
  return weak != nullptr ? weak->format : Format::kAuto;
}

namespace {

// Reads enough of the stream to detect its format, then hands on a stream that replays it.
Format Detect(std::istream& in, std::string_view source, std::string& head) {
  head.assign(64 * 1024, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  if (internal::Trim(head).empty()) {
    throw ParseError(std::string(source), 0, "a migration log or result.json", "an empty input");
  }
  Format f = DetectFormat(head);
  if (f == Format::kAuto) {
    std::string_view first = head;
    first = first.substr(0, first.find('\n'));
    std::string names;
    for (const internal::FormatEntry& e : internal::Formats()) {
      if (e.parse == nullptr) continue;
      names += (names.empty() ? "" : ", ") + std::string(ToString(e.format));
    }
    throw ParseError(std::string(source), 1, fmt::format("a known format ({})", names),
                     internal::Quote(first));
  }
  return f;
}

std::vector<RunResult> ParseKnown(std::istream& in, Format format, std::string_view source) {
  const internal::FormatEntry* f = internal::FindFormat(format);
  if (f == nullptr || f->parse == nullptr) {
    throw ParseError(std::string(source), 0, "a format", std::string(ToString(format)));
  }
  return f->parse(in, source);
}

}  // namespace

std::vector<RunResult> ParseRuns(std::istream& in, Format format, std::string_view source_name) {
  if (format != Format::kAuto) {
    if (in.peek() == std::char_traits<char>::eof()) {
      throw ParseError(std::string(source_name), 0, "a migration log or result.json",
                       "an empty input");
    }
    return ParseKnown(in, format, source_name);
  }
  std::string head;
  format = Detect(in, source_name, head);
  // Replay what detection read, then the rest of the stream.
  std::stringstream all;
  all << head;
  if (!in.eof()) all << in.rdbuf();  // streaming an exhausted rdbuf would set failbit
  all.clear();
  return ParseKnown(all, format, source_name);
}

RunResult Parse(std::istream& in, Format format, std::string_view source_name) {
  auto runs = ParseRuns(in, format, source_name);
  return std::move(runs.front());
}

RunResult ParseFile(const std::filesystem::path& path, Format format) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ParseError(path.string(), 0, "a readable file",
                     fmt::format("'{}' ({})", path.string(), std::strerror(errno)));
  }
  return Parse(in, format, path.string());
}

std::vector<RunResult> ParseFileRuns(const std::filesystem::path& path, Format format) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ParseError(path.string(), 0, "a readable file",
                     fmt::format("'{}' ({})", path.string(), std::strerror(errno)));
  }
  return ParseRuns(in, format, path.string());
}

}  // namespace migtest
