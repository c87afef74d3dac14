// libFuzzer target: the QEMU QMP transcript parser (parse_qemu_qmp.cc).
#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  migtest::fuzz::ParseAll(data, size, migtest::Format::kQemuQmp);
  return 0;
}
