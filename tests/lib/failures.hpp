// The failures a block of test code reports, caught instead of failing the test around it: for
// checking what a harness failure says (EXPECT_NONFATAL_FAILURE checks one substring of one
// failure; this gives every message, for gmock's matchers).
//
// **Example**
//
//   EXPECT_THAT(Failures([&] { Migrate(broken); }),
//               Contains(AllOf(HasSubstr("refused capabilities"), HasSubstr("no-such"))));
#pragma once

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace migtest::test {

// Every failure `fn` reported on this thread (fatal or not), as gtest would print it (traces
// included), in order.
template <typename Fn>
std::vector<std::string> Failures(Fn&& fn) {
  testing::TestPartResultArray results;
  {
    testing::ScopedFakeTestPartResultReporter reporter(
        testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    fn();
  }
  std::vector<std::string> out;
  for (int i = 0; i < results.size(); ++i) {
    if (results.GetTestPartResult(i).failed())
      out.push_back(results.GetTestPartResult(i).message());
  }
  return out;
}

}  // namespace migtest::test
