// libFuzzer target: the TLMZ report parser (parse_tlmz.cc).
#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  migtest::fuzz::ParseAll(data, size, migtest::Format::kTlmz);
  return 0;
}
