// The QEMU scenario catalogue: the migration scenarios QEMU's own tests cover
// (tests/qtest/migration/ in QEMU 10: precopy, multifd, compression, postcopy, file, TLS, misc),
// each asserting what QEMU's test asserts (it completes, the guest's dirtier verifies its memory,
// the guest stays healthy) plus SLO figures: the guest's pause, QEMU's downtime, total time, the
// prober's blackout, and the scenario's own figure where it has one (multifd bytes, zero pages,
// XBZRLE hits, the auto-converge throttle, postcopy fault latency).
//
// A scenario is a row of Rows() below: its family, name, Scenario (capabilities and parameters go
// through QemuSpec, as migrate-set-capabilities/-parameters take them), whether QEMU must complete
// it, and its own check. Adding one is adding a row. A row that needs what this machine lacks (KVM,
// hardware) or what migtest's qemu backend cannot do yet says so in `needs` and skips with it.
//
// Sized for TCG on 2 cores: 512 MiB guests on 2 vCPUs (one boot serves every precopy row through
// the booted-guest pool; a postcopy boots its own), bandwidth capped where convergence must be
// forced, as qtest does with max-bandwidth and downtime-limit. Bounds are loose: they catch a
// scenario that breaks or slows by multiples, and ci/ab judges the figures' distributions.
// ctest runs the whole binary as one test (label catalogue), so the pool serves it; ci/run-suites
// --qemu PATH runs it on a QEMU build that is not installed.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <migtest/fixtures.hpp>
#include <migtest/matchers.hpp>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace {

using namespace std::chrono_literals;
using namespace migtest;
using ::testing::AllOf;
using ::testing::Eq;
using ::testing::Ge;
using ::testing::Gt;
using ::testing::Le;
using ::testing::Lt;

struct Row {
  std::string family;  // precopy, multifd, xbzrle, auto_converge, postcopy, …
  std::string name;    // within its family; [a-z0-9_]
  Scenario scenario{};
  bool completes = true;  // QEMU must complete it (false: it must not; the own check still runs)
  // What the row needs that is missing here (KVM, hardware, a backend feature): it skips with
  // this reason.
  std::string needs{};
  // The oldest QEMU (major, minor) that can run it; an older one skips, naming both.
  std::pair<int, int> min_qemu{0, 0};
  std::chrono::milliseconds max_pause{500};  // the guest's pause (MaxDowntime)
  std::chrono::seconds max_total{30};
  std::chrono::milliseconds max_blackout{2000};  // the prober's longest silence
  // Words the destination QEMU must print (its stderr) when the row fails: its reason, which the
  // source does not see.
  std::string destination_says{};
  // CI installs what `needs` names: there a missing one fails the row instead of skipping it.
  bool ci_has_it = false;
  // A row that must not complete but races QEMU's own completion (a cancel in the device state,
  // which lasts milliseconds): a run that completed anyway lost the race and the row migrates
  // again, up to this many times in all; the attempts are recorded (property "attempts").
  int attempts = 1;
  // Run before it migrates, with the test's artifact folder and supervisor: makes what the
  // scenario reads (keys, certificates) and picks what it runs (binaries, machine type).
  std::function<void(const Row&, Scenario&, const std::filesystem::path&, Supervisor&)> prepare{};
  // The row's own figure, checked after the common ones (EXPECT_THAT on the run).
  std::function<void(const RunResult&)> own{};
  // Then, on the same guest, from the QEMU the first migration left it on, this migration must
  // complete (QEMU's "after a cancel, migrate to a new destination"; needs the booted-guest pool).
  std::optional<Scenario> then{};
};

void PrintTo(const Row& r, std::ostream* os) { *os << r.family << "/" << r.name; }

// Every row boots the same guest (the pool's key: memory, vCPUs, the dirtier's pattern and
// working set), so one boot serves every precopy row; the dirtier's rate is per row.
Scenario Base(Rate dirty = 50_MiBps) {
  return {.memory = 512_MiB,
          .vcpus = 2,
          .dirty = {.rate = dirty},
          .mode = Mode::Precopy,
          .timeout = 60s,
          .qemu = {.dirty_memory = 64_MiB, .healthy_for = 2s}};
}

Scenario With(Scenario s, std::map<std::string, bool> caps, nlohmann::json params = {}) {
  s.qemu.capabilities = std::move(caps);
  if (params.is_object()) s.qemu.parameters = std::move(params);
  return s;
}

// The bytes QEMU sent as whole pages: what a compressed multifd stream must undercut.
uint64_t NormalBytes(const RunResult& run) {
  if (!run.migration) return 0;
  auto it = run.migration->pages.find("normal");
  return it == run.migration->pages.end() ? 0 : it->second * 4096;
}

Row Compression(const std::string& method) {
  return {.family = "multifd",
          .name = method,
          // 20 MiB/s: compression runs on the host's two cores beside the guest's two TCG vCPUs
          // (zlib at 50 MiB/s took 58 rounds and 23 s here).
          .scenario = With(Base(20_MiBps), {{"multifd", true}},
                           {{"multifd-channels", 2}, {"multifd-compression", method}}),
          .own = [](const RunResult& run) {
            // Compressed: the multifd stream is smaller than the pages it carried.
            EXPECT_THAT(run.migration, PageCount("normal", Gt(1000u)));
            EXPECT_THAT(run.migration, ByteCount("multifd", Lt(NormalBytes(run))));
          }};
}

Row ZeroPages(const std::string& detection) {
  return {.family = "multifd",
          .name = "zero_page_" + detection,
          .scenario = With(Base(), {{"multifd", true}},
                           {{"multifd-channels", 2}, {"zero-page-detection", detection}}),
          .own = [detection](const RunResult& run) {
            const auto& m = run.migration;
            // The guest's untouched memory is zero: detected, it goes as zero pages; with
            // detection off, as whole pages.
            if (detection == "none") {
              EXPECT_THAT(m, PageCount("duplicate", Eq(0u)));
              EXPECT_THAT(m, PageCount("normal", Gt(100000u)));  // > 390 MiB of 512 as pages
            } else {
              EXPECT_THAT(m, PageCount("duplicate", Gt(50000u)));
            }
          }};
}

Row Postcopy(const std::string& name, QemuSpec q) {
  q.dirty_memory = 64_MiB;
  q.healthy_for = 2s;
  Scenario s = Base(100_MiBps);
  s.dirty.pattern = Pattern::Random;
  s.mode = Mode::Postcopy;
  s.max_bandwidth = 64_MiBps;
  s.postcopy_after = 1;
  s.qemu = std::move(q);
  // The prober's silence: the vCPUs stall on faults (without preempt 1.9 s here, 0.4 s with).
  return {.family = "postcopy",
          .name = name,
          .scenario = std::move(s),
          .max_blackout = 5s,
          .own = [](const RunResult& run) {
            EXPECT_THAT(run.migration, PostcopyLatency(Percentile(99), Lt(1s)));
            EXPECT_TRUE(run.migration && run.migration->postcopy_blocktime)
                << "QEMU reported no postcopy-blocktime";
          }};
}

// A cancel: the run ends cancelled where `q` says, and the guest runs on at the source, its
// dirtier still verifying what it rewrites.
Row Cancel(const std::string& name, QemuSpec q) {
  Scenario s = Base();
  q.dirty_memory = s.qemu.dirty_memory;
  q.healthy_for = s.qemu.healthy_for;
  s.qemu = std::move(q);
  s.timeout = 30s;
  // A cancel 1 s into the active phase must find it still active: capped below the dirtier's
  // rate, the migration cannot end before it (uncapped it completed in 1.2 s here once the
  // guest's initramfs shrank). A cancel at pre-switchover needs it to converge: uncapped.
  if (s.qemu.cancel_in == "active") s.max_bandwidth = 32_MiBps;
  return {.family = "cancel",
          .name = name,
          .scenario = std::move(s),
          .completes = false,
          .own = [](const RunResult& run) {
            ASSERT_TRUE(run.migration);
            EXPECT_EQ(ToString(run.migration->status), "cancelled")
                << run.migration->error.value_or("");
            EXPECT_TRUE(run.extra.contains("qemu") && run.extra.at("qemu").contains("cancel"))
                << "the migration ended before the cancel was sent";
            EXPECT_THAT(run, GuestHealthy(1s));  // on the source: it ran on
          }};
}

// The URI the source was told starts with `prefix` (the transport knob reached QEMU: a row would
// otherwise pass over tcp with the knob ignored).
std::function<void(const RunResult&)> UriStartsWith(std::string prefix) {
  return [prefix](const RunResult& run) {
    ASSERT_TRUE(run.extra.contains("qemu"));
    EXPECT_THAT(run.extra.at("qemu").value("migrate_uri", ""), testing::StartsWith(prefix));
  };
}

// PSK creds for QemuSpec::tls: a keys.psk (`qemu:<hex>`, as QEMU's tls-creds-psk reads it) in
// the test's folder; a row named *_mismatched gives the destination a folder with another key.
void PskKeys(const Row& row, Scenario& s, const std::filesystem::path& artifacts, Supervisor&) {
  std::random_device random;
  auto write_key = [&](const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "keys.psk")
        << fmt::format("qemu:{:08x}{:08x}{:08x}{:08x}\n", random(), random(), random(), random());
    return dir;
  };
  s.qemu.tls_dir = write_key(artifacts / "tls-psk");
  if (row.name.ends_with("_mismatched")) {
    s.qemu.tls_destination_dir = write_key(artifacts / "tls-psk-destination");
  }
}

// x509 creds for QemuSpec::tls "x509", made with openssl in `dir`: a CA, the destination's
// server certificate for 127.0.0.1 and the source's client certificate, each signed by the CA.
void MakeX509(Supervisor& lab, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  auto openssl = [&](std::vector<std::string> args) {
    ASSERT_TRUE(RunToCompletion(
        lab, {.name = "openssl", .exe = "openssl", .args = std::move(args), .working_dir = dir},
        std::chrono::duration_cast<std::chrono::milliseconds>(Scaled(30s))))
        << "openssl (Debian package openssl; ci/install-deps guest installs it)";
  };
  openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=migtest CA",
           "-keyout", "ca-key.pem", "-out", "ca-cert.pem", "-addext",
           "basicConstraints=critical,CA:TRUE", "-addext",
           "keyUsage=critical,keyCertSign,cRLSign"});
  for (const char* end : {"server", "client"}) {
    const std::string ext = fmt::format("{}.ext", end);
    std::ofstream(dir / ext) << fmt::format(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage={}\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        end == std::string("server") ? "serverAuth" : "clientAuth");
    openssl({"req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
             fmt::format("{}-key.pem", end), "-out", fmt::format("{}.csr", end)});
    openssl({"x509", "-req", "-in", fmt::format("{}.csr", end), "-CA", "ca-cert.pem", "-CAkey",
             "ca-key.pem", "-CAcreateserial", "-days", "2", "-extfile", ext, "-out",
             fmt::format("{}-cert.pem", end)});
  }
}

// x509 creds in the test's folder; a row named *_untrusted gives the destination creds of
// another CA, which the source does not trust.
void X509Creds(const Row& row, Scenario& s, const std::filesystem::path& artifacts,
               Supervisor& lab) {
  s.qemu.tls_dir = artifacts / "tls-x509";
  MakeX509(lab, s.qemu.tls_dir);
  if (row.name.ends_with("_untrusted")) {
    s.qemu.tls_destination_dir = artifacts / "tls-x509-other-ca";
    MakeX509(lab, s.qemu.tls_destination_dir);
  }
}

// A migration to a file, non-live as QEMU's file tests run it: the guest stopped for all of it.
Row File(const std::string& name, std::map<std::string, bool> caps, nlohmann::json params) {
  Scenario s = With(Base(), std::move(caps), std::move(params));
  s.qemu.transport = "file";
  const bool mapped = s.qemu.capabilities.contains("mapped-ram");
  return {.family = "file",
          .name = name,
          .scenario = s,
          .max_pause = 20s,  // the whole stop: writing and loading the file
          .max_blackout = 20s,
          .own = [mapped](const RunResult& run) {
            ASSERT_TRUE(run.migration && run.migration->total_time && run.migration->guest_pause);
            // Non-live: the guest stopped before the source began writing and ran again only
            // once the destination had loaded it all.
            EXPECT_GT(*run.migration->guest_pause, *run.migration->total_time);
            EXPECT_THAT(
                run.migration->config,
                testing::Contains(testing::Pair("guest_pause_from", testing::HasSubstr("STOP"))));
            const nlohmann::json file = run.extra.contains("qemu")
                                            ? run.extra["qemu"].value("file", nlohmann::json())
                                            : nlohmann::json();
            ASSERT_TRUE(file.contains("bytes") && file.contains("allocated_bytes"))
                << "no file size recorded: " << file.dump();
            const uint64_t bytes = file["bytes"], allocated = file["allocated_bytes"];
            if (mapped) {
              // Each page at its own offset: as long as the RAM, zero pages left as holes.
              EXPECT_GE(bytes, uint64_t{512} << 20);
              EXPECT_LT(allocated, bytes / 2);
            } else {
              // A stream: zero pages as a few bytes each, far less than the RAM.
              EXPECT_LT(bytes, uint64_t{256} << 20);
            }
          }};
}

// The QEMU a cross-version row takes for A (MIGTEST_QEMU_SRC, default Debian 12's 7.2 as
// ci/install-qemu --with-7.2 unpacks it) and B (MIGTEST_QEMU_DST, default the QEMU under test).
std::filesystem::path QemuA() {
  if (const char* a = std::getenv("MIGTEST_QEMU_SRC"); a && *a) return a;
  const char* cache = std::getenv("MIGTEST_CACHE");
  const char* home = std::getenv("HOME");
  return (cache && *cache ? std::filesystem::path(cache)
                          : std::filesystem::path(home ? home : "/tmp") / ".cache" / "migtest") /
         "qemu-7.2/root/usr/bin/qemu-system-x86_64";
}
std::filesystem::path QemuB() {
  if (const char* b = std::getenv("MIGTEST_QEMU_DST"); b && *b) return b;
  return {};  // QemuSpec's default: MIGTEST_QEMU, else PATH's
}

// A cross-version row: an idle guest (Debian 12's 7.2 corrupts a busy one under TCG) from one
// QEMU to the other, on the machine type of the older of the two.
Row CrossVersion(const std::string& name, bool a_to_b) {
  Row r{.family = "cross_version", .name = name, .scenario = Base(0_MiBps), .ci_has_it = true};
  if (!std::filesystem::exists(QemuA())) {
    r.needs = fmt::format(
        "{} is missing (ci/install-qemu --with-7.2 unpacks it; MIGTEST_QEMU_SRC "
        "names another)",
        QemuA().string());
  }
  r.prepare = [a_to_b](const Row&, Scenario& s, const std::filesystem::path&, Supervisor&) {
    std::string why;
    QemuSpec a{.binary = QemuA()}, b{.binary = QemuB()};
    const auto qa = FindQemu(a, &why), qb = FindQemu(b, &why);
    ASSERT_TRUE(qa && qb) << why;
    const QemuBinary& older =
        std::pair{qa->major, qa->minor} < std::pair{qb->major, qb->minor} ? *qa : *qb;
    s.qemu.binary = a_to_b ? qa->exe : qb->exe;
    s.qemu.destination_binary = a_to_b ? qb->exe : qa->exe;
    s.qemu.accel = "tcg";
    s.qemu.extra_args = {"-machine", fmt::format("pc-q35-{}.{}", older.major, older.minor)};
  };
  r.own = [](const RunResult& run) {
    ASSERT_TRUE(run.extra.contains("qemu"));
    EXPECT_NE(run.extra["qemu"].value("version", ""),
              run.extra["qemu"].value("destination_version", ""))
        << "both sides ran the same QEMU";
  };
  return r;
}

// The own check of a row QEMU must refuse: failed, in QEMU's words on the source (`words`, when
// given), and the guest ran on at the source.
std::function<void(const RunResult&)> Refused(std::string words) {
  return [words](const RunResult& run) {
    ASSERT_TRUE(run.migration);
    EXPECT_EQ(ToString(run.migration->status), "failed");
    if (!words.empty()) {
      EXPECT_THAT(run.migration->error.value_or(""), testing::HasSubstr(words));
    }
    EXPECT_THAT(run, GuestHealthy(1s));  // on the source: it ran on
  };
}

Row Skipped(std::string family, std::string name, std::string needs) {
  return {.family = std::move(family), .name = std::move(name), .needs = std::move(needs)};
}

// Two TLS rows: `kind` creds that match (it must migrate), and `broken` ones the handshake must
// refuse in QEMU's `words`.
void TlsRows(std::vector<Row>& rows, const std::string& kind, decltype(Row::prepare) creds,
             const std::string& broken, const std::string& words) {
  Scenario s = Base();
  s.qemu.tls = kind;
  rows.push_back({.family = "tls", .name = kind, .scenario = s, .prepare = creds});
  rows.push_back({.family = "tls",
                  .name = broken,
                  .scenario = s,
                  .completes = false,
                  .prepare = creds,
                  .own = Refused(words)});
}

std::vector<Row> Rows() {
  std::vector<Row> rows;
  // precopy: the channel kinds and the return path.
  rows.push_back({.family = "precopy", .name = "tcp", .scenario = Base()});
  {
    Scenario s = Base();
    s.qemu.transport = "unix";
    rows.push_back(
        {.family = "precopy", .name = "unix", .scenario = s, .own = UriStartsWith("unix:")});
  }
  rows.push_back({.family = "precopy",
                  .name = "switchover_ack",
                  .scenario = With(Base(), {{"return-path", true}, {"switchover-ack", true}})});
  {
    // The two ends of a socketpair, handed to the QEMUs with getfd.
    Scenario s = Base();
    s.qemu.transport = "fd";
    rows.push_back({.family = "precopy", .name = "fd", .scenario = s, .own = UriStartsWith("fd:")});
  }

  // multifd: channels, zero-page detection, compression.
  rows.push_back({.family = "multifd",
                  .name = "channels_4",
                  .scenario = With(Base(), {{"multifd", true}}, {{"multifd-channels", 4}}),
                  .own = [](const RunResult& run) {
                    // The dirtier's 64 MiB working set alone is more than this.
                    EXPECT_THAT(run.migration, ByteCount("multifd", Gt(16u << 20)));
                  }});
  for (const char* d : {"legacy", "multifd", "none"}) rows.push_back(ZeroPages(d));
  rows.push_back(Compression("zlib"));
  rows.push_back(Compression("zstd"));
  rows.push_back(Skipped("multifd", "qpl", "hardware: an Intel IAA accelerator (qpl)"));
  rows.push_back(Skipped("multifd", "uadk", "hardware: a HiSilicon accelerator (uadk)"));

  // xbzrle: a 32 MiB cache; the guest rewrites its pages between rounds (the cap keeps it to
  // several rounds).
  {
    Scenario s = With(Base(), {{"xbzrle", true}}, {{"xbzrle-cache-size", 32 << 20}});
    s.max_bandwidth = 64_MiBps;
    rows.push_back(
        {.family = "xbzrle", .name = "cache_32mib", .scenario = s, .own = [](const RunResult& run) {
           EXPECT_THAT(run.migration, PageCount("xbzrle", Gt(0u)));  // as deltas
           EXPECT_THAT(run.migration, ByteCount("xbzrle", Gt(0u)));
         }});
  }

  // auto-converge: a guest dirtying as fast as its vCPUs can (far over the default 128 MiB/s
  // cap); QEMU throttles its vCPUs from 30 % in steps of 20, never above 90 %. As QEMU's own test
  // does, once the throttle has stepped (50 %) the source is told to converge (max-bandwidth
  // 1 GB/s, downtime-limit 30 s: QemuSpec::converge_at_throttle) and the migration must complete,
  // memory verified. Left alone it may or may not converge under TCG within the timeout
  // (measured: no convergence in 60 s at 128 MiB/s of dirty pages at every throttle; then, on the
  // pooled guest, converged after 14 s in 1 of 3 runs): a row with one outcome must not wait for
  // that. The final copy is the working set dirtied at up to 50 % throttle (64 MiB), so the
  // pause bound is 1.5 s.
  {
    Scenario s = Base(2000_MiBps);
    s.auto_converge = true;
    s.timeout = 25s;
    s.qemu.parameters = {
        {"cpu-throttle-initial", 30}, {"cpu-throttle-increment", 20}, {"max-cpu-throttle", 90}};
    s.qemu.converge_at_throttle = 50;
    rows.push_back(
        {.family = "auto_converge",
         .name = "throttle",
         .scenario = s,
         .max_pause = 1500ms,
         .own = [](const RunResult& run) {
           EXPECT_THAT(run.migration, FirstCpuThrottle(Ge(30)));
           // Stepped up at least once, and never past the max.
           EXPECT_THAT(run.migration, MaxCpuThrottle(AllOf(Ge(50), Le(90))));
           EXPECT_TRUE(run.extra.value("qemu", nlohmann::json::object()).contains("converge_at"))
               << "completed before the throttle reached 50 %: nothing stepped";
         }});
  }

  // postcopy: plain, with its page requests on their own channel, with multifd.
  rows.push_back(Postcopy("plain", {}));
  rows.push_back(Postcopy("preempt", {.postcopy_preempt = true}));
  {
    // QEMU 10.0 refuses it ("Postcopy is not yet compatible with multifd"); 10.1 takes it.
    Row r = Postcopy(
        "multifd", {.capabilities = {{"multifd", true}}, .parameters = {{"multifd-channels", 2}}});
    r.min_qemu = {10, 1};
    rows.push_back(std::move(r));
  }
  {
    // The link broken 1 s into postcopy: QEMU pauses, then recovers on a new connection.
    Row r = Postcopy("recovery", {.postcopy_preempt = true, .postcopy_recovery = true});
    r.scenario.fault = FaultInjection{.kind = FaultInjection::Kind::kBreakLink, .after = 1s};
    r.own = [](const RunResult& run) {
      EXPECT_TRUE(run.extra.contains("postcopy_recovery")) << "the link broke but nothing paused";
    };
    rows.push_back(std::move(r));
  }
  {
    // The link broken, then the first recovery fails too (the source resumes to where nothing
    // listens): QEMU must pause again, and the second recovery completes.
    Row r = Postcopy("double_failure", {.postcopy_preempt = true,
                                        .postcopy_recovery = true,
                                        .postcopy_recovery_fails_first = true});
    r.scenario.fault = FaultInjection{.kind = FaultInjection::Kind::kBreakLink, .after = 1s};
    r.own = [](const RunResult& run) {
      ASSERT_TRUE(run.extra.contains("postcopy_recovery")) << "the link broke but nothing paused";
      const nlohmann::json& failed =
          run.extra["postcopy_recovery"].value("failed_first", nlohmann::json());
      EXPECT_TRUE(failed.contains("error") ||
                  (failed.contains("statuses") && !failed["statuses"].empty()))
          << "the first recovery did not fail: " << failed.dump();
    };
    rows.push_back(std::move(r));
  }

  // What migtest's qemu backend does not drive yet is listed, so the catalogue shows its gaps.
  // cancel: migrate_cancel at the first poll (setup, or active if setup was quicker), 1 s into
  // the active phase, and at pre-switchover (QEMU waits there with pause-before-switchover, the
  // guest paused). The migration must end cancelled and the guest run on at the source.
  rows.push_back(Cancel("setup", {.cancel_after = 0ms}));
  rows.push_back(Cancel("active", {.cancel_after = 1000ms, .cancel_in = "active"}));
  rows.push_back(Cancel("pre_switchover", {.capabilities = {{"pause-before-switchover", true}},
                                           .cancel_after = 0ms,
                                           .cancel_in = "pre-switchover"}));
  {
    Row r = Cancel("device", {.capabilities = {{"pause-before-switchover", true}},
                              .cancel_after = 0ms,
                              .cancel_in = "device"});
    r.attempts = 3;  // the cancel lost to completion in 1 of 5 runs here, written back to back
    r.own = [cancelled = r.own](const RunResult& run) {
      cancelled(run);
      ASSERT_TRUE(run.extra.contains("qemu") && run.extra["qemu"].contains("cancel"));
      // The source went through the device state and was cancelled after it.
      const nlohmann::json statuses =
          run.extra["qemu"]["cancel"].value("source_statuses", nlohmann::json::array());
      const auto device = std::find(statuses.begin(), statuses.end(), "device");
      EXPECT_NE(device, statuses.end()) << "never in the device state: " << statuses.dump();
      EXPECT_NE(std::find(device, statuses.end(), "cancelling"), statuses.end())
          << "not cancelled after the device state: " << statuses.dump();
    };
    rows.push_back(std::move(r));
  }
  {
    // QEMU's "cancel, then migrate to a new destination": the guest the cancel left running on
    // its source goes on to a fresh destination QEMU from that same source.
    Row r = Cancel("then_new_destination", {.cancel_after = 1000ms, .cancel_in = "active"});
    r.then = Base();
    rows.push_back(std::move(r));
  }

  // negative: the source told a URI where nothing listens: failed, in QEMU's words, the guest
  // running on at the source.
  {
    Scenario s = Base();
    s.qemu.source_uri = "tcp:127.0.0.1:1";
    rows.push_back({.family = "negative",
                    .name = "bad_uri",
                    .scenario = s,
                    .completes = false,
                    .own = Refused("Connection refused")});
  }
  // A destination unlike its source: QEMU must refuse the stream, in its words, and the guest
  // run on at the source.
  auto unlike = [&](const char* name, std::vector<std::string> args, const char* words) {
    Scenario s = Base();
    s.qemu.destination_args = std::move(args);
    rows.push_back({.family = "negative",
                    .name = name,
                    .scenario = s,
                    .completes = false,
                    .destination_says = words,
                    .own = Refused("")});
  };
  // The source only sees its stream cut ("Unable to write to socket: Broken pipe"); the reason
  // is the destination's (its stderr).
  unlike("memory_size_mismatch", {"-m", "1024"}, "Size mismatch: pc.ram");
  unlike("machine_type_mismatch", {"-machine", "pc"}, "Machine type received is 'pc-q35-");
  {
    // validate-uuid: both QEMUs get a -uuid (the source's own boot, not the pool's), the
    // destination's last one another.
    Scenario s = With(Base(), {{"validate-uuid", true}});
    s.qemu.extra_args = {"-uuid", "6d696774-6573-7400-0000-000000000001"};
    s.qemu.destination_args = {"-uuid", "6d696774-6573-7400-0000-000000000002"};
    rows.push_back({.family = "negative",
                    .name = "validate_uuid_mismatch",
                    .scenario = s,
                    .completes = false,
                    .destination_says = "UUID received is 6d696774-6573-7400-0000-000000000001",
                    .own = Refused("")});
  }
  // file: the stream, mapped-ram (each page at its own offset), and mapped-ram written by
  // multifd channels.
  rows.push_back(File("plain", {}, {}));
  rows.push_back(File("mapped_ram", {{"mapped-ram", true}}, {}));
  rows.push_back(File("mapped_ram_multifd", {{"mapped-ram", true}, {"multifd", true}},
                      {{"multifd-channels", 2}}));
  // TLS: the busy precopy of precopy/tcp with the channel encrypted (its figures beside that
  // row's are TLS's cost), with PSK keys and with x509 certificates made by openssl for the run;
  // with the destination holding another key or another CA's certificate, the handshake must
  // fail and the guest run on at the source.
  TlsRows(rows, "psk", PskKeys, "psk_mismatched", "TLS handshake failed");
  TlsRows(rows, "x509", X509Creds, "x509_untrusted", "The certificate hasn't got a known issuer");

  // cross-version: A = MIGTEST_QEMU_SRC (default Debian 12's 7.2), B = MIGTEST_QEMU_DST (default
  // the QEMU under test), both ways.
  rows.push_back(CrossVersion("a_to_b", true));
  rows.push_back(CrossVersion("b_to_a", false));

  // KVM only, and hardware.
  rows.push_back(Skipped("precopy", "dirty_ring",
                         "kvm: the dirty ring is KVM's (-accel kvm,dirty-ring-size); this "
                         "machine runs TCG"));
  rows.push_back(Skipped("precopy", "dirty_limit",
                         "kvm: dirty-limit needs KVM's dirty ring; this machine runs TCG"));
  rows.push_back(Skipped("precopy", "rdma", "hardware: an RDMA device (rdma: URI)"));
  return rows;
}

// One line of the row's figures (printed, and a test property for the JUnit report): the
// guest's pause, QEMU's downtime, total, the prober's blackout, iterations, the worst sync.
std::string Figures(const RunResult& run) {
  auto d = [](const std::optional<Duration>& v) {
    return v ? FormatDuration(*v) : std::string("-");
  };
  std::string line;
  if (const auto& m = run.migration) {
    std::optional<Duration> worst_sync;
    for (const Iteration& it : m->iterations) {
      if (it.sync_time && (!worst_sync || *it.sync_time > *worst_sync)) worst_sync = it.sync_time;
    }
    line = fmt::format("pause {}, QEMU downtime {}, total {}, iterations {}, worst sync {}",
                       d(m->guest_pause), d(m->downtime), d(m->total_time), m->iterations.size(),
                       d(worst_sync));
    // The scenario's own figures, where the run has them.
    for (const char* b : {"multifd", "xbzrle"}) {
      if (auto it = m->bytes.find(b); it != m->bytes.end()) {
        line += fmt::format(", {} bytes {}", b, it->second);
      }
    }
    for (const char* p : {"normal", "duplicate", "xbzrle", "xbzrle_cache_miss"}) {
      if (auto it = m->pages.find(p); it != m->pages.end()) {
        line += fmt::format(", {} pages {}", p, it->second);
      }
    }
    std::optional<double> throttle;
    for (const Iteration& it : m->iterations) {
      if (it.cpu_throttle_percent)
        throttle = std::max(throttle.value_or(0), *it.cpu_throttle_percent);
    }
    if (throttle) line += fmt::format(", max throttle {:g} %", *throttle);
    if (m->postcopy_latency) {
      for (double q : {50.0, 99.0}) {
        if (auto e = m->postcopy_latency->Percentile(q)) {
          line += fmt::format(", fault p{:g} {}", q, FormatDuration(e->value));
        }
      }
    }
    if (m->postcopy_blocktime) line += ", blocktime " + d(m->postcopy_blocktime);
    if (run.extra.contains("qemu") && run.extra["qemu"].contains("file")) {
      const nlohmann::json& f = run.extra["qemu"]["file"];
      line += fmt::format(", file {} MiB ({} MiB allocated)", f.value("bytes", uint64_t{0}) >> 20,
                          f.value("allocated_bytes", uint64_t{0}) >> 20);
    }
  }
  if (run.probe) line += ", blackout " + d(run.probe->longest_blackout);
  return line;
}

class Catalogue : public MigrationTest, public testing::WithParamInterface<Row> {
 protected:
  Catalogue() : MigrationTest("qemu") {}
  void MigrateAgain(const Row& row, const RunResult& first);
};

// A row's `then`: on the guest the first migration left running (the pool's), a new migration
// from that QEMU must complete.
void Catalogue::MigrateAgain(const Row& row, const RunResult& first) {
  ASSERT_TRUE(first.extra.contains("qemu") && first.extra["qemu"].contains("pool"))
      << "the first migration's guest is not the pool's";
  const nlohmann::json pool = first.extra["qemu"]["pool"];
  RunResult run = Migrate(*row.then);
  std::cout << fmt::format("[ catalogue ] {}/{} then: {}\n", row.family, row.name, Figures(run));
  ASSERT_TRUE(run.migration);
  ASSERT_EQ(ToString(run.migration->status), "completed")
      << run.migration->error.value_or("no error reported");
  ASSERT_TRUE(run.extra.contains("qemu") && run.extra["qemu"].contains("pool"));
  const nlohmann::json again = run.extra["qemu"]["pool"];
  EXPECT_EQ(again.value("guest", -1), pool.value("guest", -2)) << "another guest: " << again.dump();
  EXPECT_EQ(again.value("migration", 0), pool.value("migration", 0) + 1) << again.dump();
  EXPECT_THAT(run.migration, MemoryVerified());
  EXPECT_THAT(run, GuestHealthy(1s));
}

class CatalogueBreakIt : public MigrationTest {
 protected:
  CatalogueBreakIt() : MigrationTest("qemu") {}
};

TEST_P(Catalogue, Scenario) {
  const Row& row = GetParam();
  if (!row.needs.empty()) {
    if (row.ci_has_it && InCi()) FAIL() << row.needs;
    GTEST_SKIP() << row.needs;
  }
  if (row.then) {
    const char* reuse = std::getenv("MIGTEST_QEMU_REUSE");
    if (reuse && std::string(reuse) == "0") {
      GTEST_SKIP() << "the second migration must start from the guest's QEMU of the first: it "
                      "needs the booted-guest pool (MIGTEST_QEMU_REUSE=0 turns it off)";
    }
  }
  if (row.min_qemu.first > 0) {
    // An older QEMU skips the row; no QEMU at all is the backend's to report (a failure in CI).
    std::string why;
    if (const std::optional<QemuBinary> q = FindQemu(row.scenario.qemu, &why);
        q && std::pair{q->major, q->minor} < row.min_qemu) {
      GTEST_SKIP() << fmt::format("needs QEMU >= {}.{}; this is '{}'", row.min_qemu.first,
                                  row.min_qemu.second, q->version);
    }
  }
  Scenario scenario = row.scenario;
  scenario.name = row.family + "/" + row.name;  // result.json's scenario.name: the report's family
  if (row.prepare) row.prepare(row, scenario, artifacts(), lab());
  if (HasFatalFailure()) return;
  RunResult run = Migrate(scenario);
  int attempt = 1;
  for (; attempt < row.attempts && !row.completes && run.migration &&
         run.migration->status == Status::kCompleted;
       ++attempt) {
    std::cout << fmt::format(
        "[ catalogue ] {}/{}: completed before its cancel took (attempt {} of {}); again\n",
        row.family, row.name, attempt, row.attempts);
    run = Migrate(scenario);
  }
  RecordProperty("attempts", attempt);
  const std::string figures = Figures(run);
  RecordProperty("figures", figures);
  std::cout << fmt::format("[ catalogue ] {}/{}: {}\n", row.family, row.name, figures);
  ASSERT_TRUE(run.migration);
  const MigrationResult& m = *run.migration;
  if (!row.completes) {
    EXPECT_NE(ToString(m.status), "completed");
    if (!row.destination_says.empty()) {
      std::ifstream in(artifacts() / "destination.stderr.log");
      const std::string said{std::istreambuf_iterator<char>(in), {}};
      EXPECT_THAT(said, testing::HasSubstr(row.destination_says))
          << "the destination QEMU's stderr (" << (artifacts() / "destination.stderr.log").string()
          << ") does not give the reason";
    }
    if (row.own) row.own(run);
    if (row.then) MigrateAgain(row, run);
    return;
  }
  ASSERT_EQ(ToString(m.status), "completed") << m.error.value_or("no error reported");
  if (row.scenario.dirty.rate.mib_s > 0) {
    EXPECT_THAT(run.migration, MemoryVerified());  // by the guest's dirtier, on the destination
    EXPECT_THAT(run, GuestHealthy(1s));            // its dirtier verifying there
  } else {
    // An idle guest runs no dirtier (nothing verifies its memory): its console and the prober.
    EXPECT_THAT(run, GuestHealthy());
  }
  EXPECT_THAT(run.migration, MaxDowntime(Lt(row.max_pause)));
  EXPECT_THAT(run.migration, TotalMigrationTime(Lt(row.max_total)));
  EXPECT_THAT(run.probe, GuestBlackout(Lt(row.max_blackout)));
  if (row.scenario.mode == Mode::Precopy) {
    EXPECT_THAT(run.migration, NoIterationStallAbove(1s));
  }
  if (row.own) row.own(run);
}

INSTANTIATE_TEST_SUITE_P(Qemu, Catalogue, testing::ValuesIn(Rows()),
                         [](const testing::TestParamInfo<Row>& p) {
                           return p.param.family + "_" + p.param.name;
                         });

// Broken on purpose: one live migration over tcp with multifd but neither XBZRLE, compression nor
// zero-page detection, judged by the own checks of the rows that need them. Each must fail: no
// XBZRLE pages, a multifd stream no smaller than its pages, no zero pages, no unix: URI, and for
// the file rows a pause shorter than the migration (live, not a file's whole stop).
Row FindRow(const std::string& family, const std::string& name) {
  for (Row& r : Rows()) {
    if (r.family == family && r.name == name) return r;
  }
  ADD_FAILURE() << "no catalogue row " << family << "/" << name;
  return {};
}

// How many failures `row`'s own check reports on `run`, and their messages (intercepted: they do
// not fail the calling test).
std::pair<int, std::string> OwnFailures(const Row& row, const RunResult& run) {
  testing::TestPartResultArray failures;
  {
    testing::ScopedFakeTestPartResultReporter intercept(
        testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
    row.own(run);
  }
  std::string said;
  for (int i = 0; i < failures.size(); ++i) said += failures.GetTestPartResult(i).message();
  return {failures.size(), said};
}

TEST_F(CatalogueBreakIt, OwnChecksFailWhenTheirFeatureIsOff) {
  RunResult run = Migrate(With(Base(), {{"multifd", true}},
                               {{"multifd-channels", 2}, {"zero-page-detection", "none"}}));
  ASSERT_TRUE(run.migration);
  ASSERT_EQ(ToString(run.migration->status), "completed");
  for (const auto& [family, name, words] : {std::tuple{"xbzrle", "cache_32mib", "counter '"},
                                            {"multifd", "zstd", "counter '"},
                                            {"multifd", "zero_page_legacy", "counter '"},
                                            {"precopy", "unix", "unix:"},
                                            {"file", "plain", "guest_pause"},
                                            {"file", "mapped_ram", "guest_pause"},
                                            {"auto_converge", "throttle", "converge_at"}}) {
    const Row row = FindRow(family, name);
    ASSERT_TRUE(row.own) << family << "/" << name;
    const auto [failures, said] = OwnFailures(row, run);
    EXPECT_GE(failures, 1) << "the own check of " << family << "/" << name
                           << " passed a run without its feature";
    EXPECT_THAT(said, testing::HasSubstr(words)) << family << "/" << name;
  }
}

// Broken on purpose: a cancel whose source guest is killed after it (where it was to run on):
// the cancel row's own check must fail.
TEST_F(CatalogueBreakIt, CancelWhoseSourceIsKilledFailsItsOwnCheck) {
  const Row row = FindRow("cancel", "active");
  ASSERT_TRUE(row.own);
  Scenario s = row.scenario;
  s.fault = FaultInjection{.kind = FaultInjection::Kind::kKillSource};
  RunResult run = Migrate(s);
  ASSERT_TRUE(run.migration);
  ASSERT_EQ(ToString(run.migration->status), "cancelled");
  ASSERT_TRUE(run.extra.contains("fault")) << "the source was not killed";
  const auto [failures, said] = OwnFailures(row, run);
  EXPECT_GE(failures, 1) << "the cancel row's own check passed a run whose guest was killed";
  RecordProperty("verdict", said);
}

}  // namespace
