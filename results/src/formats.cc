// Every format migtest reads, in one table: how to recognise it from the head of an input, and its
// parser. Its name (result.json, --format) is the model's: format_names.hpp, checked below to list
// the same formats in the same order. Adding a parser: a Format enumerator (model.hpp), its name
// (format_names.hpp), its parse_*.cc, and one row here.
#include "format_names.hpp"
#include "parse_internal.hpp"

namespace migtest::internal {

// Each format's detection and parser, in its parse_*.cc.
Detection DetectMigtest(std::string_view head);
std::vector<RunResult> ParseMigtestRuns(std::istream& in, std::string_view source);
Detection DetectQemuQmp(std::string_view head);
RunResult ParseQemuQmp(std::istream& in, std::string_view source);
Detection DetectTlmz(std::string_view head);
RunResult ParseTlmz(std::istream& in, std::string_view source);
Detection DetectQemuTrace(std::string_view head);
RunResult ParseQemuTraceEvents(std::istream& in, std::string_view source);
Detection DetectQemuDebug(std::string_view head);
std::vector<RunResult> ParseQemuDebugRuns(std::istream& in, std::string_view source);
Detection DetectCloudHypervisor(std::string_view head);
RunResult ParseCloudHypervisor(std::istream& in, std::string_view source);
Detection DetectMigmon(std::string_view head);
RunResult ParseMigmon(std::istream& in, std::string_view source);

namespace {

// A parser of one run as a parser of runs.
template <RunResult (*ParseOne)(std::istream&, std::string_view)>
std::vector<RunResult> OneRun(std::istream& in, std::string_view source) {
  return {ParseOne(in, source)};
}

// In detection order: the first row that claims an input (kYes) wins, else the first kWeak.
constexpr FormatEntry kFormats[] = {
    {Format::kAuto, nullptr, nullptr},
    {Format::kMigtest, &DetectMigtest, &ParseMigtestRuns},
    {Format::kQemuQmp, &DetectQemuQmp, &OneRun<&ParseQemuQmp>},
    {Format::kTlmz, &DetectTlmz, &OneRun<&ParseTlmz>},
    {Format::kQemuTrace, &DetectQemuTrace, &OneRun<&ParseQemuTraceEvents>},
    {Format::kQemuDebug, &DetectQemuDebug, &ParseQemuDebugRuns},
    {Format::kCloudHypervisor, &DetectCloudHypervisor, &OneRun<&ParseCloudHypervisor>},
    {Format::kMigmon, &DetectMigmon, &OneRun<&ParseMigmon>},
};

// The model names formats without knowing the parsers: its table must be this one's, row by row.
constexpr bool NamesAgreeWithFormats() {
  if (std::size(kFormatNames) != std::size(kFormats)) return false;
  for (size_t i = 0; i < std::size(kFormats); ++i) {
    if (kFormatNames[i].format != kFormats[i].format) return false;
  }
  return true;
}
static_assert(NamesAgreeWithFormats(),
              "format_names.hpp must name every format of kFormats, in kFormats' order");

}  // namespace

std::span<const FormatEntry> Formats() { return kFormats; }

const FormatEntry* FindFormat(Format format) {
  for (const FormatEntry& f : kFormats) {
    if (f.format == format) return &f;
  }
  return nullptr;
}

}  // namespace migtest::internal
