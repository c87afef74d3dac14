#include "framed_stream.hpp"

#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace migtest {
namespace {

// Each blocking call's slice: how soon a stop request or the session's end is noticed by a thread
// that no signal woke.
constexpr std::chrono::milliseconds kSlice(200);

std::string Span(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? fmt::format("{} s", d.count() / 1000)
                               : fmt::format("{} ms", d.count());
}

}  // namespace

FramedStream::FramedStream(Fd fd, std::string peer, Options options)
    : fd_(std::move(fd)), peer_(std::move(peer)), options_(options), ahead_(options.read_ahead) {
  SetTimeouts(fd_.get(), std::min(kSlice, options_.timeout));
  int on = options_.nodelay ? 1 : 0;
  setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

void FramedStream::NoProgress(int64_t idle_since_ns, Way way, std::string_view what) const {
  const bool over = options_.session_over && options_.session_over->load();
  if (over || Interrupted()) {
    throw StreamStopped(fmt::format("{} while {} {} {} {}",
                                    over ? "the session ended" : Interruption(),
                                    way == Way::kSend ? "sending" : "receiving", what,
                                    way == Way::kSend ? "to" : "from", peer_));
  }
  const auto idle = std::chrono::nanoseconds(MonoNs() - idle_since_ns);
  if (idle < options_.timeout) return;
  if (way == Way::kSend) {
    throw RuntimeError(fmt::format("sending {} to {}: stalled for {}, the peer stopped reading",
                                   what, peer_, Span(options_.timeout)));
  }
  throw RuntimeError(fmt::format("receiving {} from {}: nothing for {} (timeout)", what, peer_,
                                 Span(options_.timeout)));
}

void FramedStream::SendFrames(iovec* iov, int count, std::string_view what) {
  int64_t idle_since = MonoNs();
  while (count > 0) {
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(count);
    // --inject-drop-after: never past the drop point; there the connection breaks.
    iovec* cut = nullptr;
    size_t cut_length = 0;
    if (drop_after_ != 0) {
      if (sent_ >= drop_after_) {
        ::shutdown(fd_.get(), SHUT_RDWR);
        throw RuntimeError(
            fmt::format("connection to {} dropped after {} bytes (injected)", peer_, sent_));
      }
      uint64_t budget = drop_after_ - sent_;
      int k = 0;
      while (k < count && budget > iov[k].iov_len) budget -= iov[k++].iov_len;
      if (k < count) {
        cut = &iov[k];
        cut_length = cut->iov_len;
        cut->iov_len = budget;
        msg.msg_iovlen = static_cast<size_t>(k + 1);
      }
    }
    const ssize_t n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
    if (cut) cut->iov_len = cut_length;
    if (n < 0) {
      const int err = errno;
      if (err == EINTR || err == EAGAIN || err == EWOULDBLOCK) {
        NoProgress(idle_since, Way::kSend, what);
        continue;
      }
      if (err == EPIPE || err == ECONNRESET) {
        throw RuntimeError(fmt::format("sending {} to {}: the peer closed the connection ({})",
                                       what, peer_, ErrnoText(err)));
      }
      throw RuntimeError(fmt::format("sending {} to {}: {}", what, peer_, ErrnoText(err)));
    }
    idle_since = MonoNs();
    sent_ += static_cast<uint64_t>(n);
    size_t left = static_cast<size_t>(n);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0 && left) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
}

size_t FramedStream::ReceiveSome(void* into, size_t length, std::string_view what) {
  const int64_t idle_since = MonoNs();
  for (;;) {
    const ssize_t n = ::recv(fd_.get(), into, length, 0);
    if (n >= 0) return static_cast<size_t>(n);
    const int err = errno;
    if (err != EINTR && err != EAGAIN && err != EWOULDBLOCK) {
      throw RuntimeError(fmt::format("receiving {} from {}: {}", what, peer_, ErrnoText(err)));
    }
    NoProgress(idle_since, Way::kReceive, what);
  }
}

bool FramedStream::ReceiveExact(void* into, size_t length, std::string_view what, bool frame_start,
                                bool end_ok) {
  auto* p = static_cast<uint8_t*>(into);
  if (length > 0 && tail_ - head_ >= length) {  // common with read-ahead: all of it is here
    std::memcpy(p, ahead_.data() + head_, length);
    head_ += length;
    return true;
  }
  size_t got = 0;
  while (got < length) {
    if (head_ < tail_) {  // read ahead already
      const size_t k = std::min(length - got, tail_ - head_);
      std::memcpy(p + got, ahead_.data() + head_, k);
      head_ += k;
      got += k;
      continue;
    }
    // Straight into the caller's memory when nothing is read ahead or the rest is big.
    const bool direct = length - got >= ahead_.size();
    const size_t n = direct ? ReceiveSome(p + got, length - got, what)
                            : ReceiveSome(ahead_.data(), ahead_.size(), what);
    if (n == 0) {
      if (frame_start && got == 0) {
        if (end_ok) return false;
        throw PeerClosed(fmt::format("{} closed the connection before sending {}", peer_, what));
      }
      throw PeerClosed(fmt::format("{} closed the connection while sending {}", peer_, what));
    }
    if (direct) {
      got += n;
    } else {
      head_ = 0;
      tail_ = n;
    }
  }
  return true;
}

void FramedStream::SkipPayload(size_t length, std::string_view what) {
  if (tail_ - head_ >= length) {  // the common case with read-ahead: all of it is here
    head_ += length;
    return;
  }
  std::vector<uint8_t> sink;
  while (length > 0) {
    if (head_ < tail_) {
      const size_t k = std::min(length, tail_ - head_);
      head_ += k;
      length -= k;
      continue;
    }
    size_t n = 0;
    if (!ahead_.empty()) {
      n = ReceiveSome(ahead_.data(), ahead_.size(), what);
      head_ = 0;
      tail_ = n;
    } else {
      sink.resize(std::min<size_t>(length, 1 << 16));
      n = ReceiveSome(sink.data(), std::min(length, sink.size()), what);
      length -= n;
    }
    if (n == 0) {
      throw PeerClosed(fmt::format("{} closed the connection while sending {}", peer_, what));
    }
  }
}

void FramedStream::DrainUntilClosed(std::string_view what) {
  head_ = tail_ = 0;
  char sink[64];
  while (ReceiveSome(sink, sizeof sink, what) > 0) {
  }
}

void FramedStream::Shutdown() {
  if (fd_) ::shutdown(fd_.get(), SHUT_RDWR);
}

void FramedStream::ShutdownWrite() {
  if (fd_) ::shutdown(fd_.get(), SHUT_WR);
}

}  // namespace migtest
