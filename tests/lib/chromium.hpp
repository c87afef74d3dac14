// Headless chromium (Debian's) for the tests of the HTML pages migtest's tools write: the report
// and the A/B page. A test skips without chromium outside CI (ci/install-deps browser installs it)
// and fails in CI; every chromium gets a fresh profile, removed once it has exited.
//
// **Example**
//
//   class PageTest : public ChromiumTest {};
//   TEST_F(PageTest, Renders) {
//     std::string dom;
//     ASSERT_TRUE(Chromium({"--dump-dom", "file://" + page.string()}, &dom));
//   }
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "migtest/fixtures/lab.hpp"
#include "migtest/fixtures/process.hpp"

namespace migtest {

class ChromiumTest : public ::testing::Test {
 protected:
  static inline const std::filesystem::path kChromium = "/usr/bin/chromium";

  void SetUp() override {
    if (!std::filesystem::exists(kChromium)) {
      if (InCi()) FAIL() << kChromium << " is missing (ci/install-deps browser)";
      GTEST_SKIP() << kChromium << " is missing (ci/install-deps browser installs it)";
    }
    InstallLeakChecker();
    dir_ = ArtifactDir();
  }
  void TearDown() override {
    lab_.Shutdown();  // chromium and its helpers are gone before their profiles are removed
    for (const auto& p : profiles_) std::filesystem::remove_all(p);
  }
  // chromium with a fresh profile (removed in TearDown), bounded by a timeout.
  [[nodiscard]] testing::AssertionResult Chromium(std::vector<std::string> args,
                                                  std::string* out = nullptr) {
    using namespace std::chrono_literals;
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "migtest-chromium-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) return testing::AssertionFailure() << "mkdtemp failed";
    profiles_.emplace_back(tmpl);
    std::vector<std::string> all = {"--headless",
                                    "--no-sandbox",
                                    "--disable-gpu",
                                    "--disable-quic",
                                    "--no-first-run",
                                    "--disable-background-networking",
                                    "--disable-component-update",
                                    "--disable-sync",
                                    "--user-data-dir=" + tmpl,
                                    "--window-size=1280,2000"};
    all.insert(all.end(), args.begin(), args.end());
    Process& p = lab_.Start({.name = "chromium", .exe = kChromium, .args = all});
    auto done = p.WaitForExitCode(0, Scaled(90s));
    if (out) *out = p.Stdout();
    return done;
  }
  std::filesystem::path dir_;
  std::vector<std::filesystem::path> profiles_;
  Supervisor lab_{ArtifactDir()};
};

}  // namespace migtest
