#include "engine/postcopy.hpp"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "page_writer.hpp"

namespace migtest::engine {

PostcopyDestination::PostcopyDestination(uint8_t* base, uint64_t pages)
    : base_(base),
      pages_(pages),
      present_(pages),
      requested_at_(pages),
      installed_gen_(pages),
      torn_(pages) {
  const int fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (fd < 0) {
    throw NoUserfaultfd(
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
  if (present_[page].load(std::memory_order_acquire)) {
    // After the switch, the other channel placed it first (both carry the stopped source's
    // content). Before it, a precopy round resends a page dirtied since: the newer copy
    // replaces the old one, as a plain precopy's would (nothing runs here yet, and a present
    // page takes no fault). Dropping it left the stale copy in place, which only the old
    // content-based discard at the switch had hidden.
    if (started_.load(std::memory_order_acquire)) return;
    std::memcpy(base_ + page * kPageSize, data, kPageSize);
    installed_gen_[page] = PageGeneration(data);
    Check(page, data);
    return;
  }
  uffdio_copy copy{};
  copy.dst = reinterpret_cast<uint64_t>(base_ + page * kPageSize);
  copy.src = reinterpret_cast<uint64_t>(data);
  copy.len = kPageSize;
  while (::ioctl(uffd_.get(), UFFDIO_COPY, &copy) != 0) {
    if (errno == EEXIST) return;  // the other channel placed it first
    if (errno == EAGAIN || errno == EINTR) continue;
    throw RuntimeError(fmt::format("UFFDIO_COPY of page {}: {}", page, ErrnoText(errno)));
  }
  // Only the thread whose copy landed gets here for this placement; read after Finish().
  installed_gen_[page] = PageGeneration(data);
  present_[page].store(1, std::memory_order_release);
  present_count_.fetch_add(1);
  if (started_.load(std::memory_order_acquire)) {
    const int64_t asked = requested_at_[page].load(std::memory_order_acquire);
    if (asked != 0) {
      std::lock_guard lock(mutex_);
      latencies_.push_back(Duration((MonoNs() - asked) / 1000));
    }
  }
  // The copy that was placed, not the page: a woken vCPU may already be writing it. Checked on
  // arrival, in precopy too, so that no check of present pages lengthens the downtime.
  Check(page, data);
}

void PostcopyDestination::Check(uint64_t page, const uint8_t* p) {
  if (!started_.load(std::memory_order_acquire)) {
    // A precopy round reads pages while the source's vCPUs write them: a copy caught mid-write
    // is torn, and the write's dirty bit (set after it) sends the page again or discards it at
    // the switch. Only a torn copy still in place at the switch is an error (Start() looks).
    // Precopy arrivals come from the main connection's one reader: no lock needed.
    torn_[page] = VerifyPage(p, page, nullptr) ? 0 : 1;
    return;
  }
  std::string why;
  if (!VerifyPage(p, page, &why)) {
    std::lock_guard lock(mutex_);
    if (first_error_.empty()) first_error_ = why;
  }
}

bool PostcopyDestination::CompareGenerations(const std::vector<uint64_t>& table,
                                             std::string* why) const {
  for (uint64_t i = 0; i < pages_; ++i) {
    if (installed_gen_[i] != table[i]) {
      *why = fmt::format("page {}: generation {}, the source's is {} (a lost update)", i,
                         installed_gen_[i], table[i]);
      return false;
    }
  }
  return true;
}

void PostcopyDestination::Start(Channel urgent, const std::vector<uint64_t>& discard) {
  // Pages that came in precopy and were dirtied on the source since, by the source's dirty
  // bitmap (not by their content: a page whose dirty bit was lost stays, stale, as in a VMM).
  for (uint64_t i = 0; i < pages_; ++i) {
    uint8_t* p = base_ + i * kPageSize;
    if (present_[i].load() && ((discard[i / 64] >> (i % 64)) & 1)) {
      if (::madvise(p, kPageSize, MADV_DONTNEED) != 0) {
        throw RuntimeError(fmt::format("discarding stale page {}: {}", i, ErrnoText(errno)));
      }
      present_[i].store(0);
      present_count_.fetch_sub(1);
      ++discarded_;
      torn_[i] = 0;
    } else if (torn_[i]) {
      // Torn in precopy and neither sent again nor dropped: the guest would run on it.
      std::string why;
      VerifyPage(p, i, &why);
      std::lock_guard lock(mutex_);
      if (first_error_.empty()) {
        first_error_ = why +
                       " (a copy precopy caught mid-write, kept at the switch: the page's "
                       "dirty bit was lost)";
      }
    }
  }
  urgent_ = std::move(urgent);
  started_ = true;
  fault_thread_ = std::thread([this] { FaultLoop(); });
  urgent_thread_ = std::thread([this] { UrgentLoop(); });
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
    while (true) {  // ends with the channel: the source's close, or Stop()'s shutdown
      Header h = urgent_.Receive("a page");
      if (h.type != static_cast<uint32_t>(Msg::kPages) || h.b != 1 || h.a >= pages_ ||
          h.length != kPageSize) {
        throw RuntimeError(fmt::format("bad reply on the urgent channel (type {})", h.type));
      }
      urgent_.ReadPayload(buf.data(), kPageSize);
      Install(h.a, buf.data());
    }
  } catch (const std::exception& e) {
    if (!stop_.load() && !ending_.load()) {
      std::lock_guard lock(mutex_);
      if (urgent_error_.empty()) urgent_error_ = e.what();
    }
  }
  urgent_done_ = true;
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
  ending_ = true;
  {
    std::lock_guard lock(urgent_send_);
    urgent_.Send(Msg::kEnd);
  }
  // Shutting the channel down at once would break the source's replies to requests the push
  // made redundant (EPIPE there): read them until the source closes, 10 s at most.
  const int64_t drain_deadline = MonoNs() + 10'000'000'000;
  while (!urgent_done_.load() && MonoNs() < drain_deadline) ::usleep(1000);
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
  // A vCPU blocked on a page that never came (the source died, the link went down) would block
  // for good, and so would the guest's stop: unregistering wakes it, and the kernel then gives it
  // a zero page. After a complete postcopy every page is present and nothing changes.
  if (!unregistered_.exchange(true)) {
    uffdio_range range{};
    range.start = reinterpret_cast<uint64_t>(base_);
    range.len = pages_ * kPageSize;
    (void)::ioctl(uffd_.get(), UFFDIO_UNREGISTER, &range);
  }
}

}  // namespace migtest::engine
