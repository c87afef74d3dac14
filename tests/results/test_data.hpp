// The results' test data (tests/results/data; CMake passes its path as MIGTEST_TEST_DATA).
#pragma once

#include <fstream>
#include <sstream>
#include <string>

namespace migtest::testing_data {

inline std::string Data(const std::string& name) {
  return std::string(MIGTEST_TEST_DATA) + "/" + name;
}

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace migtest::testing_data
