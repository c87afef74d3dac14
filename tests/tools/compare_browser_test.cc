// migtest-compare's A/B page rendered by a real browser (headless chromium): on a pair of folders
// where the candidate's downtime regressed and on one where nothing did, the screenshot is not
// blank and the DOM chromium built says the verdict first, in the text output's words, with both
// sides labelled. Skips without chromium outside CI; fails in CI (tests/lib/chromium.hpp).
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "chromium.hpp"
#include "migtest/fixtures/lab.hpp"
#include "migtest/fixtures/process.hpp"

namespace migtest {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

class CompareBrowserTest : public ChromiumTest {
 protected:
  // <pair>/<side>/PrecopySlo/Busy/run-<k>/{result.json,summary.txt}: ten runs of downtime
  // spread ±4 % around `mean` ms.
  void WriteSide(const fs::path& pair, const std::string& side, double mean) {
    for (int k = 0; k < 10; ++k) {
      const double ms = mean * (1 + (-1 + 2.0 * ((k + 3) % 10) / 9) * 0.04);
      const fs::path dir = pair / side / "PrecopySlo" / "Busy" / fmt::format("run-{}", k + 1);
      fs::create_directories(dir);
      nlohmann::json doc = {{"schema", "migtest.result/1"},
                            {"test", "PrecopySlo.Busy"},
                            {"migration",
                             {{"status", "completed"},
                              {"downtime_us", std::lround(ms * 1000)},
                              {"total_time_ms", 1500 + 10 * k}}}};
      std::ofstream(dir / "result.json") << doc.dump(2);
      std::ofstream(dir / "summary.txt") << "run " << k + 1 << "\n";
    }
  }
  // The page of one pair, and the text output's verdict line.
  std::pair<fs::path, std::string> Page(const std::string& name, double candidate_mean,
                                        int want_exit) {
    const fs::path pair = dir_ / name;
    fs::remove_all(pair);
    WriteSide(pair, "baseline", 60);
    WriteSide(pair, "candidate", candidate_mean);
    const fs::path page = pair / "ab.html";
    Process& p = lab_.Start({.name = "compare-" + name,
                             .exe = MIGTEST_COMPARE,
                             .args = {(pair / "baseline").string(), (pair / "candidate").string(),
                                      "--html", page.string()}});
    EXPECT_TRUE(p.WaitForExitCode(want_exit, Scaled(30s))) << p.Stdout();
    return {page, p.Lines().empty() ? "" : p.Lines().back()};
  }
};

TEST_F(CompareBrowserTest, ChromiumRendersTheVerdictFirstAndBothSides) {
  const auto [regressed, regressed_verdict] = Page("regressed", 72, 1);
  const auto [clean, clean_verdict] = Page("clean", 60, 0);
  ASSERT_EQ(regressed_verdict,
            "verdict: REGRESSION: 1 regression in timings: PrecopySlo.Busy downtime +20.0% "
            "(p=0.0001)");
  ASSERT_EQ(clean_verdict, "verdict: no regression");

  std::ofstream(dir_ / "empty.html") << "<!DOCTYPE html><html><body></body></html>";
  const auto shot = dir_ / "regressed.png", empty_shot = dir_ / "empty.png";
  ASSERT_TRUE(Chromium({"--screenshot=" + shot.string(), "file://" + regressed.string()}));
  ASSERT_TRUE(Chromium(
      {"--screenshot=" + empty_shot.string(), "file://" + (dir_ / "empty.html").string()}));
  ASSERT_TRUE(
      Chromium({"--screenshot=" + (dir_ / "clean.png").string(), "file://" + clean.string()}));
  // A blank 1280x2000 PNG compresses to a few KB; text and plots do not.
  const auto size = fs::file_size(shot), empty = fs::file_size(empty_shot);
  EXPECT_GT(size, 30u * 1024) << shot;
  EXPECT_GT(size, 5 * empty) << shot << " vs the empty page's " << empty_shot;

  for (const auto& [page, verdict] :
       {std::pair{regressed, regressed_verdict}, std::pair{clean, clean_verdict}}) {
    std::string dom;
    ASSERT_TRUE(Chromium({"--dump-dom", "file://" + page.string()}, &dom)) << page;
    // The verdict, as the text output says it, before any plot.
    const auto at = dom.find(verdict);
    ASSERT_NE(at, std::string::npos) << page << "\n" << dom;
    EXPECT_LT(at, dom.find("<svg")) << page;
    // Both sides labelled in the heading, the outcome table and the plots' rows.
    EXPECT_THAT(dom, HasSubstr(">A (baseline)</span> vs <span class=\"sideB\">B (candidate)<"));
    EXPECT_THAT(dom, HasSubstr(">A (baseline): 10 runs</text>"));
    EXPECT_THAT(dom, HasSubstr(">B (candidate): 10 runs</text>"));
    EXPECT_THAT(dom, HasSubstr("<td class=\"sideA\">A (baseline)</td><td>10</td>"));
    EXPECT_THAT(dom, Not(HasSubstr("<script")));
  }
}

}  // namespace
}  // namespace migtest
