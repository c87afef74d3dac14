// Bad input: a recognised record that is malformed names file:line, what was expected and what
// was found; nothing crashes and nothing is silently wrong.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "migtest/results.hpp"

namespace migtest {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

ParseError ErrorOf(const std::string& text, Format format, const std::string& name = "bad.log") {
  std::istringstream in(text);
  try {
    Parse(in, format, name);
  } catch (const ParseError& e) {
    return e;
  }
  ADD_FAILURE() << "no ParseError for: " << text;
  return ParseError(name, 0, "", "");
}

TEST(MalformedTest, TlmzLettersWhereNumbersBelong) {
  auto e = ErrorOf("s221 0 844\ns222 45616 4x3 0 0.02\n", Format::kTlmz);
  EXPECT_STREQ(e.what(),
               "bad.log:2: expected mig_duration (ms) as a number, found 's222 45616 4x3 0 0.02'");
  EXPECT_EQ(e.file(), "bad.log");
  EXPECT_EQ(e.line(), 2u);
}

TEST(MalformedTest, TlmzTruncatedLine) {
  auto e = ErrorOf("s221 0 844\ns222 45616 43\n", Format::kTlmz);
  EXPECT_STREQ(e.what(),
               "bad.log:2: expected 's222 pages_dirtied mig_duration_ms io_count progress' "
               "(4 numbers), found 's222 45616 43'");
  auto s4 = ErrorOf("s221 0 844\ns4 1726145 15752", Format::kTlmz);
  EXPECT_THAT(s4.what(), StartsWith("bad.log:2: expected 's4 pages_sent_mserv"));
}

TEST(MalformedTest, QemuDebugRecordInsideProse) {
  auto e = ErrorOf("blah savevm: save live iterate section id 3 name ram took many milliseconds",
                   Format::kQemuDebug);
  EXPECT_THAT(e.what(), StartsWith("bad.log:1: expected 'savevm: save live iterate section id N "
                                   "name X took T milliseconds K times', found 'savevm: save "));
  auto rtt = ErrorOf("ok\nrtt min/avg/max/mdev = 1/2/x/4 ms", Format::kQemuDebug);
  EXPECT_EQ(rtt.line(), 2u);
}

TEST(MalformedTest, QemuDebugNumbersOutOfRange) {
  auto id = ErrorOf(
      "savevm: save live iterate section id 99999999999 name ram took 5 milliseconds 3 times\n",
      Format::kQemuDebug);
  EXPECT_THAT(id.what(), StartsWith("bad.log:1: expected 'savevm: save live iterate section id N "
                                    "name X took T milliseconds K times', found 'savevm: save"));
  auto ended = ErrorOf("ok\nmigration: ended after 1" + std::string(400, '0') + " milliseconds\n",
                       Format::kQemuDebug);
  EXPECT_EQ(ended.line(), 2u);
}

TEST(MalformedTest, CloudHypervisorBadDuration) {
  auto e = ErrorOf(
      "cloud-hypervisor:  1.0s: <vmm> DEBUG:vmm/src/lib.rs:1 -- Migration downtime breakdown: "
      "final_memory_delta=5x snapshot=2ms\n",
      Format::kCloudHypervisor, "ch.log");
  EXPECT_THAT(e.what(), StartsWith("ch.log:1: expected a duration like 55ms"));
  EXPECT_THAT(e.what(), HasSubstr("found '5x'"));
}

TEST(MalformedTest, GarbageJsonNamesItsLine) {
  auto e = ErrorOf("{\"return\": {\"status\": \"active\"}}\n{\"return\": {\"status\": }}\n",
                   Format::kQemuQmp, "qmp.jsonl");
  EXPECT_THAT(e.what(), StartsWith("qmp.jsonl:2: expected a well-formed JSON value"));
  auto truncated = ErrorOf("{\"return\": {\"status\": \"act", Format::kQemuQmp, "t.json");
  EXPECT_STREQ(truncated.what(),
               "t.json:1: expected the JSON value to end, found the end of the input (truncated?)");
  auto wrong = ErrorOf("{\"schema\": \"migtest.result/1\", \"migration\": {\"status\": 7}}",
                       Format::kMigtest, "r.json");
  EXPECT_THAT(wrong.what(), StartsWith("r.json:1: expected a migtest result.json document"));
}

TEST(MalformedTest, MigmonHistogramMustBeComplete) {
  auto e = ErrorOf("1 (us): 5\n2 (us): 3\n", Format::kMigmon, "h.log");
  EXPECT_STREQ(e.what(), "h.log:2: expected 21 histogram lines 'N (us): count', found 2");
  auto label = ErrorOf("3 (us): 5\n", Format::kMigmon, "h.log");
  EXPECT_THAT(label.what(), HasSubstr("expected a power-of-two bucket label"));
}

// A prober killed mid-write leaves a status line cut short: named, not guessed at.
TEST(MalformedTest, MigmonTruncatedStatusLine) {
  auto e = ErrorOf(
      "Setting socket recv timeout to 50 (ms)\n\r   \r[183245100] max_delay: 50 (ms), "
      "cur: 50 (ms)\r   \r[183245150] max_delay: 5",
      Format::kMigmon, "rr.log");
  EXPECT_STREQ(e.what(),
               "rr.log:2: expected '[mono_ms] max_delay: N (ms), cur: N (ms)', found "
               "'[183245150] max_delay: 5'");
  // Another message printed after the status line (which has no newline) is not its part.
  std::istringstream glued("[183245100] max_delay: 50 (ms), cur: 50 (ms)recvfrom() ERRNO: 111\n");
  EXPECT_THAT(Parse(glued, Format::kMigmon, "g").probe->longest_blackout,
              ::testing::Optional(std::chrono::milliseconds(50)));
}

// Digit runs too long for their field are malformed records, not exceptions of another kind.
TEST(MalformedTest, MigmonNumbersOutOfRange) {
  auto count = ErrorOf("1 (us): 99999999999999999999999\n", Format::kMigmon, "h.log");
  EXPECT_STREQ(count.what(), "h.log:1: expected a count, found '1 (us): 99999999999999999999999'");
  auto spike = ErrorOf("1790000000,18446744073709551615\n1790000004,18446744073709551614\n",
                       Format::kMigmon, "s.csv");
  EXPECT_STREQ(spike.what(),
               "s.csv:2: expected a delay in ms, found '1790000004,18446744073709551614'");
  // More milliseconds than a Duration (int64 microseconds) holds.
  auto delay = ErrorOf("[1] max_delay: 9223372036854776 (ms), cur: 1 (ms)", Format::kMigmon);
  EXPECT_THAT(delay.what(), StartsWith("bad.log:1: expected max_delay in ms"));
  auto rate = ErrorOf("dirty-rate: 1" + std::string(400, '0') + " (MB/s), time (ms): 1, load: 1%",
                      Format::kMigmon);
  EXPECT_THAT(rate.what(),
              StartsWith("bad.log:1: expected a rate in MB/s, found 'dirty-rate: 1000"));
}

TEST(MalformedTest, EmptyInput) {
  auto e = ErrorOf("", Format::kAuto, "empty.log");
  EXPECT_STREQ(e.what(),
               "empty.log: expected a migration log or result.json, found an empty input");
  auto tlmz = ErrorOf("", Format::kTlmz, "empty.log");
  EXPECT_EQ(tlmz.line(), 0u);
}

TEST(MalformedTest, BinaryGarbageIsNamedNotCrashedOn) {
  std::string garbage(
      "\x7f"
      "ELF\x02\x01\x01\x00\xff\xfe",
      10);
  auto e = ErrorOf(garbage, Format::kAuto, "bin");
  EXPECT_THAT(e.what(), StartsWith("bin:1: expected a known format"));
  EXPECT_THAT(e.what(), HasSubstr("\\x7fELF\\x02"));
  // Forced formats on garbage: a clear "none found", never a result.
  for (Format f : {Format::kTlmz, Format::kQemuDebug, Format::kCloudHypervisor, Format::kMigmon}) {
    std::istringstream in(garbage);
    EXPECT_THROW(Parse(in, f, "bin"), ParseError);
  }
  std::istringstream json_in(garbage);
  EXPECT_THROW(Parse(json_in, Format::kQemuQmp, "bin"), ParseError);
}

TEST(MalformedTest, MissingFile) {
  try {
    ParseFile("/nonexistent/dir/x.log");
    FAIL();
  } catch (const ParseError& e) {
    EXPECT_THAT(e.what(), StartsWith("/nonexistent/dir/x.log: expected a readable file"));
    EXPECT_THAT(e.what(), HasSubstr("No such file or directory"));
  }
}

}  // namespace
}  // namespace migtest
