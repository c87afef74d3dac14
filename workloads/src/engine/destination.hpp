// The engine's destination side (migmon migrate -d): listens, receives the guest's memory
// (precopy, or postcopy through userfaultfd), checks it, resumes the guest and reports the
// downtime's end on its own clock. Internal to migmon migrate.
#pragma once

#include <cstdint>
#include <string>

namespace migtest::engine {

struct DestinationOptions {
  uint16_t port = 0;
  uint64_t memory = 0;  // when given, guest RAM is allocated (faulted in) before "ready"
  std::string json_file;
  int64_t run_after_ms = 500;
  int64_t corrupt_page = -1;    // test knob: a body byte, before the check
  int64_t corrupt_header = -1;  // test knob: the header's checksum, before the check
};

// Serves one incoming migration, writes the result. Returns the exit code.
int RunDestination(DestinationOptions o);

}  // namespace migtest::engine
