// libFuzzer target: the QEMU trace-event parser (parse_qemu_trace.cc).
#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  migtest::fuzz::ParseAll(data, size, migtest::Format::kQemuTrace);
  return 0;
}
