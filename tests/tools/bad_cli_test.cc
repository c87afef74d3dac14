// Every command-line tool on wrong flags and bad values, as a table: it must exit non-zero (2 for
// usage, 1 for a runtime error) with the error on the first line of stderr naming the problem, at
// most one more line (CLI11's "Run with --help for more information."), not die by a signal and
// not hang. The tools run as children, as tests/workloads runs migmon.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "child.hpp"

namespace migtest {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing_support::Child;

struct BadCall {
  const char* name;  // the row, as the test's parameter name
  std::vector<std::string> argv;
  int code;          // kCli11Code: CLI11's own code for a parse error (105-115)
  std::string says;  // a part of the first line of stderr
};

// migtest-report returns CLI11's exit codes on a bad command line (CLI11_PARSE), not 2 as the
// other tools do: any code below 128 but CLI11's success (0) is taken for it.
constexpr int kCli11Code = -1;

void PrintTo(const BadCall& c, std::ostream* os) { *os << c.name; }

const std::string kParse = MIGTEST_PARSE;
const std::string kReport = MIGTEST_REPORT;
const std::string kCompare = MIGTEST_COMPARE;
const std::string kMigmon = MIGMON;

const BadCall kBadCalls[] = {
    // migtest-parse
    {"ParseNoFile", {kParse}, 2, "files is required"},
    {"ParseMissingFile", {kParse, "/nonexistent/x.log"}, 2, "does not exist: /nonexistent/x.log"},
    {"ParseUnknownFormat", {kParse, "--format", "nosuch", "/etc/hostname"}, 2, "nosuch not in"},
    {"ParseUnknownFlag", {kParse, "--bogus", "/etc/hostname"}, 2, "--bogus"},
    {"ParseNoKnownFormat",
     {kParse, "/etc/hostname"},
     1,
     "skipped /etc/hostname: not a migration log (expected a known format"},
    {"ParseEmptyInput", {kParse, "--format", "tlmz", "/dev/null"}, 1, "found an empty input"},
    // migtest-report
    {"ReportNothingToDo", {kReport}, 2, "give `summary DIR`"},
    {"ReportSummaryWithoutDir", {kReport, "summary"}, kCli11Code, "DIR is required"},
    {"ReportMissingJunit",
     {kReport, "/tmp", "--markdown", "--junit", "/nonexistent.xml"},
     kCli11Code,
     "File does not exist: /nonexistent.xml"},
    {"ReportUnknownFlag", {kReport, "--bogus"}, kCli11Code, "--bogus"},
    // migtest-compare
    {"CompareOneDir", {kCompare, "/tmp"}, 2, ""},
    {"CompareMissingDirs", {kCompare, "/nonexistent/a", "/nonexistent/b"}, 2, "/nonexistent/a"},
    {"CompareNegativeThreshold", {kCompare, "--threshold", "-5", "/tmp", "/tmp"}, 2, "-5"},
    {"CompareGarbageThreshold", {kCompare, "--threshold", "abc", "/tmp", "/tmp"}, 2, "abc"},
    {"CompareWindowZero", {kCompare, "--history", "--window", "0", "/tmp", "/tmp"}, 2, "window"},
    // migmon
    {"MigmonNoSubcommand", {kMigmon}, 2, "usage: migmon"},
    {"MmDirtyNegativeRate", {kMigmon, "mm_dirty", "-r", "-5"}, 2, "-5"},
    {"MmDirtyNegativeMemory", {kMigmon, "mm_dirty", "-m", "-1"}, 2, "-1"},
    {"MmDirtyHugeMemory", {kMigmon, "mm_dirty", "-m", "99999999999999999999G"}, 2, "99999"},
    {"MmDirtyZeroThreads", {kMigmon, "mm_dirty", "-t", "0"}, 2, "threads"},
    {"ServerRrPortTooLarge", {kMigmon, "server_rr", "-p", "99999"}, 2, "99999"},
    {"ServerRrNegativePort", {kMigmon, "server_rr", "-p", "-1"}, 2, "-1"},
    {"ClientRrPortZero", {kMigmon, "client_rr", "127.0.0.1", "10", "-p", "0"}, 2, "port"},
    {"ClientRrNegativeInterval", {kMigmon, "client_rr", "127.0.0.1", "-10"}, 2, "-10"},
    {"ClientRrMissingLogFolder",
     {kMigmon, "client_rr", "127.0.0.1", "10", "/nonexistent/dir/spikes.csv", "--duration", "1"},
     1,
     "/nonexistent/dir/spikes.csv"},
    {"VmPortTooLarge",
     {kMigmon, "vm", "-s", "-H", "127.0.0.1", "-p", "99999", "-t", "precopy"},
     2,
     "99999"},
    {"VmSourcePortZero",
     {kMigmon, "vm", "-s", "-H", "127.0.0.1", "-p", "0", "-t", "precopy"},
     2,
     "port"},
    {"VmNegativeSize",
     {kMigmon, "vm", "-s", "-H", "127.0.0.1", "-S", "-1", "-t", "precopy"},
     2,
     "-1"},
    {"MigrateNoSide", {kMigmon, "migrate"}, 2, "-d"},
    {"MigratePortTooLarge", {kMigmon, "migrate", "-d", "-p", "99999"}, 2, "99999"},
    {"MigrateSourcePortZero", {kMigmon, "migrate", "-s", "-H", "127.0.0.1", "-p", "0"}, 2, "port"},
    {"MigrateNegativeDirtyRate",
     {kMigmon, "migrate", "-s", "-H", "127.0.0.1", "-p", "1", "--dirty-rate", "-5M"},
     2,
     "-5M"},
    {"MigrateGarbageStall",
     {kMigmon, "migrate", "-s", "-H", "127.0.0.1", "-p", "1", "--inject-stall", "x:y"},
     2,
     "x:y"},
    {"MigrateZeroVcpus",
     {kMigmon, "migrate", "-s", "-H", "127.0.0.1", "-p", "1", "--vcpus", "0"},
     2,
     "vcpus"},
};

class BadCliTest : public ::testing::TestWithParam<BadCall> {
 protected:
  std::string dir_ = testing_support::TempDir();
};

TEST_P(BadCliTest, ExitsNonZeroWithOneErrorLine) {
  const BadCall& call = GetParam();
  Child child(call.argv, dir_);
  const std::optional<int> code = child.Wait(30s);  // a hang fails here, and is killed
  ASSERT_TRUE(code.has_value());
  const std::string err = child.Stderr();
  EXPECT_LT(*code, 128) << child.command() << " died by signal " << *code - 128 << ":\n" << err;
  if (call.code == kCli11Code) {
    EXPECT_NE(*code, 0) << child.command() << "\n" << err;
  } else {
    EXPECT_EQ(*code, call.code) << child.command() << "\n" << err;
  }
  const std::string first = err.substr(0, err.find('\n'));
  EXPECT_THAT(first, HasSubstr(call.says)) << child.command() << "\n" << err;
  // The error and at most CLI11's pointer to --help (migmon without a sub-command: its usage).
  const auto lines = std::count(err.begin(), err.end(), '\n');
  if (call.argv.size() > 1) {
    EXPECT_LE(lines, 2) << child.command() << "\n" << err;
    if (lines == 2) {
      // CLI11's pointer to --help, or migtest-parse's verdict after the files it skipped.
      EXPECT_THAT(err, ::testing::AnyOf(HasSubstr("\nRun with --help for more information.\n"),
                                        HasSubstr("is a migration log\n")));
    }
  }
  EXPECT_FALSE(first.empty()) << child.command() << " said nothing on stderr";
}

INSTANTIATE_TEST_SUITE_P(Table, BadCliTest, ::testing::ValuesIn(kBadCalls),
                         [](const ::testing::TestParamInfo<BadCall>& row) {
                           return std::string(row.param.name);
                         });

}  // namespace
}  // namespace migtest
