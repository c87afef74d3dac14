// migtest's own result.json: one document, or JSON lines (or pretty-printed documents one after
// another) of several, each a RunResult (json.cc's from_json).
#include <nlohmann/json.hpp>

#include "migtest/results/json.hpp"
#include "parse_internal.hpp"

namespace migtest::internal {

// Detection (formats.cc): a JSON object naming migtest's result schema.
Detection DetectMigtest(std::string_view head) {
  return Yes(StartsAsJson(head) && Has(head, "\"schema\"") && Has(head, "migtest.result"));
}

std::vector<RunResult> ParseMigtestRuns(std::istream& in, std::string_view source) {
  std::vector<RunResult> runs;
  for (const JsonValue& v : ReadJsonValues(in, source)) {
    try {
      runs.push_back(v.value.get<RunResult>());
    } catch (const nlohmann::json::exception& e) {
      throw ParseError(std::string(source), v.line, "a migtest result.json document",
                       Quote(e.what()));
    }
    if (runs.back().source.empty()) runs.back().source = std::string(source);
  }
  if (runs.empty()) {
    throw ParseError(std::string(source), 0, "a migtest result.json document", "none");
  }
  return runs;
}

}  // namespace migtest::internal
