// Every format migtest reads, in one table: how to recognise it from the head of an input, and its
// parser. Its name (result.json, --format) is the model's: format_names.hpp, checked below to list
// the same formats in the same order. Adding a parser: a Format enumerator (model.hpp), its name
// (format_names.hpp), its parse_*.cc, and one row here.
#include <regex>

#include "format_names.hpp"
#include "parse_internal.hpp"

namespace migtest::internal {

// The parsers, each in its parse_*.cc.
RunResult ParseTlmz(std::istream& in, std::string_view source);
std::vector<RunResult> ParseQemuDebugRuns(std::istream& in, std::string_view source);
RunResult ParseQemuQmp(std::istream& in, std::string_view source);
RunResult ParseQemuTraceEvents(std::istream& in, std::string_view source);
RunResult ParseCloudHypervisor(std::istream& in, std::string_view source);
RunResult ParseMigmon(std::istream& in, std::string_view source);
std::vector<RunResult> ParseMigtestRuns(std::istream& in, std::string_view source);

namespace {

bool Has(std::string_view head, std::string_view needle) {
  return head.find(needle) != std::string_view::npos;
}
bool StartsAsJson(std::string_view head) {
  std::string_view first = Trim(head);
  return !first.empty() && first.front() == '{';
}
Detection Yes(bool claimed) { return claimed ? Detection::kYes : Detection::kNo; }

Detection DetectMigtest(std::string_view head) {
  return Yes(StartsAsJson(head) && Has(head, "\"schema\"") && Has(head, "migtest.result"));
}
Detection DetectQemuQmp(std::string_view head) {
  return Yes(StartsAsJson(head) && DetectMigtest(head) == Detection::kNo);
}
Detection DetectTlmz(std::string_view head) {
  static const std::regex stage2(R"((^|\n)\s*s22[12] \d)");
  return Yes(Has(head, "tlc_conf:") || Has(head, "RAM_SAVE_FLAG_EOS") ||
             std::regex_search(head.begin(), head.end(), stage2));
}
Detection DetectQemuTrace(std::string_view head) {
  static const std::regex event(R"((^|\n)\d+@\d+\.\d{6}:[a-z_0-9]+)");
  return Yes(std::regex_search(head.begin(), head.end(), event));
}
Detection DetectQemuDebug(std::string_view head) {
  if (Has(head, "savevm: save") || Has(head, "migration: ended after")) return Detection::kYes;
  // ping's summary alone: the debug text of a run, unless another format claims the input.
  return Has(head, "rtt min/avg/max/mdev") ? Detection::kWeak : Detection::kNo;
}
Detection DetectCloudHypervisor(std::string_view head) {
  return Yes(Has(head, "cloud-hypervisor:") || Has(head, "Migration downtime breakdown:") ||
             Has(head, "Downtime breakdown:") || Has(head, "Migration complete") ||
             Has(head, "Precopy: ") || Has(head, "Precopy converged: ") ||
             Has(head, "Migration (incoming):"));
}
Detection DetectMigmon(std::string_view head) {
  return Yes(Has(head, "dirty-rate:") || Has(head, " (us): ") || Has(head, "Speed: ") ||
             Has(head, "Latency: average") || Has(head, "max_delay:") ||
             Has(head, ",18446744073709551615"));
}

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
