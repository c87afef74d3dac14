// migmon's sub-commands as real processes against each other over loopback. Bounds are generous
// (a loaded 2-core machine); nothing here asserts speed.
#include <arpa/inet.h>
#include <elf.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "child.hpp"
#include "migtest/results/json.hpp"

namespace migtest {
namespace {

using namespace std::chrono_literals;
using ::testing::AllOf;
using ::testing::Ge;
using ::testing::HasSubstr;
using ::testing::Le;
using ::testing::MatchesRegex;
using testing_support::Child;

class MigmonTest : public ::testing::Test {
 protected:
  std::string dir_ = testing_support::TempDir();
  std::vector<std::string> Cmd(std::vector<std::string> args) {
    args.insert(args.begin(), MIGMON_PATH);
    return args;
  }
  // Runs migmon to completion; returns its exit code (-1 on timeout, already a failure).
  int Run(std::vector<std::string> args, std::string* out = nullptr, std::string* err = nullptr,
          std::chrono::milliseconds timeout = 30s) {
    Child c(Cmd(std::move(args)), dir_);
    const auto rc = c.Wait(timeout);
    if (out) *out = c.Stdout();
    if (err) *err = c.Stderr();
    return rc.value_or(-1);
  }
  static RunResult ParseResult(const std::string& text) {
    auto j = nlohmann::json::parse(text);  // throws (failing the test) on anything but one document
    return j.get<RunResult>();
  }
  static std::vector<std::string> Lines(const std::string& text) {
    std::vector<std::string> out;
    std::stringstream s(text);
    for (std::string line; std::getline(s, line);) out.push_back(line);
    return out;
  }
};

// ---------------------------------------------------------------- mm_dirty
TEST_F(MigmonTest, MmDirtyHoldsTheRateAndReportsJson) {
  std::string out, err;
  ASSERT_EQ(
      Run({"mm_dirty", "-m", "64", "-r", "100", "-p", "random", "--duration", "3.2", "--json"},
          &out, &err),
      0)
      << err;
  const RunResult run = ParseResult(out);
  ASSERT_TRUE(run.dirty.has_value());
  EXPECT_EQ(run.dirty->pattern, "random");
  EXPECT_EQ(run.dirty->memory_mb, 64u);
  EXPECT_EQ(run.dirty->requested_mib_s, 100.0);
  ASSERT_GE(run.dirty->rate_mib_s.size(), 2u) << err;
  for (double r : run.dirty->rate_mib_s) EXPECT_THAT(r, AllOf(Ge(70.0), Le(115.0))) << err;
  // The human lines went to stderr, in mig_mon's form.
  const std::regex line(R"(dirty-rate: \d+ \(MB/s\), time \(ms\): \d+, load: \d+\.\d\d%)");
  int lines = 0;
  for (const auto& l : Lines(err)) lines += std::regex_match(l, line);
  EXPECT_EQ(static_cast<size_t>(lines), run.dirty->rate_mib_s.size()) << err;
}

TEST_F(MigmonTest, MmDirtyLatencyHistogramHasMigmonsTwentyOneLines) {
  std::string out, err;
  ASSERT_EQ(Run({"mm_dirty", "-m", "16", "-r", "50", "-L", "--duration", "1.5"}, &out, &err), 0)
      << err;
  std::vector<std::string> hist;
  const std::regex bucket(R"((\d+) \(us\): (\d+))");
  uint64_t total = 0;
  for (const auto& l : Lines(out)) {
    std::smatch m;
    if (std::regex_match(l, m, bucket)) {
      hist.push_back(m[1]);
      total += std::stoull(m[2]);
    }
  }
  ASSERT_EQ(hist.size(), 21u) << out;
  for (size_t k = 0; k < 21; ++k) EXPECT_EQ(hist[k], std::to_string(1ull << k));
  // 50 MiB/s for ~1.5 s: ~19200 page writes, each one timed.
  EXPECT_GT(total, 5000u) << out;
  EXPECT_THAT(out, HasSubstr("lat (us): p50="));
  EXPECT_THAT(out, testing::ContainsRegex(R"(Latency percentiles \(us\): p50=[0-9.]+ p90=)"));
}

TEST_F(MigmonTest, MmDirtyVerifyCatchesACorruptedPageAndExitsThree) {
  std::string out, err;
  EXPECT_EQ(Run({"mm_dirty", "-m", "8", "-r", "100", "--verify", "--corrupt-after-ms", "300",
                 "--corrupt-page", "1234", "--duration", "10", "--json"},
                &out, &err),
            3)
      << err;
  EXPECT_THAT(err, HasSubstr("memory corrupted: page 1234:"));
  const RunResult run = ParseResult(out);
  ASSERT_TRUE(run.dirty.has_value());
  EXPECT_EQ(run.dirty->verify_errors, 1u);
  ASSERT_TRUE(run.dirty->verify_error.has_value());
  EXPECT_THAT(*run.dirty->verify_error, HasSubstr("page 1234"));
}

TEST_F(MigmonTest, MmDirtyVerifyPassesOnHealthyMemory) {
  std::string out, err;
  EXPECT_EQ(Run({"mm_dirty", "-m", "8", "-p", "random", "-r", "200", "--verify", "--duration", "1",
                 "-t", "2"},
                &out, &err),
            0)
      << err;
}

// --sweep-port: a datagram "sweep N" makes the dirtier check its whole working set once more and
// count the distinct pages checked since. Sends the request until the dirtier says it started.
void RequestSweep(Child& c, const std::string& port) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(std::stoi(port)));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 100 && c.Stdout().find("verify-sweep 1: started") == std::string::npos &&
                  c.Stderr().find("memory corrupted") == std::string::npos;
       ++i) {
    (void)::sendto(fd, "sweep 1", 7, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    std::this_thread::sleep_for(100ms);
  }
  ::close(fd);
}

TEST_F(MigmonTest, MmDirtySweepsItsWholeWorkingSetOnRequest) {
  Child c(
      Cmd({"mm_dirty", "-m", "16", "-r", "10", "-p", "random", "--verify", "--sweep-port", "0"}),
      dir_);
  const auto port = c.WaitForLine(R"(Sweep port: \t\t(\d+) \(udp\))", 10s);
  ASSERT_TRUE(port);
  ASSERT_TRUE(c.WaitForLine(R"(dirty-rate: )", 10s));
  RequestSweep(c, *port);
  EXPECT_TRUE(c.WaitForLine(R"(verify-sweep 1: started, 4096 pages in the working set)", 10s));
  EXPECT_TRUE(c.WaitForLine(R"(verify-sweep 1: checked 4096 of 4096 pages in \d+ ms)", 30s));
  c.Signal(SIGTERM);
  EXPECT_EQ(c.Wait(10s), 0) << c.Stderr();
}

// The same port sets the rate (the qemu backend's pool: one booted guest, each test its own rate):
// from 1 MiB/s to 40 after "rate 40", said on a rate-set line; "idle" holds the writers (an idle
// guest's test), whose memory a sweep still checks whole; "rate 20" sets them writing again.
TEST_F(MigmonTest, MmDirtyTakesANewRateOnItsSweepPort) {
  Child c(Cmd({"mm_dirty", "-m", "16", "-r", "1", "--verify", "--sweep-port", "0"}), dir_);
  const auto port = c.WaitForLine(R"(Sweep port: \t\t(\d+) \(udp\))", 10s);
  ASSERT_TRUE(port);
  ASSERT_TRUE(c.WaitForLine(R"(dirty-rate: 1 \(MB/s\))", 10s));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(std::stoi(*port)));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  // Sends `request` (every 100 ms, for up to 10 s) until the dirtier's output holds `answer`
  // after what it had printed before.
  auto send = [&](const std::string& request, const std::string& answer) {
    const size_t from = c.Stdout().size();
    for (int i = 0; i < 100 && c.Stdout().find(answer, from) == std::string::npos; ++i) {
      if (!request.empty()) {
        (void)::sendto(fd, request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&to),
                       sizeof to);
      }
      std::this_thread::sleep_for(100ms);
    }
    return c.Stdout().find(answer, from) != std::string::npos;
  };
  EXPECT_TRUE(send("rate 40", "rate-set: 40 MiB/s"));
  EXPECT_TRUE(c.WaitForLine(R"(dirty-rate: (3[5-9]|4[0-5]) \(MB/s\))", 10s)) << c.Stdout();
  EXPECT_TRUE(send("idle", "rate-set: idle"));
  // At 40 MiB/s no second is 0; the first whole second after "idle" is.
  EXPECT_TRUE(send("", "dirty-rate: 0 (MB/s)")) << c.Stdout();
  EXPECT_TRUE(send("sweep 7", "verify-sweep 7: checked 4096 of 4096 pages in")) << c.Stdout();
  EXPECT_TRUE(send("rate 20", "rate-set: 20 MiB/s"));
  EXPECT_TRUE(c.WaitForLine(R"(dirty-rate: (1[5-9]|2[0-5]) \(MB/s\))", 10s)) << c.Stdout();
  ::close(fd);
  c.Signal(SIGTERM);
  EXPECT_EQ(c.Wait(10s), 0) << c.Stderr();
}

// The break: page 16000 corrupted where the sequential writer (1 MiB/s from page 0: a minute
// away) will not look for a long time. Only the sweep can find it, and the dirtier exits 3 by
// itself, naming the page.
TEST_F(MigmonTest, MmDirtySweepFindsACorruptedPageTheWriterHasNotReached) {
  Child c(Cmd({"mm_dirty", "-m", "64", "-r", "1", "-p", "sequential", "--verify", "--sweep-port",
               "0", "--corrupt-after-ms", "100", "--corrupt-page", "16000"}),
          dir_);
  const auto port = c.WaitForLine(R"(Sweep port: \t\t(\d+) \(udp\))", 10s);
  ASSERT_TRUE(port);
  ASSERT_TRUE(c.WaitForLine(R"(corrupted page 16000)", 10s, /*on_stderr=*/true));
  RequestSweep(c, *port);
  EXPECT_EQ(c.Wait(30s), 3) << c.Stdout();
  EXPECT_THAT(c.Stdout(), HasSubstr("verify-sweep 1: started"));
  EXPECT_THAT(c.Stderr(), HasSubstr("memory corrupted: page 16000:"));
}

TEST_F(MigmonTest, MmDirtyEndsCleanlyOnSigterm) {
  Child c(Cmd({"mm_dirty", "-m", "16", "-r", "50"}), dir_);
  ASSERT_TRUE(c.WaitForLine(R"(dirty-rate: )", 10s));
  c.Signal(SIGTERM);
  EXPECT_EQ(c.Wait(10s), 0);
  EXPECT_THAT(c.Stdout(), testing::ContainsRegex(R"(Total: [0-9]+ pages)"));
}

TEST_F(MigmonTest, MmDirtyOncePatternWritesOnceThenIdles) {
  std::string out, err;
  ASSERT_EQ(Run({"mm_dirty", "-m", "4", "-p", "once", "--duration", "1.2", "--json"}, &out, &err),
            0)
      << err;
  const RunResult run = ParseResult(out);
  EXPECT_EQ(run.extra.at("pages_written").get<uint64_t>(), 1024u);
}

TEST_F(MigmonTest, MmDirtyHugePagesWorkOrFailClearly) {
  std::string out, err;
  const int rc =
      Run({"mm_dirty", "-m", "4", "-P", "2m", "-r", "50", "--duration", "1"}, &out, &err);
  if (rc == 0) {
    EXPECT_THAT(out, HasSubstr("Backend page size: \t2097152 (Bytes)"));
  } else {
    EXPECT_EQ(rc, 1);
    EXPECT_THAT(err, HasSubstr("huge pages"));
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  }
}

// ---------------------------------------------------------------- prober
TEST_F(MigmonTest, ProberMeasuresAnInjectedOutage) {
  Child server(Cmd({"server_rr", "-p", "0"}), dir_);
  const auto port = server.WaitForLine(R"(listening port=(\d+))", 10s);
  ASSERT_TRUE(port);
  const std::string log = dir_ + "/spikes.csv";
  const double interval_ms = 5;
  Child client(
      Cmd({"client_rr", "127.0.0.1", "5", log, "-p", *port, "--duration", "2.5", "--json"}), dir_);
  std::this_thread::sleep_for(800ms);
  const auto t0 = std::chrono::steady_clock::now();
  server.Signal(SIGSTOP);
  std::this_thread::sleep_for(400ms);
  server.Signal(SIGCONT);
  const double injected_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(client.Wait(20s), 0) << client.Stderr();
  const RunResult run = ParseResult(client.Stdout());
  ASSERT_TRUE(run.probe.has_value());
  ASSERT_TRUE(run.probe->longest_blackout.has_value());
  const double measured_ms = static_cast<double>(run.probe->longest_blackout->count()) / 1000.0;
  EXPECT_NEAR(measured_ms, injected_ms, std::max(20.0, 2 * interval_ms))
      << "injected " << injected_ms << " ms; stderr:\n"
      << client.Stderr();
  ASSERT_TRUE(run.probe->sent && run.probe->received && run.probe->lost);
  EXPECT_GT(*run.probe->sent, 300u);
  EXPECT_EQ(*run.probe->sent, *run.probe->received + *run.probe->lost);
  EXPECT_LE(*run.probe->lost, 2u) << "a stopped server's socket keeps the probes: few or none lost";
  EXPECT_TRUE(run.probe->rtt.reported_p99.has_value());
  ASSERT_TRUE(run.probe->max_latency.has_value());
  EXPECT_GE(run.probe->max_latency->count(), 300'000);
  // mig_mon's spike CSV: the init marker, then the outage.
  const auto lines = Lines(testing_support::ReadFile(log));
  ASSERT_GE(lines.size(), 2u);
  EXPECT_THAT(lines[0], MatchesRegex(R"([0-9]+,18446744073709551615)"));
  bool outage_logged = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    const auto comma = lines[i].find(',');
    ASSERT_NE(comma, std::string::npos) << lines[i];
    if (std::stoull(lines[i].substr(comma + 1)) >= 300) outage_logged = true;
  }
  EXPECT_TRUE(outage_logged) << testing_support::ReadFile(log);
  EXPECT_THAT(client.Stderr(),
              testing::ContainsRegex(R"(\[[0-9]+\] max_delay: [0-9]+ \(ms\), cur: [0-9]+ \(ms\))"));
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(10s), 0);
}

// Stopped by SIGINT (as the harness stops it) while the guest is still out: the probes sent in
// the 200 ms before the signal are in flight, and the prober waits for them (the server, resumed
// 100 ms after the signal, answers every probe its socket kept), so none counts as lost and the
// blackout is the whole outage, closed by those replies.
TEST_F(MigmonTest, ProberStoppedMidOutageWaitsForTheProbesInFlight) {
  Child server(Cmd({"server_rr", "-p", "0"}), dir_);
  const auto port = server.WaitForLine(R"(listening port=(\d+))", 10s);
  ASSERT_TRUE(port);
  Child client(Cmd({"client_rr", "127.0.0.1", "5", "-p", *port, "--json"}), dir_);
  ASSERT_TRUE(client.WaitForLine("probing ", 10s, /*on_stderr=*/true));
  std::this_thread::sleep_for(300ms);
  server.Signal(SIGSTOP);
  std::this_thread::sleep_for(150ms);
  client.Signal(SIGINT);
  std::this_thread::sleep_for(100ms);
  server.Signal(SIGCONT);
  ASSERT_EQ(client.Wait(20s), 0) << client.Stderr();
  const RunResult run = ParseResult(client.Stdout());
  ASSERT_TRUE(run.probe && run.probe->sent && run.probe->received && run.probe->lost);
  EXPECT_EQ(*run.probe->lost, 0u) << "sent " << *run.probe->sent << ", received "
                                  << *run.probe->received;
  ASSERT_TRUE(run.probe->longest_blackout);
  EXPECT_GE(run.probe->longest_blackout->count(), 240'000) << "the outage, closed by the replies";
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(10s), 0);
}

TEST_F(MigmonTest, ProberCountsLossWhenTheServerIsGone) {
  Child server(Cmd({"server_rr", "-p", "0"}), dir_);
  const auto port = server.WaitForLine(R"(listening port=(\d+))", 10s);
  ASSERT_TRUE(port);
  Child client(Cmd({"client", "127.0.0.1", "10", dir_ + "/s.csv", "-p", *port, "--duration", "1.5",
                    "--json"}),
               dir_);
  std::this_thread::sleep_for(500ms);
  server.Signal(SIGKILL);
  ASSERT_EQ(client.Wait(20s), 0) << client.Stderr();
  const RunResult run = ParseResult(client.Stdout());
  ASSERT_TRUE(run.probe && run.probe->lost && run.probe->received);
  EXPECT_GT(*run.probe->lost, 40u);
  EXPECT_GT(*run.probe->received, 10u);
  ASSERT_TRUE(run.probe->longest_blackout);
  EXPECT_GT(run.probe->longest_blackout->count(), 500'000)
      << "an outage still open at the end counts";
}

TEST_F(MigmonTest, OneWayClientAndServer) {
  Child server(Cmd({"server", dir_ + "/oneway.csv", "-p", "0", "--json"}), dir_);
  const auto port = server.WaitForLine(R"(listening port=(\d+))", 10s, /*on_stderr=*/true);
  ASSERT_TRUE(port);
  std::string out, err;
  ASSERT_EQ(Run({"client", "127.0.0.1", "20", "-p", *port, "--duration", "1"}, &out, &err), 0)
      << err;
  EXPECT_THAT(out, testing::ContainsRegex(R"(sent [0-9]+ packets)"));
  server.Signal(SIGTERM);
  ASSERT_EQ(server.Wait(10s), 0) << server.Stderr();
  const RunResult run = ParseResult(server.Stdout());
  ASSERT_TRUE(run.probe && run.probe->received);
  EXPECT_GE(*run.probe->received, 20u);
  const auto lines = Lines(testing_support::ReadFile(dir_ + "/oneway.csv"));
  ASSERT_GE(lines.size(), 1u);
  EXPECT_THAT(lines[0], MatchesRegex(R"([0-9]+,18446744073709551615)"));
}

// ---------------------------------------------------------------- vm
TEST_F(MigmonTest, VmPrecopyAndPostcopyOnOneSocket) {
  Child dst(Cmd({"vm", "-d", "-p", "0", "--once", "--json"}), dir_);
  const auto port = dst.WaitForLine(R"(listening port=(\d+))", 10s, true);
  ASSERT_TRUE(port);
  std::string out, err;
  ASSERT_EQ(Run({"vm", "-s", "-H", "127.0.0.1", "-p", *port, "-t", "precopy", "-t", "postcopy",
                 "--duration", "2.5", "--json"},
                &out, &err),
            0)
      << err;
  EXPECT_THAT(err, testing::ContainsRegex(R"(Speed: [0-9]+ \(MB/s\))"));
  const RunResult src = ParseResult(out);
  ASSERT_TRUE(src.migration);
  EXPECT_EQ(src.migration->status, Status::kCompleted);
  EXPECT_FALSE(src.migration->bandwidth_mib_s.empty());
  ASSERT_EQ(dst.Wait(20s), 0) << dst.Stderr();
  EXPECT_THAT(dst.Stderr(),
              testing::ContainsRegex(R"(Latency: average [0-9]+ \(us\), max: [0-9]+ \(us\))"));
  const RunResult d = ParseResult(dst.Stdout());
  ASSERT_TRUE(d.migration && d.migration->postcopy_latency);
  EXPECT_EQ(d.migration->status, Status::kCompleted);
  EXPECT_TRUE(d.migration->postcopy_latency->reported_p50.has_value());
  EXPECT_TRUE(d.migration->postcopy_latency->reported_p99.has_value());
  EXPECT_GT(d.migration->postcopy_latency->Count(), 10u);
  // What the source sent is what the destination received.
  EXPECT_EQ(src.migration->bytes.at("transferred"), d.migration->bytes.at("received"));
}

TEST_F(MigmonTest, VmUrgentChannelAndSizeBound) {
  Child dst(Cmd({"vm", "-d", "-p", "0", "--once", "--json"}), dir_);
  const auto port = dst.WaitForLine(R"(listening port=(\d+))", 10s, true);
  ASSERT_TRUE(port);
  std::string out, err;
  // -S 0.25: one pass over 65536 pages, then the source ends.
  ASSERT_EQ(Run({"vm", "-s", "-H", "127.0.0.1", "-p", *port, "-S", "0.25", "-t", "precopy", "-t",
                 "postcopy", "--urgent-channel", "--json"},
                &out, &err, 60s),
            0)
      << err;
  EXPECT_THAT(err, HasSubstr("Total time: "));
  const RunResult src = ParseResult(out);
  ASSERT_TRUE(src.migration);
  EXPECT_EQ(src.migration->pages.at("precopy"), 65536u);
  ASSERT_EQ(dst.Wait(20s), 0) << dst.Stderr();
  const RunResult d = ParseResult(dst.Stdout());
  ASSERT_TRUE(d.migration);
  EXPECT_EQ(d.migration->pages.at("precopy"), 65536u);
  EXPECT_EQ(d.migration->config.at("urgent_channel"), "true");
  ASSERT_TRUE(d.migration->postcopy_latency);
  EXPECT_GT(d.migration->postcopy_latency->Count(), 0u);
}

TEST_F(MigmonTest, VmPostcopyOnly) {
  Child dst(Cmd({"vm", "-d", "-p", "0", "--once"}), dir_);
  const auto port = dst.WaitForLine(R"(listening port=(\d+))", 10s);
  ASSERT_TRUE(port);
  std::string out, err;
  ASSERT_EQ(Run({"vm", "-s", "-H", "127.0.0.1", "-p", *port, "-t", "postcopy", "--duration", "1.5"},
                &out, &err),
            0)
      << err;
  ASSERT_EQ(dst.Wait(20s), 0) << dst.Stderr();
  EXPECT_THAT(dst.Stdout(),
              testing::ContainsRegex(R"(Latency: average [0-9]+ \(us\), max: [0-9]+ \(us\))"));
}

TEST_F(MigmonTest, VmSourceReportsADestinationThatDies) {
  Child dst(Cmd({"vm", "-d", "-p", "0", "--once"}), dir_);
  const auto port = dst.WaitForLine(R"(listening port=(\d+))", 10s);
  ASSERT_TRUE(port);
  Child src(Cmd({"vm", "-s", "-H", "127.0.0.1", "-p", *port, "-t", "precopy", "--duration", "20"}),
            dir_);
  ASSERT_TRUE(src.WaitForLine(R"(Starting PRECOPY)", 10s));
  std::this_thread::sleep_for(300ms);
  dst.Signal(SIGKILL);
  EXPECT_EQ(src.Wait(15s), 1) << "no SIGPIPE death, a runtime error";
  EXPECT_THAT(src.Stderr(), testing::ContainsRegex("migmon vm: error: .*(closed|reset)"));
}

TEST_F(MigmonTest, VmSourceGivesUpOnAHungDestination) {
  Child dst(Cmd({"vm", "-d", "-p", "0", "--once"}), dir_);
  const auto port = dst.WaitForLine(R"(listening port=(\d+))", 10s);
  ASSERT_TRUE(port);
  Child src(Cmd({"vm", "-s", "-H", "127.0.0.1", "-p", *port, "-t", "precopy", "--timeout", "2"}),
            dir_);
  ASSERT_TRUE(src.WaitForLine(R"(Starting PRECOPY)", 10s));
  dst.Signal(SIGSTOP);
  EXPECT_EQ(src.Wait(20s), 1);
  EXPECT_THAT(src.Stderr(), HasSubstr("stalled"));
  dst.Signal(SIGCONT);
}

// ---------------------------------------------------------------- bad input
TEST_F(MigmonTest, BadInputIsOneLineWithTheRightExitCode) {
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"mm_dirty", "--no-such-flag"}, 2, "--no-such-flag"},
      {{"mm_dirty", "-m", "12X"}, 2, "unknown suffix 'X'"},
      {{"mm_dirty", "-m", "abc"}, 2, "memory size 'abc'"},
      {{"mm_dirty", "-r", "0"}, 2, "rate 0"},
      {{"mm_dirty", "-p", "diagonal"}, 2, "diagonal"},
      {{"nonsense"}, 2, "unknown sub-command"},
      {{"client_rr", "no-such-host.invalid", "10", "--duration", "1"},
       1,
       "cannot resolve host 'no-such-host.invalid'"},
      {{"client_rr"}, 2, "HOST"},
      {{"vm"}, 2, "exactly one of -s"},
      {{"vm", "-s", "-H", "127.0.0.1", "-t", "sideways"}, 2, "sideways"},
      {{"vm", "-s", "-H", "127.0.0.1"}, 2, "-t precopy"},
      {{"server_rr", "-p", "70000"}, 2, "70000"},
  };
  for (const auto& c : cases) {
    std::string out, err;
    EXPECT_EQ(Run(c.args, &out, &err), c.code) << c.args[0] << " " << err;
    EXPECT_THAT(err, HasSubstr(c.says)) << c.args[0];
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  }
}

TEST_F(MigmonTest, UnreachableDestinationIsARuntimeError) {
  // A port nobody listens on: bind one, learn it, close it.
  Child dst(Cmd({"vm", "-d", "-p", "0", "--once"}), dir_);
  const auto port = dst.WaitForLine(R"(listening port=(\d+))", 10s);
  ASSERT_TRUE(port);
  dst.Signal(SIGTERM);
  ASSERT_EQ(dst.Wait(10s), 0);
  std::string out, err;
  EXPECT_EQ(Run({"vm", "-s", "-H", "127.0.0.1", "-p", *port, "-t", "precopy"}, &out, &err), 1);
  EXPECT_THAT(err, HasSubstr("cannot connect to 127.0.0.1:" + *port));
}

TEST_F(MigmonTest, PortInUseIsARuntimeError) {
  Child server(Cmd({"server_rr", "-p", "0"}), dir_);
  const auto port = server.WaitForLine(R"(listening port=(\d+))", 10s);
  ASSERT_TRUE(port);
  std::string out, err;
  EXPECT_EQ(Run({"server_rr", "-p", *port}, &out, &err), 1);
  EXPECT_THAT(err, HasSubstr("port " + *port + "/udp is in use"));

  Child dst(Cmd({"vm", "-d", "-p", "0"}), dir_);
  const auto tport = dst.WaitForLine(R"(listening port=(\d+))", 10s);
  ASSERT_TRUE(tport);
  EXPECT_EQ(Run({"vm", "-d", "-p", *tport}, &out, &err), 1);
  EXPECT_THAT(err, HasSubstr("port " + *tport + "/tcp is in use"));
  dst.Signal(SIGTERM);
  EXPECT_EQ(dst.Wait(10s), 0);
  server.Signal(SIGINT);
  EXPECT_EQ(server.Wait(10s), 0);
}

TEST_F(MigmonTest, HelpEverywhere) {
  for (const char* sub : {"mm_dirty", "server_rr", "client_rr", "client", "server", "vm"}) {
    std::string out, err;
    EXPECT_EQ(Run({sub, "-h"}, &out, &err), 0) << sub;
    EXPECT_THAT(out, HasSubstr("--json")) << sub;
  }
}

// ---------------------------------------------------------------- the static binary
#ifdef MIGMON_STATIC_PATH
bool HasInterpreter(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  Elf64_Ehdr eh{};
  in.read(reinterpret_cast<char*>(&eh), sizeof eh);
  EXPECT_TRUE(in && std::memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0) << path << " is not ELF";
  for (int i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph{};
    in.seekg(static_cast<std::streamoff>(eh.e_phoff + static_cast<uint64_t>(i) * eh.e_phentsize));
    in.read(reinterpret_cast<char*>(&ph), sizeof ph);
    if (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC) return true;
  }
  return false;
}

TEST_F(MigmonTest, StaticBinaryIsStaticAndRuns) {
  EXPECT_FALSE(HasInterpreter(MIGMON_STATIC_PATH)) << "migmon-static has a dynamic loader";
  EXPECT_TRUE(HasInterpreter(MIGMON_PATH)) << "sanity: the dynamic migmon has one";
  Child c({MIGMON_STATIC_PATH, "mm_dirty", "-h"}, dir_);
  EXPECT_EQ(c.Wait(10s), 0);
  EXPECT_THAT(c.Stdout(), HasSubstr("--verify"));
  std::string out, err;
  Child d({MIGMON_STATIC_PATH, "mm_dirty", "-m", "4", "-r", "50", "--duration", "1.1", "--json"},
          dir_);
  EXPECT_EQ(d.Wait(10s), 0) << d.Stderr();
  EXPECT_TRUE(ParseResult(d.Stdout()).dirty.has_value());
}
#endif

}  // namespace
}  // namespace migtest
