// What a matcher says about a value, for the matchers' tests (one copy, shared by their files).
#pragma once

#include <gmock/gmock.h>

#include <string>

namespace migtest::test {

// The explanation `m` gives for `value`: what a failed EXPECT_THAT prints after "which is".
template <typename T, typename M>
std::string Explain(const M& m, const T& value) {
  testing::StringMatchResultListener listener;
  testing::ExplainMatchResult(testing::Matcher<const T&>(m), value, &listener);
  return listener.str();
}

template <typename T, typename M>
bool Matches(const M& m, const T& value) {
  return testing::Matcher<const T&>(m).Matches(value);
}

}  // namespace migtest::test
