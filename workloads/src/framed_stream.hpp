// One TCP connection that carries frames: a fixed-size header, then a payload whose length the
// header tells. Shared by migmon's two TCP protocols, which differ only in their header:
//   vm (vm.cc, mig_mon's format)  16 bytes {magic, value}; the magic implies 0 or 4 KiB of payload
//   the engine (engine/protocol)  32 bytes {type, reserved, a, b, length}; length = payload bytes
// so the header is the caller's type (a template parameter) and the payload's length the caller's
// reading of it. The stream owns what both need alike: every blocking call bounded (200 ms slices
// of SO_RCVTIMEO/SO_SNDTIMEO, and a timeout after which a peer that made no progress counts as dead
// or hung), EINTR and stop requests, partial reads and writes, and errors that say what was being
// sent or received and to or from whom.
//
// Example:
//   FramedStream s(std::move(fd), "the source", {.timeout = std::chrono::seconds(10)});
//   s.SendFrame(header, page, kPageSize, "a page");
//   Header h;
//   if (!s.ReceiveHeader(&h, "a page request", /*end_ok=*/true)) return;  // the peer closed
//   s.ReceivePayload(buffer, PayloadOf(h), "a page request");
//
// One thread may send while another receives; two senders (or receivers) need a lock.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common.hpp"

namespace migtest {

// A send or receive cut short on purpose: a stop signal (SIGINT/SIGTERM), a cancel (SIGUSR1), or
// the session's end (Options::session_over). Not the peer's failure, and not a RuntimeError: vm
// ends its session quietly on it; the engine reports it with the phase it was in.
struct StreamStopped : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The peer closed the connection before a frame that was due, or in the middle of one.
struct PeerClosed : RuntimeError {
  using RuntimeError::RuntimeError;
};

class FramedStream {
 public:
  struct Options {
    // A peer that lets a send or receive make no progress for this long is dead or hung.
    std::chrono::milliseconds timeout = std::chrono::seconds(20);
    // TCP_NODELAY: for requests and responses (each must leave at once); a pure stream is better
    // off coalescing (fewer, fuller segments, as iperf3 runs).
    bool nodelay = true;
    // Bytes read ahead of the caller, so that a stream of small frames costs one recv per many
    // frames. 0: every read goes straight into the caller's memory (a page into guest memory).
    size_t read_ahead = 0;
    // Set by the session's owner once it is over: a blocked call then ends with StreamStopped.
    const std::atomic<bool>* session_over = nullptr;
  };

  FramedStream() = default;
  FramedStream(Fd fd, std::string peer, Options options);

  // ---- sending
  // One frame: `header`, then `length` bytes of `payload`, in one gather write. `what` names the
  // frame in errors ("pages", "a page request").
  template <typename Header>
  void SendFrame(const Header& header, const void* payload, size_t length, std::string_view what) {
    static_assert(std::is_trivially_copyable_v<Header>);
    iovec iov[2] = {{const_cast<Header*>(&header), sizeof header},
                    {const_cast<void*>(payload), length}};
    SendFrames(iov, length > 0 ? 2 : 1, what);
  }
  // Frames the caller laid out (header, payload, header, payload, ...): one gather write per
  // batch. `iov` is consumed (advanced past what went out).
  void SendFrames(iovec* iov, int count, std::string_view what);

  // ---- receiving
  // A frame's header. When the peer closed the connection before its first byte: false if
  // `end_ok` (the stream's normal end), else PeerClosed.
  template <typename Header>
  bool ReceiveHeader(Header* header, std::string_view what, bool end_ok = false) {
    static_assert(std::is_trivially_copyable_v<Header>);
    return ReceiveExact(header, sizeof *header, what, /*frame_start=*/true, end_ok);
  }
  // The frame's payload (or part of it), into `into`.
  void ReceivePayload(void* into, size_t length, std::string_view what) {
    ReceiveExact(into, length, what, /*frame_start=*/false, /*end_ok=*/false);
  }
  // Passes over `length` payload bytes.
  void SkipPayload(size_t length, std::string_view what);
  // Reads and drops whatever still comes until the peer closes the connection.
  void DrainUntilClosed(std::string_view what);

  uint64_t bytes_sent() const { return sent_; }
  // Fault knob: after `bytes` sent, the connection breaks (shutdown), as a cut cable would.
  void DropAfter(uint64_t bytes) { drop_after_ = bytes; }
  void Shutdown();       // both ways: also wakes a receiver blocked in another thread
  void ShutdownWrite();  // we are done; the peer reads to the end
  int fd() const { return fd_.get(); }
  const std::string& peer() const { return peer_; }

 private:
  enum class Way { kSend, kReceive };
  bool ReceiveExact(void* into, size_t length, std::string_view what, bool frame_start,
                    bool end_ok);
  size_t ReceiveSome(void* into, size_t length, std::string_view what);  // 0 at the end
  // A call came back without progress (a slice ran out, a signal): throws StreamStopped or the
  // timeout's error when it is time to, else returns to retry.
  void NoProgress(int64_t idle_since_ns, Way way, std::string_view what) const;

  Fd fd_;
  std::string peer_;
  Options options_;
  uint64_t sent_ = 0;
  uint64_t drop_after_ = 0;
  std::vector<uint8_t> ahead_;  // Options::read_ahead bytes; [head_, tail_) not yet consumed
  size_t head_ = 0, tail_ = 0;
};

}  // namespace migtest
