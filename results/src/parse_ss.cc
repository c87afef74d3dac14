// `ss` (iproute2) output: the socket lines, without the header. `ss -K FILTER` prints the sockets
// the kernel destroyed and only those, and exits 0 when it destroyed none (no matching socket, or a
// kernel without CONFIG_INET_DIAG_DESTROY), so the lines are the only proof that a link broke.
#include <istream>

#include "migtest/results/parse.hpp"

namespace migtest {

std::vector<std::string> ParseSsSockets(std::istream& in) {
  std::vector<std::string> sockets;
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos) continue;
    line.erase(0, start);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.pop_back();
    // The header: "Netid State Recv-Q …", or "State Recv-Q …" with one socket type asked.
    const bool header = first && (line.starts_with("Netid ") || line.starts_with("State "));
    first = false;
    if (!header) sockets.push_back(line);
  }
  return sockets;
}

}  // namespace migtest
