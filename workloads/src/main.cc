// migmon: one binary, many sub-commands (mig_mon's, plus the embedded migration engine).
#include <fmt/format.h>

#include <cstring>
#include <string_view>

#include "subcommands.hpp"

namespace {

struct Subcommand {
  std::string_view name;
  int (*run)(int argc, char** argv);
  std::string_view summary;
};

// One row per sub-command.
constexpr Subcommand kSubcommands[] = {
    {"mm_dirty", migtest::RunMmDirty, "dirty memory at a rate and pattern (the guest dirtier)"},
    {"server_rr", migtest::RunServerRr, "UDP echo server (the prober's peer)"},
    {"client_rr", migtest::RunClientRr, "UDP prober: RTTs, longest blackout, loss"},
    {"client", migtest::RunClientOneWay,
     "HOST INTERVAL_MS LOG: the prober (as client_rr); HOST [INTERVAL_MS]: one-way sender"},
    {"server", migtest::RunServerOneWay, "one-way UDP receiver: logs gaps between packets"},
    {"vm", migtest::RunVm, "emulate precopy/postcopy migration streams over TCP"},
    {"migrate", migtest::RunMigrate, "the embedded migration engine (-d destination, -s source)"},
};

void PrintUsage(std::FILE* out) {
  fmt::print(
      out,
      "usage: migmon <sub-command> [options...]   (migmon <sub-command> -h for its options)\n\n");
  for (const auto& s : kSubcommands) fmt::print(out, "  {:<10} {}\n", s.name, s.summary);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(stderr);
    return 2;
  }
  const std::string_view name = argv[1];
  if (name == "-h" || name == "--help" || name == "help") {
    PrintUsage(stdout);
    return 0;
  }
  for (const auto& s : kSubcommands) {
    if (s.name == name) return s.run(argc - 1, argv + 1);
  }
  fmt::print(stderr, "migmon: unknown sub-command '{}' (migmon -h lists them)\n", name);
  return 2;
}
