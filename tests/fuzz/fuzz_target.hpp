// What every fuzz target checks: a parser given any bytes returns a result or throws the error it
// promises (ParseError naming the input, for the log parsers), never anything else. An exception of
// another type escapes LLVMFuzzerTestOneInput and libFuzzer reports it as a crash (with the input);
// ASan and UBSan report memory errors and undefined behaviour the same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>

#include "migtest/results.hpp"

namespace migtest::fuzz {

inline constexpr std::string_view kSource = "fuzz.log";

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A ParseError that does not say where (the input's name first) or what was expected breaks the
// library's promise as surely as a crash does.
inline void CheckError(const ParseError& e) {
  const std::string_view what = e.what();
  if (e.file() != kSource || !what.starts_with(kSource) || e.expected().empty() ||
      e.found().empty()) {
    std::fprintf(stderr, "ParseError without a location or an expectation: %s\n", e.what());
    std::abort();
  }
}

// Every run a format reads from `data`; a result that prints must print (PrintTo, result.json).
inline void ParseAll(const uint8_t* data, size_t size, Format format) {
  std::istringstream in{std::string(AsText(data, size))};
  try {
    for (const RunResult& run : ParseRuns(in, format, kSource)) {
      std::ostringstream out;
      PrintTo(run, &out);
      (void)ToJsonString(run);
    }
  } catch (const ParseError& e) {
    CheckError(e);
  }
}

}  // namespace migtest::fuzz
