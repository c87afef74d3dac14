// libFuzzer target: the guest serial-console reader (parse_guest_console.cc). It promises to read
// any content, binary included, so here nothing may throw at all.
#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in{std::string(migtest::fuzz::AsText(data, size))};
  migtest::GuestResult guest = migtest::ParseGuestConsole(in, migtest::fuzz::kSource);
  for (const migtest::ConsoleLine& line : guest.problems) {
    // A quoted line is one of the input's lines.
    if (line.line == 0 || line.line > guest.lines) std::abort();
  }
  migtest::RunResult run;  // as result.json carries it
  run.guest = std::move(guest);
  (void)migtest::ToJsonString(run);
  return 0;
}
