// Parses one migration log and prints its downtime: the smallest program a consumer writes.
#include <iostream>
#include <migtest/results.hpp>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: parse_one LOG\n";
    return 2;
  }
  try {
    migtest::RunResult run = migtest::ParseFile(argv[1]);
    if (run.migration && run.migration->downtime) {
      std::cout
          << "downtime_ms "
          << std::chrono::duration_cast<std::chrono::milliseconds>(*run.migration->downtime).count()
          << "\n";
    } else {
      std::cout << "no downtime figure\n";
    }
  } catch (const migtest::ParseError& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
