#include "engine/engine.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <fstream>

#include "migtest/results/json.hpp"

namespace migtest::engine {

Memory::Memory(size_t bytes, bool populate) : bytes_(bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0), -1, 0);
  if (p == MAP_FAILED) {
    throw RuntimeError(
        fmt::format("cannot map {} MiB of guest memory: {}", bytes >> 20, ErrnoText(errno)));
  }
  base_ = static_cast<uint8_t*>(p);
}

Memory::~Memory() { ::munmap(base_, bytes_); }

void WriteJsonFile(const std::string& path, const RunResult& run) {
  if (path.empty()) return;
  std::ofstream out(path);
  out << ToJsonString(run, 2) << "\n";
  if (!out) throw RuntimeError(fmt::format("cannot write {}", path));
}

std::vector<Phase> PhasesBetween(const std::array<std::string_view, 5>& names,
                                 std::vector<int64_t> checkpoints) {
  std::vector<Phase> phases;
  for (size_t i = 1; i < checkpoints.size() && i <= names.size(); ++i) {
    checkpoints[i] = std::max(checkpoints[i], checkpoints[i - 1]);
    phases.push_back(
        {std::string(names[i - 1]), NsToDuration(checkpoints[i] - checkpoints[i - 1])});
  }
  return phases;
}

}  // namespace migtest::engine
