// migtest-parse as a user runs it: exit codes 0 (parsed), 1 (parse error), 2 (usage).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

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
  EXPECT_THAT(r.output, HasSubstr("207411.0ms"));
  EXPECT_THAT(r.output, HasSubstr("3266.0ms"));
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
