#include "engine/postcopy.hpp"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "page_writer.hpp"

namespace migtest::engine {

PostcopyDestination::PostcopyDestination(uint8_t* base, uint64_t pages)
    : base_(base), pages_(pages), present_(pages), requested_at_(pages) {
  const int fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (fd < 0) {
    throw RuntimeError(
        fmt::format("postcopy needs userfaultfd: {} (root, or vm.unprivileged_userfaultfd=1)",
                    ErrnoText(errno)));
  }
  uffd_ = Fd(fd);
  uffdio_api api{};
  api.api = UFFD_API;
  if (::ioctl(fd, UFFDIO_API, &api) != 0) {
    throw RuntimeError(fmt::format("userfaultfd API handshake: {}", ErrnoText(errno)));
  }
  uffdio_register reg{};
  reg.range.start = reinterpret_cast<uint64_t>(base);
  reg.range.len = pages * kPageSize;
  reg.mode = UFFDIO_REGISTER_MODE_MISSING;
  if (::ioctl(fd, UFFDIO_REGISTER, &reg) != 0) {
    throw RuntimeError(fmt::format("userfaultfd register: {}", ErrnoText(errno)));
  }
}

PostcopyDestination::~PostcopyDestination() { Stop(); }

void PostcopyDestination::Install(uint64_t page, const uint8_t* data) {
  if (present_[page].load(std::memory_order_acquire)) return;
  uffdio_copy copy{};
  copy.dst = reinterpret_cast<uint64_t>(base_ + page * kPageSize);
  copy.src = reinterpret_cast<uint64_t>(data);
  copy.len = kPageSize;
  while (::ioctl(uffd_.get(), UFFDIO_COPY, &copy) != 0) {
    if (errno == EEXIST) return;  // the other channel placed it first
    if (errno == EAGAIN || errno == EINTR) continue;
    throw RuntimeError(fmt::format("UFFDIO_COPY of page {}: {}", page, ErrnoText(errno)));
  }
  present_[page].store(1, std::memory_order_release);
  present_count_.fetch_add(1);
  if (started_.load(std::memory_order_acquire)) {
    const int64_t asked = requested_at_[page].load(std::memory_order_acquire);
    if (asked != 0) {
      std::lock_guard lock(mutex_);
      latencies_.push_back(Duration((MonoNs() - asked) / 1000));
    }
    // The copy that was placed, not the page: a woken vCPU may already be writing it.
    Check(page, data);
  }
}

void PostcopyDestination::Check(uint64_t page, const uint8_t* p) {
  std::string why;
  bool ok = VerifyPage(p, page, &why);
  if (ok && PageGeneration(p) != table_[page]) {
    why = fmt::format("page {}: generation {}, the source's is {}", page, PageGeneration(p),
                      table_[page]);
    ok = false;
  }
  if (!ok) {
    std::lock_guard lock(mutex_);
    if (first_error_.empty()) first_error_ = why;
  }
}

void PostcopyDestination::Start(Channel urgent, std::vector<uint64_t> table) {
  table_ = std::move(table);
  // Pages that came in precopy and were written on the source since are stale: drop them, so
  // that they fault and come again (QEMU's discard of the dirty bitmap at the switch).
  for (uint64_t i = 0; i < pages_; ++i) {
    uint8_t* p = base_ + i * kPageSize;
    if (present_[i].load() && PageGeneration(p) != table_[i]) {
      if (::madvise(p, kPageSize, MADV_DONTNEED) != 0) {
        throw RuntimeError(fmt::format("discarding stale page {}: {}", i, ErrnoText(errno)));
      }
      present_[i].store(0);
      present_count_.fetch_sub(1);
      ++discarded_;
    }
  }
  urgent_ = std::move(urgent);
  started_ = true;
  fault_thread_ = std::thread([this] { FaultLoop(); });
  urgent_thread_ = std::thread([this] { UrgentLoop(); });
}

bool PostcopyDestination::VerifyPresent(std::string* why) {
  for (uint64_t i = 0; i < pages_; ++i) {
    if (present_[i].load(std::memory_order_acquire)) Check(i, base_ + i * kPageSize);
  }
  return Verified(why);
}

void PostcopyDestination::FaultLoop() {
  pollfd p{uffd_.get(), POLLIN, 0};
  while (!stop_.load()) {
    if (::poll(&p, 1, 20) <= 0) continue;
    uffd_msg msg{};
    const ssize_t n = ::read(uffd_.get(), &msg, sizeof msg);
    if (n != sizeof msg || msg.event != UFFD_EVENT_PAGEFAULT) continue;
    const uint64_t page =
        (msg.arg.pagefault.address - reinterpret_cast<uint64_t>(base_)) / kPageSize;
    if (page >= pages_ || present_[page].load()) continue;
    int64_t expected = 0;
    if (!requested_at_[page].compare_exchange_strong(expected, MonoNs()))
      continue;  // asked already
    try {
      std::lock_guard lock(urgent_send_);
      urgent_.Send(Msg::kRequest, page);
    } catch (const std::exception& e) {
      std::lock_guard lock(mutex_);
      if (urgent_error_.empty()) urgent_error_ = e.what();
      return;
    }
  }
}

void PostcopyDestination::UrgentLoop() {
  std::vector<uint8_t> buf(kPageSize);
  try {
    while (!stop_.load()) {
      Header h = urgent_.Receive();
      if (h.type != static_cast<uint32_t>(Msg::kPages) || h.b != 1 || h.a >= pages_ ||
          h.length != kPageSize) {
        throw RuntimeError(fmt::format("bad reply on the urgent channel (type {})", h.type));
      }
      urgent_.ReadPayload(buf.data(), kPageSize);
      Install(h.a, buf.data());
    }
  } catch (const std::exception& e) {
    if (!stop_.load()) {
      std::lock_guard lock(mutex_);
      if (urgent_error_.empty()) urgent_error_ = e.what();
    }
  }
}

void PostcopyDestination::Finish() {
  const int64_t deadline = MonoNs() + 20'000'000'000;
  while (present_count_.load() < pages_) {
    if (MonoNs() > deadline) {
      throw RuntimeError(fmt::format("postcopy: {} of {} pages never arrived",
                                     pages_ - present_count_.load(), pages_));
    }
    {
      std::lock_guard lock(mutex_);
      if (!urgent_error_.empty()) throw RuntimeError("postcopy urgent channel: " + urgent_error_);
    }
    ::usleep(1000);
  }
  stop_ = true;
  {
    std::lock_guard lock(urgent_send_);
    urgent_.Send(Msg::kEnd);
  }
  Stop();
}

bool PostcopyDestination::Verified(std::string* why) const {
  std::lock_guard lock(mutex_);
  if (first_error_.empty()) return true;
  *why = first_error_;
  return false;
}

std::vector<Duration> PostcopyDestination::Latencies() const {
  std::lock_guard lock(mutex_);
  return latencies_;
}

void PostcopyDestination::Stop() {
  stop_ = true;
  urgent_.Shutdown();  // unblocks the receiver
  if (fault_thread_.joinable()) fault_thread_.join();
  if (urgent_thread_.joinable()) urgent_thread_.join();
}

}  // namespace migtest::engine
