#include "engine/protocol.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <fstream>
#include <vector>

namespace migtest::engine {

Channel::Channel(Fd fd, std::string peer)
    // A peer that stops reading or writing for 20 s is dead: fail instead of hanging.
    : stream_(std::move(fd), std::move(peer), {.timeout = std::chrono::seconds(20)}) {}

std::string_view MsgName(uint32_t type) {
  switch (static_cast<Msg>(type)) {
    case Msg::kHello:
      return "the hello";
    case Msg::kReady:
      return "the ready message";
    case Msg::kPages:
      return "pages";
    case Msg::kIterEnd:
      return "an iteration's end";
    case Msg::kStopCopy:
      return "the stop-and-copy message";
    case Msg::kState:
      return "the device state";
    case Msg::kDone:
      return "the verification result";
    case Msg::kPostcopy:
      return "the switch to postcopy";
    case Msg::kRequest:
      return "a page request";
    case Msg::kEnd:
      return "the end marker";
    case Msg::kResumed:
      return "the resume message";
    case Msg::kVerify:
      return "the verification table";
  }
  return "a message";
}

void Channel::Send(Msg type, uint64_t a, uint64_t b, const void* payload, size_t length) {
  Header h;
  h.type = static_cast<uint32_t>(type);
  h.a = a;
  h.b = b;
  h.length = length;
  stream_.SendFrame(h, payload, length, MsgName(h.type));
}

Header Channel::Receive(std::string_view what) {
  Header h;
  stream_.ReceiveHeader(&h, what);
  if (h.type < static_cast<uint32_t>(Msg::kHello) || h.type > static_cast<uint32_t>(Msg::kVerify) ||
      h.length > (uint64_t{1} << 32)) {
    throw RuntimeError(fmt::format("{} sent garbage (message type {}, length {})", stream_.peer(),
                                   h.type, h.length));
  }
  payload_of_ = MsgName(h.type);
  return h;
}

void Channel::ReadPayload(void* into, size_t length) {
  stream_.ReceivePayload(into, length, payload_of_);
}

std::string Channel::ReadPayloadString(size_t length) {
  std::string s(length, '\0');
  ReadPayload(s.data(), length);
  return s;
}

void Channel::SkipPayload(size_t length) { stream_.SkipPayload(length, payload_of_); }

void GuestEcho::Open(uint16_t port) {
  if (port == 0 || open()) return;
  Fd fd = BindAny(SOCK_DGRAM, port);
  stop_ = false;
  thread_ = std::thread([this, fd = std::move(fd)]() {
    std::vector<uint8_t> buf(2048);
    pollfd p{fd.get(), POLLIN, 0};
    while (!stop_.load(std::memory_order_relaxed)) {
      if (::poll(&p, 1, 2) <= 0) continue;  // 2 ms: Close() at pause must be quick
      sockaddr_storage from{};
      socklen_t len = sizeof from;
      const ssize_t n = ::recvfrom(fd.get(), buf.data(), buf.size(), MSG_DONTWAIT,
                                   reinterpret_cast<sockaddr*>(&from), &len);
      if (n > 0) {
        ::sendto(fd.get(), buf.data(), static_cast<size_t>(n), MSG_DONTWAIT,
                 reinterpret_cast<sockaddr*>(&from), len);
      }
    }
  });
}

void GuestEcho::Close() {
  if (!open()) return;
  stop_ = true;
  thread_.join();  // the socket closes with the thread's Fd
}

std::string BootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

}  // namespace migtest::engine
