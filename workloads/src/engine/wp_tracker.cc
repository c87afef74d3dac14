#include "engine/wp_tracker.hpp"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "page_writer.hpp"

namespace migtest::engine {

WpTracker::WpTracker(uint8_t* base, uint64_t pages, std::atomic<uint64_t>* bitmap,
                     const std::atomic<uint8_t>* untracked, std::atomic<uint64_t>* lost)
    : base_(base), pages_(pages), bitmap_(bitmap), untracked_(untracked), lost_(lost) {
  const int fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (fd < 0) {
    throw RuntimeError(
        fmt::format("--dirty-tracking uffd-wp needs userfaultfd: {}", ErrnoText(errno)));
  }
  uffd_ = Fd(fd);
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = UFFD_FEATURE_PAGEFAULT_FLAG_WP;
  if (::ioctl(fd, UFFDIO_API, &api) != 0 || !(api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP)) {
    throw RuntimeError(
        "--dirty-tracking uffd-wp: this kernel's userfaultfd has no write-protect mode for "
        "anonymous memory (Linux 5.7+); use --dirty-tracking bitmap");
  }
  uffdio_register reg{};
  reg.range.start = reinterpret_cast<uint64_t>(base);
  reg.range.len = pages * kPageSize;
  reg.mode = UFFDIO_REGISTER_MODE_WP;
  if (::ioctl(fd, UFFDIO_REGISTER, &reg) != 0) {
    throw RuntimeError(fmt::format("--dirty-tracking uffd-wp: register: {}", ErrnoText(errno)));
  }
  thread_ = std::thread([this] { Loop(); });
}

WpTracker::~WpTracker() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void WpTracker::Protect(uint64_t first, uint64_t n, bool on) {
  uffdio_writeprotect wp{};
  wp.range.start = reinterpret_cast<uint64_t>(base_ + first * kPageSize);
  wp.range.len = n * kPageSize;
  wp.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0;  // lifting it also wakes the faulting thread
  while (::ioctl(uffd_.get(), UFFDIO_WRITEPROTECT, &wp) != 0) {
    if (errno == EAGAIN || errno == EINTR) continue;
    throw RuntimeError(fmt::format("UFFDIO_WRITEPROTECT: {}", ErrnoText(errno)));
  }
}

void WpTracker::ProtectAll() { Protect(0, pages_, true); }

void WpTracker::Loop() {
  pollfd p{uffd_.get(), POLLIN, 0};
  while (!stop_.load()) {
    if (::poll(&p, 1, 20) <= 0) continue;
    uffd_msg msg{};
    if (::read(uffd_.get(), &msg, sizeof msg) != sizeof msg) continue;
    if (msg.event != UFFD_EVENT_PAGEFAULT || !(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)) {
      continue;
    }
    const uint64_t page =
        (msg.arg.pagefault.address - reinterpret_cast<uint64_t>(base_)) / kPageSize;
    if (page >= pages_) continue;
    if (untracked_ && untracked_[page].load(std::memory_order_acquire)) {
      lost_->fetch_add(1, std::memory_order_relaxed);  // the write goes on, unlogged
    } else {
      bitmap_[page / 64].fetch_or(uint64_t{1} << (page % 64), std::memory_order_release);
    }
    traps_.fetch_add(1, std::memory_order_relaxed);
    try {
      Protect(page, 1, false);
    } catch (const std::exception& e) {
      fmt::print(stderr, "migmon migrate: uffd-wp: {}\n", e.what());
      return;
    }
  }
}

}  // namespace migtest::engine
