// Bad input, as a table: for each parser and for result.json, truncated records, garbage and
// numbers too large for their field (and, for result.json, wrong types and negative durations).
// Each must be a ParseError naming the input, the line where the record starts (0: the input as a
// whole) and what was expected; never a crash, a hang, undefined behaviour or a silent result.
// Several rows are the inputs the fuzz targets (tests/fuzz) found.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "migtest/results.hpp"

namespace migtest {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

struct BadInput {
  const char* name;  // the row, as the test's parameter name
  Format format;
  std::string text;
  size_t line;           // where the error must point
  std::string expected;  // a part of what() naming the problem
};

void PrintTo(const BadInput& b, std::ostream* os) { *os << b.name; }

const std::string k400Digits = "1" + std::string(400, '0');

const BadInput kBadInputs[] = {
    // TLMZ
    {"TlmzTruncatedS222", Format::kTlmz, "s221 0 844\ns222 45616", 2,
     "expected 's222 pages_dirtied mig_duration_ms io_count progress' (4 numbers)"},
    {"TlmzGarbageNumber", Format::kTlmz, "s221 0 8x4 5\n", 1,
     "expected pages_copied_last_epoch as a number, found 's221 0 8x4 5'"},
    {"TlmzCountTooLarge", Format::kTlmz, "s221 0 99999999999999999999999 5\n", 1,
     "expected pages_copied_last_epoch as a number"},
    {"TlmzMillisecondsTooLarge", Format::kTlmz, "s221 0 844 1e300\n", 1,
     "expected epoch_duration (ms) as a number"},
    {"TlmzMillisecondsNotFinite", Format::kTlmz, "s221 0 844 5\ns222 1 inf 0 0.5\n", 2,
     "expected mig_duration (ms) as a number"},
    {"TlmzNegativeMilliseconds", Format::kTlmz, "s221 0 844 -5\n", 1,
     "expected epoch_duration (ms) as a number"},
    {"TlmzNothingKnown", Format::kTlmz, "hello\nworld\n", 2, "TLMZ s221/s222/s3/s4 lines"},
    // QEMU DEBUG_MIGRATION text
    {"QemuDebugTruncatedRecord", Format::kQemuDebug, "ok\nmigration: ended after 12", 2,
     "expected 'migration: ended after T milliseconds'"},
    {"QemuDebugMillisecondsTooLarge", Format::kQemuDebug,
     "savevm: save devices took 99999999999999 milliseconds\n", 1,
     "expected 'savevm: save devices took T milliseconds'"},
    {"QemuDebugHugeRtt", Format::kQemuDebug, "rtt min/avg/max/mdev = 1/2/" + k400Digits + "/4 ms\n",
     1, "expected 'rtt min/avg/max/mdev = a/b/c/d ms[, pipe N]'"},
    {"QemuDebugNothingKnown", Format::kQemuDebug, "\x01\x02\x03\n", 1,
     "QEMU 'savevm:'/'migration: ended after' records or a ping summary"},
    // QEMU QMP
    {"QmpTruncated", Format::kQemuQmp, "{\"return\": {\"status\": \"active\"}}\n{\"return\": {", 2,
     "expected the JSON value to end, found the end of the input (truncated?)"},
    {"QmpGarbageBetweenValues", Format::kQemuQmp, "{\"return\": {}}\nnot json\n", 2,
     "expected a JSON object, found 'not json'"},
    {"QmpWrongType", Format::kQemuQmp, "{\"return\": {\"status\": 7}}\n", 1,
     "expected a QMP reply or event as QEMU documents it, found '{\"return\":{\"status\":7}} "
     "([json.exception.type_error.302] type must be string"},
    {"QmpMillisecondsTooLarge", Format::kQemuQmp,
     "{\"return\": {\"status\": \"completed\", \"total-time\": 99999999999999999}}\n", 1,
     "total-time"},
    {"QmpLatencyHistogramTooLong", Format::kQemuQmp,
     "{\"return\": {\"status\": \"completed\", \"postcopy-latency-dist\": [" +
         [] {
           std::string counts = "0";
           for (int i = 1; i < 70; ++i) counts += ",0";
           return counts;
         }() +
         "]}}\n",
     1, "postcopy-latency-dist"},
    {"QmpFloatWhereACountBelongs", Format::kQemuQmp,
     "{\"return\": {\"status\": \"active\", \"expected-downtime\": 1.2e91}}\n", 1,
     "number out of range: 1.2e+91"},
    {"QmpSyncCountNoMigrationReaches", Format::kQemuQmp,
     "{\"return\": {\"status\": \"active\", \"ram\": {\"dirty-sync-count\": 1}}}\n"
     "{\"return\": {\"status\": \"active\", \"ram\": {\"dirty-sync-count\": 4000000000}}}\n",
     2,
     "expected a QMP reply or event as QEMU documents it, found "
     "'{\"return\":{\"ram\":{\"dirty-sync-count\":4000000000}"},
    {"QmpEventTimestampTooLarge", Format::kQemuQmp,
     "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 0}, \"event\": \"STOP\"}\n"
     "{\"timestamp\": {\"seconds\": 1e300, \"microseconds\": 0}, \"event\": \"RESUME\"}\n",
     2, "found '{\"event\":\"RESUME\",\"timestamp\":{\"microseconds\":0,\"seconds\":1e+300}}"},
    {"QmpEventMicrosecondsNotAFraction", Format::kQemuQmp,
     "{\"timestamp\": {\"seconds\": 1, \"microseconds\": -5e300}, \"event\": \"STOP\"}\n", 1,
     "found '{\"event\":\"STOP\",\"timestamp\":{\"microseconds\":-5e+300"},
    {"QmpPostcopyLatencyTooLarge", Format::kQemuQmp,
     "{\"return\": {\"status\": \"completed\", \"postcopy-latency\": 1e300}}\n", 1,
     "postcopy-latency out of range"},
    // QEMU trace events
    {"QemuTraceNoEvents", Format::kQemuTrace, "qemu-system-x86_64: warning: nothing\n", 0,
     "expected QEMU trace events"},
    {"QemuTraceTimestampTooLarge", Format::kQemuTrace,
     "1@99999999999999999.000000:migration_bitmap_sync_start\n", 0, "expected QEMU trace events"},
    // cloud-hypervisor
    {"CloudHypervisorTruncatedBreakdown", Format::kCloudHypervisor,
     "cloud-hypervisor: 1.0s: <vmm> INFO:vmm/src/lib.rs:1 -- Migration downtime breakdown: ", 1,
     "expected at least one phase"},
    {"CloudHypervisorDurationTooLarge", Format::kCloudHypervisor,
     "cloud-hypervisor: 1.0s: <vmm> INFO:vmm/src/lib.rs:1 -- Migration downtime breakdown: "
     "snapshot=1e300ms\n",
     1, "expected a duration like 55ms"},
    {"CloudHypervisorDurationNotANumber", Format::kCloudHypervisor,
     "x\ncloud-hypervisor: 1.0s: <vmm> INFO:vmm/src/lib.rs:1 -- Migration downtime breakdown: "
     "snapshot=nanms\n",
     2, "found 'nanms'"},
    {"CloudHypervisorIterationTooLarge", Format::kCloudHypervisor,
     "cloud-hypervisor: 1.0s: <vmm> INFO:vmm/src/lib.rs:1 -- Precopy: iter=99999999999\n", 1,
     "expected iter=N, found 'iter=99999999999'"},
    {"CloudHypervisorBytesTooLarge", Format::kCloudHypervisor,
     "cloud-hypervisor: 1.0s: <vmm> INFO:vmm/src/lib.rs:1 -- Precopy: iter=1 curr=1e110MiB\n", 1,
     "expected curr=<size>MiB, found 'curr=1e110MiB'"},
    // mig_mon outputs
    {"MigmonTruncatedHistogram", Format::kMigmon, "1 (us): 5\n2 (us): 3\n", 2,
     "expected 21 histogram lines 'N (us): count', found 2"},
    {"MigmonGarbageSpeed", Format::kMigmon, "Speed: fast (MB/s)\n", 1,
     "expected 'Speed: N (MB/s)'"},
    {"MigmonDelayTooLarge", Format::kMigmon, "[1] max_delay: 9223372036854776 (ms), cur: 1 (ms)", 1,
     "expected max_delay in ms"},
    // result.json
    {"ResultJsonTruncated", Format::kMigtest,
     "{\"schema\": \"migtest.result/1\",\n\"migration\": {", 1,
     "expected the JSON value to end, found the end of the input (truncated?)"},
    {"ResultJsonGarbage", Format::kMigtest, "{\"schema\": \"migtest.result/1\"}\n]]\n", 2,
     "expected a JSON object, found ']]'"},
    {"ResultJsonWrongType", Format::kMigtest,
     "{\"schema\": \"migtest.result/1\", \"migration\": {\"status\": 7}}", 1,
     "type must be string, but is number"},
    {"ResultJsonIterationsNotAList", Format::kMigtest,
     "{\"schema\": \"migtest.result/1\", \"migration\": {\"status\": \"completed\", "
     "\"iterations\": "
     "5}}",
     1, "expected a migtest result.json document"},
    {"ResultJsonFloatWhereAnIntegerBelongs", Format::kMigtest,
     "{\"schema\": \"migtest.result/1\", \"migration\": {\"status\": \"completed\", "
     "\"iterations\": [{\"index\": 1e10}]}}",
     1, "number out of range: 10000000000.0"},
    {"ResultJsonFloatCount", Format::kMigtest,
     "{\"schema\": \"migtest.result/1\", \"migration\": {\"status\": \"completed\", "
     "\"pages\": {\"total\": -1e300}}}",
     1, "number out of range: -1e+300"},
    {"ResultJsonUnknownSchema", Format::kMigtest, "{\"schema\": \"migtest.result/9\"}", 1,
     "unsupported schema 'migtest.result/9'"},
    {"ResultJsonNegativeDuration", Format::kMigtest,
     "\n{\"schema\": \"migtest.result/1\", \"migration\": {\"status\": \"completed\", "
     "\"downtime_ms\": -5}}",
     2, "downtime_ms is negative: -5"},
    {"ResultJsonNegativePhase", Format::kMigtest,
     "{\"schema\": \"migtest.result/1\", \"migration\": {\"status\": \"completed\", "
     "\"downtime_breakdown\": [{\"phase\": \"resume\", \"us\": -1}]}}",
     1, "us is negative: -1"},
    {"ResultJsonDurationTooLarge", Format::kMigtest,
     "{\"schema\": \"migtest.result/1\", \"migration\": {\"status\": \"completed\", "
     "\"total_time_ms\": 99999999999999999}}",
     1, "total_time_ms is too large: 99999999999999999"},
    {"ResultJsonFloatDurationTooLarge", Format::kMigtest,
     "{\"schema\": \"migtest.result/1\", \"migration\": {\"status\": \"completed\", "
     "\"total_time_ms\": 1e300}}",
     1, "total_time_ms is too large: 1e+300"},
};

class BadInputTest : public ::testing::TestWithParam<BadInput> {};

TEST_P(BadInputTest, IsAParseErrorNamingWhereAndWhat) {
  const BadInput& b = GetParam();
  std::istringstream in(b.text);
  try {
    auto runs = ParseRuns(in, b.format, "bad.log");
    ADD_FAILURE() << "no ParseError; read " << runs.size()
                  << " run(s), the first: " << ::testing::PrintToString(runs.front());
  } catch (const ParseError& e) {
    EXPECT_EQ(e.file(), "bad.log");
    EXPECT_EQ(e.line(), b.line) << e.what();
    EXPECT_THAT(e.what(), StartsWith(b.line > 0 ? "bad.log:" + std::to_string(b.line) + ": expected"
                                                : std::string("bad.log: expected")));
    EXPECT_THAT(e.what(), HasSubstr(b.expected));
  }
}

INSTANTIATE_TEST_SUITE_P(Table, BadInputTest, ::testing::ValuesIn(kBadInputs),
                         [](const ::testing::TestParamInfo<BadInput>& row) {
                           return std::string(row.param.name);
                         });

// Found by fuzz_tlmz (and every other parser keeping text): a record's text that is not UTF-8
// made printing result.json throw nlohmann's type_error, so migtest-parse died by SIGABRT.
TEST(BadInputTest, TextThatIsNotUtf8PrintsAsReplacementCharacters) {
  std::istringstream in(std::string("tlc_conf: TLC_MSERV_IP = 10.0.0.\x99\ns221 0 844 5\n"));
  const RunResult run = Parse(in, Format::kTlmz, "bad.log");
  std::string text;
  ASSERT_NO_THROW(text = ToJsonString(run));
  EXPECT_THAT(text, HasSubstr("\"TLC_MSERV_IP\":\"10.0.0.\xef\xbf\xbd\""));
}

// Found by fuzz_result_json's round trip: an RTT (or dirtier latency) with only a minimum, p50,
// p99 or mdev counted as empty and was dropped when written.
TEST(BadInputTest, LoneLatencyFiguresSurviveTheRoundTrip) {
  std::istringstream in(
      "{\"schema\": \"migtest.result/1\", \"probe\": {\"rtt_us\": {\"min\": 10}}, "
      "\"dirty\": {\"rate_mib_s\": [1], \"latency_us\": {\"p99\": 7}}}");
  const RunResult run = Parse(in, Format::kMigtest, "r.json");
  std::istringstream back(ToJsonString(run));
  EXPECT_EQ(Parse(back, Format::kMigtest, "r.json"), run) << ToJsonString(run);
}

// Auto-detection on input no format claims: the error quotes the first line.
TEST(BadInputTest, UnknownFormatQuotesTheFirstLine) {
  std::istringstream in(std::string("\xff\xfe garbage\nmore\n"));
  try {
    Parse(in, Format::kAuto, "bad.log");
    FAIL() << "no ParseError";
  } catch (const ParseError& e) {
    EXPECT_THAT(e.what(), StartsWith("bad.log:1: expected a known format"));
  }
}

}  // namespace
}  // namespace migtest
