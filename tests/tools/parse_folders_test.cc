// migtest-parse on the artifact folders the fixtures really write: a run of each backend (engine,
// command, cloud-hypervisor on its fakes; QEMU in the build with MIGTEST_PARSE_BACKEND=qemu),
// then `migtest-parse --summary <folder>` as a child: exit 0, every file read as what it is, and
// the folder's files merged again agree with its result.json. Then the folder broken on purpose:
// a figure of result.json, or a line of a log, changed: exit 1, naming the figure or file:line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <array>
#include <fstream>
#include <migtest/fixtures.hpp>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

namespace migtest {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

struct Outcome {
  int code;
  std::string output;  // stdout and stderr
};

Outcome RunParse(const std::filesystem::path& folder) {
  const std::string cmd =
      std::string(MIGTEST_PARSE_BIN) + " --summary '" + folder.string() + "' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

nlohmann::json ReadJson(const std::filesystem::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

void WriteJson(const std::filesystem::path& p, const nlohmann::json& j) {
  std::ofstream(p) << j.dump(2) << "\n";
}

// The merged row of the summary: "<folder> merged <status> <total> <downtime> <iters> …".
std::string MergedRow(const std::string& output) {
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(" merged ") != std::string::npos) return line;
  }
  return "";
}

class ParseFolderTest : public MigrationTest {
 protected:
  explicit ParseFolderTest(std::string backend = "engine") : MigrationTest(std::move(backend)) {}

  // The folder as the fixture left it reads back: exit 0, the merged row agrees, with the
  // iterations result.json counts.
  void ExpectFolderAgrees() {
    const Outcome r = RunParse(artifacts());
    std::cout << r.output;
    EXPECT_EQ(r.code, 0) << r.output;
    const std::string row = MergedRow(r.output);
    ASSERT_FALSE(row.empty()) << "no merged row in:\n" << r.output;
    EXPECT_THAT(row, HasSubstr("agrees with result.json"));
    const nlohmann::json j = ReadJson(artifacts() / "result.json");
    const size_t iterations = j["migration"].value("iterations", nlohmann::json::array()).size();
    const std::string iters = iterations == 0 ? "-" : std::to_string(iterations);
    EXPECT_THAT(row, ::testing::ContainsRegex(j["migration"]["status"].get<std::string>() + " .* " +
                                              iters + " "))
        << "iterations " << iters;
    EXPECT_THAT(r.output, Not(HasSubstr("expected 'N (us): count'")));
  }
};

TEST_F(ParseFolderTest, EngineFolderAgreesWithItsResult) {
  RunResult run = Migrate({.memory = 64_MiB, .dirty = {.rate = 20_MiBps}, .probe = {}});
  ASSERT_TRUE(run.migration);
  ASSERT_EQ(run.migration->status, Status::kCompleted);
  ExpectFolderAgrees();
  // Each file read as what it is: the prober's report in words, the TLMZ lines, the index skipped.
  const Outcome r = RunParse(artifacts());
  EXPECT_THAT(r.output, ::testing::ContainsRegex("prober.stderr.log +migmon "));
  EXPECT_THAT(r.output, ::testing::ContainsRegex("source.stdout.log +tlmz "));
  EXPECT_THAT(r.output, HasSubstr("summary.txt: not a result: this index"));
}

TEST_F(ParseFolderTest, ABrokenFigureOrLineIsNamed) {
  RunResult run = Migrate({.memory = 64_MiB, .probe = {}});
  ASSERT_TRUE(run.migration);
  ASSERT_GE(run.migration->iterations.size(), 2u);
  const std::filesystem::path result = artifacts() / "result.json";
  const nlohmann::json good = ReadJson(result);

  // One iteration fewer, and another downtime, in result.json: both figures named, exit 1.
  nlohmann::json bad = good;
  bad["migration"]["iterations"].erase(bad["migration"]["iterations"].size() - 1);
  bad["migration"]["downtime_us"] = bad["migration"]["downtime_us"].get<int64_t>() + 7000;
  bad["migration"].erase("downtime_ms");
  WriteJson(result, bad);
  Outcome r = RunParse(artifacts());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_THAT(r.output,
              ::testing::ContainsRegex("result.json: the run's files disagree with it: iterations: "
                                       "result.json has [0-9]+, the files give [0-9]+"));
  EXPECT_THAT(r.output, HasSubstr("the run's files disagree with it: downtime: result.json has"));
  EXPECT_THAT(MergedRow(r.output), HasSubstr("DISAGREES with result.json"));
  WriteJson(result, good);

  // The other way: the prober's result (one of the merged files) says another blackout.
  const std::filesystem::path prober = artifacts() / "prober.stdout.log";
  nlohmann::json probe = ReadJson(prober);
  probe["probe"]["longest_blackout_us"] = 999999;
  probe["probe"].erase("longest_blackout_ms");
  WriteJson(prober, probe);
  r = RunParse(artifacts());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("guest blackout: result.json has"));
  EXPECT_THAT(r.output, HasSubstr("the files give 1000"));

  // A malformed line of a known format: file:line, what was expected, what was found.
  std::ofstream(artifacts() / "prober.stderr.log", std::ios::app) << "rtt (us): min=abc\n";
  r = RunParse(artifacts());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_THAT(r.output, ::testing::ContainsRegex(
                            "prober.stderr.log:[0-9]+: expected 'rtt \\(us\\): min=N p50=N"));
}

class ParseCommandFolderTest : public ParseFolderTest {
 protected:
  ParseCommandFolderTest() : ParseFolderTest("command") {}
};

TEST_F(ParseCommandFolderTest, CommandFolderAgreesWithItsResult) {
  // A "VMM" whose source prints a TLMZ report and whose destination says it listens.
  RunResult run = Migrate({.backend = "command",
                           .command = {.source = std::string("cat '") + MIGTEST_TLMZ_SEED + "'",
                                       .destination = "echo listening on {port}; exec sleep 600",
                                       .ready_regex = "listening on [0-9]+",
                                       .parser = "tlmz"}});
  ASSERT_TRUE(run.migration);
  ExpectFolderAgrees();
}

class ParseCloudHypervisorFolderTest : public ParseFolderTest {
 protected:
  ParseCloudHypervisorFolderTest() : ParseFolderTest("cloud-hypervisor") {}
};

TEST_F(ParseCloudHypervisorFolderTest, FakeCloudHypervisorFolderAgreesWithItsResult) {
  const std::filesystem::path fakes = MIGTEST_FAKE_CH_DIR;
  const std::filesystem::path state = artifacts() / "fake-state";
  std::filesystem::create_directories(state);
  ::setenv("FAKE_CH_STATE", state.c_str(), 1);
  const std::filesystem::path kernel = artifacts() / "vmlinux";
  std::ofstream(kernel) << "not a kernel";
  RunResult run = Migrate({.memory = 512_MiB,
                           .dirty = {.rate = 50_MiBps},
                           .downtime_limit = 200ms,
                           .timeout = 30s,
                           .cloud_hypervisor = {.cloud_hypervisor = fakes / "cloud-hypervisor",
                                                .ch_remote = fakes / "ch-remote",
                                                .kernel = kernel,
                                                .initramfs = kernel,
                                                .healthy_for = 1s}});
  ASSERT_TRUE(run.migration);
  EXPECT_EQ(run.migration->status, Status::kCompleted);
  ExpectFolderAgrees();
  const Outcome r = RunParse(artifacts());
  // The guest's console read as one, never as a mig_mon output; helpers' logs skipped.
  EXPECT_THAT(r.output, ::testing::ContainsRegex("serial.log +guest-console "));
  EXPECT_THAT(r.output, HasSubstr("commands.txt: not a result: the command line"));
  EXPECT_THAT(r.output, HasSubstr("vmlinux: not a migration log"));
}

#ifdef MIGTEST_PARSE_QEMU
class ParseQemuFolderTest : public ParseFolderTest {
 protected:
  ParseQemuFolderTest() : ParseFolderTest("qemu") {}
};

// The smallest QEMU guest, busy: the QMP transcript, both QEMUs' trace events, the prober and the
// guest's console merged again agree with result.json (iterations from the trace).
TEST_F(ParseQemuFolderTest, QemuFolderAgreesWithItsResult) {
  RunResult run = Migrate({.memory = 256_MiB, .dirty = {.rate = 20_MiBps}, .probe = {}});
  ASSERT_TRUE(run.migration);
  ASSERT_EQ(run.migration->status, Status::kCompleted);
  ExpectFolderAgrees();
  const Outcome r = RunParse(artifacts());
  EXPECT_THAT(r.output, ::testing::ContainsRegex("destination.stdout.log +guest-console "));
  EXPECT_THAT(r.output, ::testing::ContainsRegex("qmp-transcript.jsonl +qemu-qmp "));
}
#endif

}  // namespace
}  // namespace migtest
