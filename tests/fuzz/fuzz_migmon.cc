// libFuzzer target: the mig_mon output parser (parse_migmon.cc).
#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  migtest::fuzz::ParseAll(data, size, migtest::Format::kMigmon);
  return 0;
}
