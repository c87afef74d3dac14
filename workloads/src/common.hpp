// What every migmon sub-command shares: exit codes, command-line handling on CLI11, size
// parsing, stop signals, clocks, result.json output, and socket helpers where every blocking
// call has a timeout.
#pragma once

#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "migtest/results/model.hpp"

namespace migtest {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitCorrupt = 3;

inline constexpr uint16_t kDefaultPort = 12323;
inline constexpr double kMiB = 1 << 20;  // bytes in a MiB, for rates in MB/s as mig_mon prints

// A runtime failure (exit 1): the message is the whole one-line explanation.
struct RuntimeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A usage failure detected after parsing (exit 2).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses with CLI11. Returns nullopt to go on, or the exit code: 0 after -h, 2 (with a one-line
// error on stderr) for a bad command line.
std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv);

// Runs `body` and turns exceptions into "migmon <name>: error: ..." and exit codes.
template <typename F>
int Guarded(std::string_view name, F&& body);

// "512" (MiB), "512M", "2G", "2g", "1.5G", "64K", "100MB", "1GiB" -> bytes. Throws UsageError
// naming the text on anything else (unknown suffix, negative, empty, overflow).
uint64_t ParseSize(std::string_view text, std::string_view what);

// SIGINT/SIGTERM set a flag (and interrupt blocking calls: no SA_RESTART); SIGPIPE is ignored so
// that a dead peer surfaces as EPIPE, an error with a message.
void InstallSignalHandlers();
bool StopRequested();
int StopSignal();  // the signal that asked to stop, 0 if none
// SIGUSR1 cancels the work under way, not the process (a migration's migrate_cancel: the source
// gives the migration up and its guest runs on). Installed by the sub-commands that honour it;
// it interrupts blocking calls as the stop signals do.
void InstallCancelHandler();
bool CancelRequested();
// From here on a cancel is refused (CancelRequested() stays false): past the point of no return,
// as QEMU ignores migrate_cancel once the guest runs on the destination.
void RefuseCancel();
// A stop or a cancel was asked for: what blocking loops look at after EINTR.
inline bool Interrupted() { return StopRequested() || CancelRequested(); }
// Why a blocking call was cut short: "cancelled (SIGUSR1)" or "stopped by SIGTERM".
std::string Interruption();

// Monotonic clock.
inline int64_t MonoNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
inline int64_t MonoMs() { return MonoNs() / 1'000'000; }
int64_t UnixSeconds();

// Sleeps up to `ns`, returning early (false) when a stop was requested.
bool SleepInterruptible(int64_t ns);

// With --json the human lines go to stderr and stdout carries only the document.
struct Output {
  bool json = false;
  std::FILE* human() const { return json ? stderr : stdout; }
  template <typename... T>
  void Line(fmt::format_string<T...> f, T&&... args) const {
    fmt::print(human(), f, std::forward<T>(args)...);
    std::fputc('\n', human());
    std::fflush(human());
  }
};
// Prints `run` as one result.json document (with a trailing newline) on stdout.
void EmitJson(const RunResult& run);

// A LatencyDistribution (model) from summary figures, in microseconds.
LatencyDistribution::Bucket MigmonBucket(int k, uint64_t count);

// ---- sockets ----
// An IPv4 or IPv6 address and port. Throws RuntimeError naming the host when it cannot be
// resolved.
struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;  // "host:port" as given
};
Endpoint Resolve(const std::string& host, uint16_t port, int socktype);

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  ~Fd();
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  explicit operator bool() const { return fd_ >= 0; }
  void Reset();

 private:
  int fd_ = -1;
};

// Binds a socket of `socktype` to `port` on all addresses (IPv4 and IPv6 where available),
// `port` 0 letting the kernel choose. Throws RuntimeError ("port 12323/udp is in use").
Fd BindAny(int socktype, uint16_t port);
uint16_t LocalPort(int fd);
// Connects with a timeout. Throws RuntimeError naming the endpoint and the reason.
Fd ConnectTcp(const Endpoint& to, std::chrono::milliseconds timeout);
// Accepts with a timeout (nullopt on timeout or stop request).
std::optional<Fd> AcceptWithTimeout(int listen_fd, std::chrono::milliseconds timeout);
void SetTimeouts(int fd, std::chrono::milliseconds timeout);  // SO_RCVTIMEO and SO_SNDTIMEO
std::string ErrnoText(int err);

// ---- implementation of the template ----
void PrintError(std::string_view name, std::string_view message);

template <typename F>
int Guarded(std::string_view name, F&& body) {
  try {
    return body();
  } catch (const UsageError& e) {
    PrintError(name, e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    PrintError(name, e.what());
    return kExitRuntime;
  }
}

}  // namespace migtest
