// The embedded migration engine's wire protocol and shared pieces (source and destination).
//
// One TCP connection carries the migration stream; every message is a 32-byte header (type, two
// 64-bit arguments, payload length) and a payload:
//   kHello      a=pages            payload: JSON {vcpus, rate, pattern, echo_port, boot_id, …}
//   kReady      a=dest mono ns     (the destination mapped its memory)
//   kPages      a=first index, b=count, payload: count × 4 KiB, contiguous pages
//   kIterEnd    a=iteration
//   kStopCopy   a=source pause mono ns (downtime starts there)
//   kState      precopy: the device state, JSON {"pages_sent": N}: the destination checks that
//               every page arrived, and N pages, before resuming;
//               postcopy: the dirty bitmap at the switch (8 bytes per 64 pages): what to discard
//   kDone       a=dest resume mono ns, b=1 if memory verified; payload: JSON (error, latency)
//   kPostcopy   a=source pause mono ns; the destination runs and requests what it lacks
//   kRequest    (urgent connection, destination → source) a=page index
//   kResumed    a=dest resume mono ns; payload: JSON {"checkpoints": [mono ns, …]}, the
//               destination's ends of the downtime phases before the resume
//   kVerify     (after kResumed) every page's generation in the source's memory as it stopped
//               (8 bytes a page): what the destination's pages must hold
// All integers little-endian (host order; both sides are the same binary).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

#include "common.hpp"
#include "framed_stream.hpp"

namespace migtest::engine {

enum class Msg : uint32_t {
  kHello = 1,
  kReady,
  kPages,
  kIterEnd,
  kStopCopy,
  kState,
  kDone,
  kPostcopy,
  kRequest,
  kEnd,
  kResumed,
  kVerify,  // the last: Channel::Receive rejects types past it
};

struct Header {
  uint32_t type = 0;
  uint32_t reserved = 0;
  uint64_t a = 0;
  uint64_t b = 0;
  uint64_t length = 0;  // payload bytes
};
static_assert(sizeof(Header) == 32);

// The engine's frames on a FramedStream (timeouts, EINTR, stop requests, partial reads and writes
// are the stream's). Errors name the message by its type, and the peer.
class Channel {
 public:
  Channel() = default;
  explicit Channel(Fd fd, std::string peer);
  void Send(Msg type, uint64_t a, uint64_t b, const void* payload, size_t length);
  void Send(Msg type, uint64_t a = 0, uint64_t b = 0) { Send(type, a, b, nullptr, 0); }
  // The next header (then ReadPayload); `what` names the message expected, for errors.
  Header Receive(std::string_view what = "a message");
  void ReadPayload(void* into, size_t length);
  std::string ReadPayloadString(size_t length);
  void SkipPayload(size_t length);
  uint64_t bytes_sent() const { return stream_.bytes_sent(); }
  // Fault knob: after `bytes`, the connection breaks (shutdown), as a cut cable would.
  void DropAfter(uint64_t bytes) { stream_.DropAfter(bytes); }
  int fd() const { return stream_.fd(); }
  void Shutdown() { stream_.Shutdown(); }

 private:
  FramedStream stream_;
  std::string_view payload_of_ = "a message";  // the last header's message, for payload errors
};

// A message type as errors name it: "pages", "the device state".
std::string_view MsgName(uint32_t type);

// The guest's network presence: a UDP echo on one port, opened where the guest runs.
class GuestEcho {
 public:
  ~GuestEcho() { Close(); }
  void Open(uint16_t port);  // no-op for port 0
  void Close();              // idempotent
  bool open() const { return thread_.joinable(); }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// This boot's id: two processes with the same id share CLOCK_MONOTONIC.
std::string BootId();

}  // namespace migtest::engine
