#include "common.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>

#include "migtest/results/json.hpp"

namespace migtest {
namespace {

std::atomic<int> g_stop_signal{0};

void OnStopSignal(int sig) { g_stop_signal.store(sig); }
std::atomic<bool> g_cancel{false};
std::atomic<bool> g_cancel_refused{false};
void OnCancelSignal(int) { g_cancel.store(true); }

}  // namespace

std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    fmt::print("{}", app.help());
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    fmt::print("{}", app.help("", CLI::AppFormatMode::All));
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    if (auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
    fmt::print(stderr, "migmon {}: usage error: {} (see -h)\n", app.get_name(), what);
    return kExitUsage;
  }
  return std::nullopt;
}

void PrintError(std::string_view name, std::string_view message) {
  fmt::print(stderr, "migmon {}: error: {}\n", name, message);
}

uint64_t ParseSize(std::string_view text, std::string_view what) {
  auto bad = [&](std::string_view why) {
    return UsageError(
        fmt::format("{} '{}': {} (expected a number with an optional K, M or G "
                    "suffix; a bare number is MiB)",
                    what, text, why));
  };
  if (text.empty()) throw bad("empty");
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  if (i == 0) throw bad("not a number");
  const std::string number(text.substr(0, i));
  char* end = nullptr;
  const double value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !std::isfinite(value) || value < 0) {
    throw bad("not a number");
  }
  std::string suffix(text.substr(i));
  for (auto& c : suffix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  double unit;
  if (suffix.empty() || suffix == "M" || suffix == "MB" || suffix == "MIB") {
    unit = 1 << 20;
  } else if (suffix == "K" || suffix == "KB" || suffix == "KIB") {
    unit = 1 << 10;
  } else if (suffix == "G" || suffix == "GB" || suffix == "GIB") {
    unit = 1 << 30;
  } else if (suffix == "T" || suffix == "TB" || suffix == "TIB") {
    unit = 1099511627776.0;
  } else if (suffix == "B") {
    unit = 1;
  } else {
    throw bad(fmt::format("unknown suffix '{}'", text.substr(i)));
  }
  const double bytes = value * unit;
  if (bytes >= 1.8e19) throw bad("too large");
  return static_cast<uint64_t>(std::llround(bytes));
}

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: blocking calls return EINTR and we look at the flag
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  sigaction(SIGPIPE, &ign, nullptr);
}

bool StopRequested() { return g_stop_signal.load(std::memory_order_relaxed) != 0; }
int StopSignal() { return g_stop_signal.load(); }

void InstallCancelHandler() {
  struct sigaction sa {};
  sa.sa_handler = OnCancelSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART, as the stop signals
  sigaction(SIGUSR1, &sa, nullptr);
}
bool CancelRequested() {
  return g_cancel.load(std::memory_order_relaxed) &&
         !g_cancel_refused.load(std::memory_order_relaxed);
}
void RefuseCancel() { g_cancel_refused.store(true); }
std::string Interruption() {
  if (const int sig = StopSignal(); sig != 0) {
    return fmt::format("stopped by {}", sig == SIGINT    ? "SIGINT"
                                        : sig == SIGTERM ? "SIGTERM"
                                                         : "a signal");
  }
  return CancelRequested() ? "cancelled (SIGUSR1)" : "interrupted";
}

int64_t UnixSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

bool SleepInterruptible(int64_t ns) {
  const int64_t end = MonoNs() + ns;
  while (!StopRequested()) {
    const int64_t left = end - MonoNs();
    if (left <= 0) return true;
    const int64_t step = std::min<int64_t>(left, 10'000'000);
    timespec ts{static_cast<time_t>(step / 1'000'000'000), static_cast<long>(step % 1'000'000'000)};
    nanosleep(&ts, nullptr);
  }
  return false;
}

void EmitJson(const RunResult& run) {
  const std::string doc = ToJsonString(run, 2);
  std::fwrite(doc.data(), 1, doc.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

LatencyDistribution::Bucket MigmonBucket(int k, uint64_t count) {
  // mig_mon's bucket k holds whole microseconds in (2^(k-1), 2^k], i.e. [2^(k-1)+1, 2^k+1) us;
  // bucket 0 everything below 2 us; bucket 20 everything from 524289 us up.
  LatencyDistribution::Bucket b;
  b.lower = Duration(k == 0 ? 0 : (int64_t{1} << (k - 1)) + 1);
  if (k < 20) b.upper = Duration((int64_t{1} << k) + 1);
  b.count = count;
  return b;
}

std::string ErrnoText(int err) { return std::strerror(err); }

Endpoint Resolve(const std::string& host, uint16_t port, int socktype) {
  // Numeric addresses without getaddrinfo: the static migmon in a guest has no NSS modules.
  Endpoint numeric;
  numeric.text = fmt::format("{}:{}", host, port);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&numeric.addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&numeric.addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    numeric.len = sizeof *v4;
    return numeric;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    numeric.len = sizeof *v6;
    return numeric;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    throw RuntimeError(fmt::format("cannot resolve host '{}': {}", host,
                                   rc == EAI_SYSTEM ? ErrnoText(errno) : gai_strerror(rc)));
  }
  Endpoint e;
  std::memcpy(&e.addr, res->ai_addr, res->ai_addrlen);
  e.len = res->ai_addrlen;
  e.text = fmt::format("{}:{}", host, port);
  freeaddrinfo(res);
  return e;
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    Reset();
    fd_ = o.release();
  }
  return *this;
}
Fd::~Fd() { Reset(); }
void Fd::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Fd BindAny(int socktype, uint16_t port) {
  const char* proto = socktype == SOCK_DGRAM ? "udp" : "tcp";
  // IPv6 dual-stack when the host has IPv6, else IPv4.
  Fd fd(::socket(AF_INET6, socktype | SOCK_CLOEXEC, 0));
  if (fd) {
    int off = 0;
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  }
  if (socktype == SOCK_STREAM && fd) {
    int on = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  }
  int rc = -1;
  if (fd) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    a.sin6_port = htons(port);
    rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    if (rc != 0 && errno == EADDRINUSE) {
      throw RuntimeError(fmt::format("port {}/{} is in use", port, proto));
    }
  }
  if (rc != 0) {
    fd = Fd(::socket(AF_INET, socktype | SOCK_CLOEXEC, 0));
    if (!fd) throw RuntimeError(fmt::format("socket(): {}", ErrnoText(errno)));
    if (socktype == SOCK_STREAM) {
      int on = 1;
      setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    a.sin_port = htons(port);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      const int err = errno;
      if (err == EADDRINUSE) throw RuntimeError(fmt::format("port {}/{} is in use", port, proto));
      throw RuntimeError(fmt::format("cannot bind port {}/{}: {}", port, proto, ErrnoText(err)));
    }
  }
  if (socktype == SOCK_STREAM && ::listen(fd.get(), 16) != 0) {
    throw RuntimeError(fmt::format("listen on port {}/tcp: {}", port, ErrnoText(errno)));
  }
  return fd;
}

uint16_t LocalPort(int fd) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return 0;
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&a)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port);
}

Fd ConnectTcp(const Endpoint& to, std::chrono::milliseconds timeout) {
  Fd fd(::socket(to.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) throw RuntimeError(fmt::format("socket(): {}", ErrnoText(errno)));
  int rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&to.addr), to.len);
  if (rc != 0 && errno != EINPROGRESS) {
    throw RuntimeError(fmt::format("cannot connect to {}: {}", to.text, ErrnoText(errno)));
  }
  if (rc != 0) {
    pollfd p{fd.get(), POLLOUT, 0};
    const int64_t deadline = MonoMs() + timeout.count();
    for (;;) {
      const int64_t left = deadline - MonoMs();
      if (left <= 0) {
        throw RuntimeError(
            fmt::format("cannot connect to {}: no answer in {} ms", to.text, timeout.count()));
      }
      rc = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 100)));
      if (rc > 0) break;
      if (Interrupted()) {
        throw RuntimeError(fmt::format("{} while connecting to {}", Interruption(), to.text));
      }
    }
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0)
      throw RuntimeError(fmt::format("cannot connect to {}: {}", to.text, ErrnoText(err)));
  }
  const int flags = fcntl(fd.get(), F_GETFL);
  fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

std::optional<Fd> AcceptWithTimeout(int listen_fd, std::chrono::milliseconds timeout) {
  const int64_t deadline = MonoMs() + timeout.count();
  pollfd p{listen_fd, POLLIN, 0};
  while (!StopRequested()) {
    const int64_t left = deadline - MonoMs();
    if (left <= 0) return std::nullopt;
    const int rc = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 100)));
    if (rc > 0) {
      const int c = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) return Fd(c);
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
        throw RuntimeError(fmt::format("accept: {}", ErrnoText(errno)));
      }
    }
  }
  return std::nullopt;
}

void SetTimeouts(int fd, std::chrono::milliseconds timeout) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

}  // namespace migtest
