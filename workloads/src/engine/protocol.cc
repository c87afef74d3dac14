#include "engine/protocol.hpp"

#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <vector>

namespace migtest::engine {

Channel::Channel(Fd fd, std::string peer) : fd_(std::move(fd)), peer_(std::move(peer)) {
  // A peer that stops reading or writing for this long is dead: fail instead of hanging.
  SetTimeouts(fd_.get(), std::chrono::seconds(20));
  int on = 1;
  setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

void Channel::Write(const void* data, size_t length) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (length > 0) {
    size_t chunk = length;
    if (drop_after_ != 0) {
      if (sent_ >= drop_after_) {
        ::shutdown(fd_.get(), SHUT_RDWR);
        throw RuntimeError(
            fmt::format("connection to {} dropped after {} bytes (injected)", peer_, sent_));
      }
      chunk = std::min<uint64_t>(chunk, drop_after_ - sent_);
    }
    const ssize_t n = ::send(fd_.get(), p, chunk, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        if (!Interrupted()) continue;
        throw RuntimeError(fmt::format("{} while sending to {}", Interruption(), peer_));
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        throw RuntimeError(fmt::format("sending to {}: the peer stopped reading (timeout)", peer_));
      }
      throw RuntimeError(fmt::format("sending to {}: {}", peer_, ErrnoText(errno)));
    }
    p += n;
    length -= static_cast<size_t>(n);
    sent_ += static_cast<uint64_t>(n);
  }
}

void Channel::Send(Msg type, uint64_t a, uint64_t b, const void* payload, size_t length) {
  Header h;
  h.type = static_cast<uint32_t>(type);
  h.a = a;
  h.b = b;
  h.length = length;
  Write(&h, sizeof h);
  if (length > 0) Write(payload, length);
}

void Channel::ReadPayload(void* into, size_t length) {
  auto* p = static_cast<uint8_t*>(into);
  while (length > 0) {
    const ssize_t n = ::recv(fd_.get(), p, length, 0);
    if (n == 0) throw RuntimeError(fmt::format("{} closed the connection", peer_));
    if (n < 0) {
      if (errno == EINTR) {
        if (!Interrupted()) continue;
        throw RuntimeError(fmt::format("{} while receiving from {}", Interruption(), peer_));
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        throw RuntimeError(fmt::format("receiving from {}: nothing for 20 s (timeout)", peer_));
      }
      throw RuntimeError(fmt::format("receiving from {}: {}", peer_, ErrnoText(errno)));
    }
    p += n;
    length -= static_cast<size_t>(n);
  }
}

Header Channel::Receive() {
  Header h;
  ReadPayload(&h, sizeof h);
  if (h.type < static_cast<uint32_t>(Msg::kHello) || h.type > static_cast<uint32_t>(Msg::kVerify) ||
      h.length > (uint64_t{1} << 32)) {
    throw RuntimeError(
        fmt::format("{} sent garbage (message type {}, length {})", peer_, h.type, h.length));
  }
  return h;
}

std::string Channel::ReadPayloadString(size_t length) {
  std::string s(length, '\0');
  ReadPayload(s.data(), length);
  return s;
}

void Channel::SkipPayload(size_t length) {
  std::vector<uint8_t> sink(std::min<size_t>(length, 1 << 16));
  while (length > 0) {
    const size_t n = std::min(length, sink.size());
    ReadPayload(sink.data(), n);
    length -= n;
  }
}

void Channel::Shutdown() {
  if (fd_) ::shutdown(fd_.get(), SHUT_RDWR);
}

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
