// libFuzzer target: the QEMU DEBUG_MIGRATION text parser (parse_qemu_debug.cc), every run of a log.
#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  migtest::fuzz::ParseAll(data, size, migtest::Format::kQemuDebug);
  return 0;
}
