// libFuzzer target: the cloud-hypervisor log parser (parse_cloud_hypervisor.cc).
#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  migtest::fuzz::ParseAll(data, size, migtest::Format::kCloudHypervisor);
  return 0;
}
