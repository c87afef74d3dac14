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
  // Run before it migrates, with the test's artifact folder: makes what the scenario reads (keys).
  std::function<void(const Row&, Scenario&, const std::filesystem::path&)> prepare{};
  // The row's own figure, checked after the common ones (EXPECT_THAT on the run).
  std::function<void(const RunResult&)> own{};
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

// PSK creds for QemuSpec::tls: a keys.psk (`qemu:<hex>`, as QEMU's tls-creds-psk reads it) in
// the test's folder; a row named *_mismatched gives the destination a folder with another key.
void PskKeys(const Row& row, Scenario& s, const std::filesystem::path& artifacts) {
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

std::vector<Row> Rows() {
  std::vector<Row> rows;
  // precopy: the channel kinds and the return path.
  rows.push_back({.family = "precopy", .name = "tcp", .scenario = Base()});
  {
    Scenario s = Base();
    s.qemu.transport = "unix";
    rows.push_back(
        {.family = "precopy", .name = "unix", .scenario = s, .own = [](const RunResult& run) {
           // The knob reached QEMU: the source was told a unix: URI, not tcp:.
           ASSERT_TRUE(run.extra.contains("qemu"));
           EXPECT_THAT(run.extra.at("qemu").value("migrate_uri", ""), testing::StartsWith("unix:"));
         }});
  }
  rows.push_back({.family = "precopy",
                  .name = "switchover_ack",
                  .scenario = With(Base(), {{"return-path", true}, {"switchover-ack", true}})});
  rows.push_back(Skipped("precopy", "fd",
                         "migtest's qemu backend cannot yet hand QEMU a socket (getfd over QMP)"));

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
  // cap); QEMU throttles its vCPUs from 30 % in steps of 20, never above 90 %. As QEMU's own
  // test does, this row checks the throttle's steps, not convergence: under TCG the throttle does
  // not slow this guest's dirtier enough (measured: 128 MiB/s of dirty pages at every throttle
  // from 30 to 90 %, the whole working set dirty at each sync, 64 MiB or 256 MiB alike, no
  // convergence in 60 s), so QEMU cancels it at 20 s and the guest runs on at the source.
  {
    Scenario s = Base(2000_MiBps);
    s.auto_converge = true;
    s.timeout = 20s;
    s.qemu.parameters = {
        {"cpu-throttle-initial", 30}, {"cpu-throttle-increment", 20}, {"max-cpu-throttle", 90}};
    rows.push_back({.family = "auto_converge",
                    .name = "throttle",
                    .scenario = s,
                    .completes = false,
                    .own = [](const RunResult& run) {
                      EXPECT_THAT(run.migration, FirstCpuThrottle(Ge(30)));
                      // Stepped up at least once, and never past the max.
                      EXPECT_THAT(run.migration, MaxCpuThrottle(AllOf(Ge(50), Le(90))));
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
  rows.push_back(Skipped("postcopy", "double_failure",
                         "migtest's qemu backend cannot yet break the link during a recovery"));

  // What migtest's qemu backend does not drive yet is listed, so the catalogue shows its gaps.
  // cancel: migrate_cancel at the first poll (setup, or active if setup was quicker), 1 s into
  // the active phase, and at pre-switchover (QEMU waits there with pause-before-switchover, the
  // guest paused). The migration must end cancelled and the guest run on at the source.
  rows.push_back(Cancel("setup", {.cancel_after = 0ms}));
  rows.push_back(Cancel("active", {.cancel_after = 1000ms, .cancel_in = "active"}));
  rows.push_back(Cancel("pre_switchover", {.capabilities = {{"pause-before-switchover", true}},
                                           .cancel_after = 0ms,
                                           .cancel_in = "pre-switchover"}));
  rows.push_back(Skipped("cancel", "device",
                         "migtest's qemu backend cannot yet continue from pre-switchover "
                         "(migrate-continue) to cancel in the device state"));
  rows.push_back(Skipped("cancel", "then_new_destination",
                         "migtest's qemu backend cannot yet migrate twice in one run"));

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
  for (const char* f : {"plain", "mapped_ram", "mapped_ram_multifd"}) {
    rows.push_back(Skipped("file", f, "migtest's qemu backend cannot yet migrate to a file: URI"));
  }
  // TLS (PSK): the busy precopy of precopy/tcp with the channel encrypted (its figures beside
  // that row's are TLS's cost); with the destination holding another key, the handshake fails
  // and the guest runs on at the source.
  {
    Scenario s = Base();
    s.qemu.tls = "psk";
    rows.push_back({.family = "tls", .name = "psk", .scenario = s, .prepare = PskKeys});
    rows.push_back({.family = "tls",
                    .name = "psk_mismatched",
                    .scenario = s,
                    .completes = false,
                    .prepare = PskKeys,
                    .own = Refused("TLS handshake failed")});
  }
  rows.push_back(Skipped("tls", "x509", "migtest's qemu backend gives QEMU PSK creds only"));

  rows.push_back(Skipped("cross_version", "qemu72_to_qemu10",
                         "migtest's qemu backend cannot yet run two QEMU binaries in one run"));

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
  }
  if (run.probe) line += ", blackout " + d(run.probe->longest_blackout);
  return line;
}

class Catalogue : public MigrationTest, public testing::WithParamInterface<Row> {
 protected:
  Catalogue() : MigrationTest("qemu") {}
};

class CatalogueBreakIt : public MigrationTest {
 protected:
  CatalogueBreakIt() : MigrationTest("qemu") {}
};

TEST_P(Catalogue, Scenario) {
  const Row& row = GetParam();
  if (!row.needs.empty()) GTEST_SKIP() << row.needs;
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
  if (row.prepare) row.prepare(row, scenario, artifacts());
  RunResult run = Migrate(scenario);
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
    return;
  }
  ASSERT_EQ(ToString(m.status), "completed") << m.error.value_or("no error reported");
  EXPECT_THAT(run.migration, MemoryVerified());  // by the guest's dirtier, on the destination
  EXPECT_THAT(run, GuestHealthy(1s));            // on the source: it ran on
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

// Broken on purpose: one migration over tcp with multifd but neither XBZRLE, compression nor
// zero-page detection, judged by the own checks of the rows that need them. Each must fail: no
// XBZRLE pages, a multifd stream no smaller than its pages, no zero pages, no unix: URI.
Row FindRow(const std::string& family, const std::string& name) {
  for (Row& r : Rows()) {
    if (r.family == family && r.name == name) return r;
  }
  ADD_FAILURE() << "no catalogue row " << family << "/" << name;
  return {};
}

TEST_F(CatalogueBreakIt, OwnChecksFailWhenTheirFeatureIsOff) {
  RunResult run = Migrate(With(Base(), {{"multifd", true}},
                               {{"multifd-channels", 2}, {"zero-page-detection", "none"}}));
  ASSERT_TRUE(run.migration);
  ASSERT_EQ(ToString(run.migration->status), "completed");
  for (const auto& [family, name, words] : {std::tuple{"xbzrle", "cache_32mib", "counter '"},
                                            {"multifd", "zstd", "counter '"},
                                            {"multifd", "zero_page_legacy", "counter '"},
                                            {"precopy", "unix", "unix:"}}) {
    const Row row = FindRow(family, name);
    ASSERT_TRUE(row.own) << family << "/" << name;
    testing::TestPartResultArray failures;
    {
      testing::ScopedFakeTestPartResultReporter intercept(
          testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
      row.own(run);
    }
    std::string said;
    for (int i = 0; i < failures.size(); ++i) said += failures.GetTestPartResult(i).message();
    EXPECT_GE(failures.size(), 1) << "the own check of " << family << "/" << name
                                  << " passed a run without its feature";
    EXPECT_THAT(said, testing::HasSubstr(words)) << family << "/" << name;
  }
}

}  // namespace
