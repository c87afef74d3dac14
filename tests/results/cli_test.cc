// migtest-parse as a user runs it: exit codes 0 (parsed), 1 (parse error), 2 (usage).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "test_data.hpp"

namespace {

using ::testing::HasSubstr;

struct Outcome {
  int code;
  std::string output;  // stdout and stderr
};

Outcome RunParse(const std::string& args) {
  std::string cmd = std::string(MIGTEST_PARSE_BIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

using migtest::testing_data::Data;

TEST(MigtestParseCliTest, PrintsOneDocumentPerFile) {
  auto r = RunParse(Data("tlmz_seed.log") + " " + Data("cloud_hypervisor_seed.txt"));
  ASSERT_EQ(r.code, 0) << r.output;
  auto nl = r.output.find('\n');
  auto first = nlohmann::json::parse(r.output.substr(0, nl));
  auto second = nlohmann::json::parse(r.output.substr(nl + 1));
  EXPECT_EQ(first["migration"]["downtime_ms"], 65475);
  EXPECT_EQ(first["migration"]["total_time_ms"], 179963);
  EXPECT_EQ(first["migration"]["pages"]["stage3"], 1869301);
  EXPECT_EQ(second["migration"]["downtime_ms"], 68);
  EXPECT_EQ(second["migration"]["total_time_ms"], 960);
  EXPECT_EQ(second["migration"]["downtime_breakdown"].size(), 4u);
}

TEST(MigtestParseCliTest, SummaryTable) {
  auto r = RunParse("--summary --all-runs " + Data("qemu_debug_seed.txt"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("3m27s"));  // 207411 ms
  EXPECT_THAT(r.output, HasSubstr("3266ms"));
}

// An artifact folder as the fixtures leave it: per test, the children's logs (one empty, one a
// guest's serial console), the QMP transcript of a failed migration and a migration log.
class ArtifactFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    namespace fs = std::filesystem;
    // One folder per test: ctest runs them in parallel.
    root_ = testing::TempDir() + "/migtest-parse-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(root_);
    const fs::path busy = root_ + "/PrecopySlo/Busy", failed = root_ + "/QemuSlo/Failed";
    fs::create_directories(busy);
    fs::create_directories(failed);
    fs::copy_file(Data("tlmz_seed.log"), busy / "source.stderr.log");
    std::ofstream(busy / "destination.stderr.log").close();  // empty
    fs::copy_file(Data("guest_console_boot.log"), failed / "destination.stdout.log");
    fs::copy_file(Data("qmp_failed.json"), failed / "qmp-transcript.jsonl");
    std::ofstream(root_ + "/junit.xml") << "<?xml version=\"1.0\"?>\n<testsuites/>\n";
  }
  std::string root_;
};

TEST_F(ArtifactFolderTest, FolderSummarySkipsWhatIsNotAMigrationLogWithANote) {
  auto r = RunParse("--summary " + root_);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("skipped " + root_ +
                                  "/PrecopySlo/Busy/destination.stderr.log: "
                                  "not a migration log (expected a migration log or result.json, "
                                  "found an empty input)"));
  // A QEMU folder's destination.stdout.log is the guest's console: read as one, never as a
  // migration log; its folder's files merged (no result.json here to check them against).
  EXPECT_THAT(r.output, ::testing::ContainsRegex("destination.stdout.log +guest-console .*guest: "
                                                 "[0-9]+ lines"));
  EXPECT_THAT(r.output, ::testing::ContainsRegex("QemuSlo/Failed +merged +failed"));
  EXPECT_THAT(r.output, HasSubstr("skipped " + root_ + "/junit.xml: not a migration log"));
  EXPECT_THAT(r.output, HasSubstr("(2 files skipped"));
  // Long times readable; the failed run's error in its row.
  EXPECT_THAT(r.output, ::testing::ContainsRegex("tlmz +completed +3m00s +1m05s +6 +491ms"));
  EXPECT_THAT(r.output, ::testing::ContainsRegex(
                            "qemu-qmp +failed +2200ms .*Unable to write to socket: Broken pipe"));
}

TEST_F(ArtifactFolderTest, LogGlobSummaryGoesOnPastTheFirstNonLog) {
  // As the shell expands */*/*.log: the empty file comes first.
  auto r = RunParse("--summary " + root_ + "/PrecopySlo/Busy/destination.stderr.log " + root_ +
                    "/QemuSlo/Failed/destination.stdout.log " + root_ +
                    "/PrecopySlo/Busy/source.stderr.log");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("3m00s"));
  EXPECT_THAT(r.output, ::testing::ContainsRegex("destination.stdout.log +guest-console "));
  EXPECT_THAT(r.output, HasSubstr("(1 file skipped"));
}

TEST_F(ArtifactFolderTest, FolderToJsonPrintsOneDocumentPerMigrationLog) {
  auto r = RunParse(root_);
  ASSERT_EQ(r.code, 0) << r.output;
  std::istringstream lines(r.output);  // the documents, and the notes (stderr) between them
  std::vector<std::string> statuses;
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("{"))
      statuses.push_back(nlohmann::json::parse(line)["migration"]["status"]);
  }
  EXPECT_THAT(r.output, HasSubstr("migtest-parse: skipped"));
  EXPECT_THAT(statuses, ::testing::ElementsAre("completed", "failed"));
}

TEST_F(ArtifactFolderTest, NothingButNonLogsExitsOne) {
  auto r = RunParse(root_ + "/PrecopySlo/Busy/destination.stderr.log " + root_ + "/junit.xml");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("none of the 2 files is a migration log"));
}

TEST_F(ArtifactFolderTest, AMalformedLogFailsButTheOthersAreStillParsed) {
  std::ofstream(root_ + "/bad_tlmz.log") << "s221 0 844\ns222 1 2 x 0.5\n";
  auto r = RunParse("--summary " + root_ + "/bad_tlmz.log " + Data("tlmz_seed.log"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("bad_tlmz.log:2: expected all_io_cnt as a number"));
  EXPECT_THAT(r.output, HasSubstr("3m00s"));
}

TEST(MigtestParseCliTest, ParseErrorExitsOneWithFileAndLine) {
  std::string bad = testing::TempDir() + "/bad_tlmz.log";
  FILE* f = fopen(bad.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("s221 0 844\ns222 1 2 x 0.5\n", f);
  fclose(f);
  auto r = RunParse(bad);
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.output, HasSubstr(bad + ":2: expected all_io_cnt as a number"));
}

TEST(MigtestParseCliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(RunParse("--format nonsense " + Data("tlmz_seed.log")).code, 2);
  EXPECT_EQ(RunParse("--no-such-flag").code, 2);
  EXPECT_EQ(RunParse("").code, 2);
  EXPECT_EQ(RunParse("/nonexistent/file.log").code, 2);
  EXPECT_EQ(RunParse("--help").code, 0);
}

}  // namespace
