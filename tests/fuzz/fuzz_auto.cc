// libFuzzer target: format detection (formats.cc) and then whichever parser claims the input.
#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  migtest::fuzz::ParseAll(data, size, migtest::Format::kAuto);
  return 0;
}
