// A child process for the migmon tests: fork/exec with stdout and stderr in files, waits with
// deadlines, and reaped on every path (the destructor SIGKILLs and reaps what is still running).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace migtest::testing_support {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string TempDir() {
  std::string tmpl = ::testing::TempDir() + "migmon_test_XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  const char* d = mkdtemp(buf.data());
  return d ? std::string(d) : ::testing::TempDir();
}

class Child {
 public:
  // Starts `argv[0]` with the arguments; output goes to files under `dir`.
  Child(const std::vector<std::string>& argv, const std::string& dir) {
    static int counter = 0;
    const int id = ++counter;
    out_path_ = dir + "/child" + std::to_string(id) + ".out";
    err_path_ = dir + "/child" + std::to_string(id) + ".err";
    for (const auto& a : argv) command_ += a + " ";
    std::vector<char*> args;  // built before fork: the child only calls async-signal-safe functions
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      const int out = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int in = open("/dev/null", O_RDONLY);
      if (out < 0 || err < 0 || in < 0) _exit(126);
      dup2(in, 0);
      dup2(out, 1);
      dup2(err, 2);
      setpgid(0, 0);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~Child() {
    if (pid_ > 0 && !status_) {
      kill(pid_, SIGCONT);
      kill(pid_, SIGKILL);
      int st;
      waitpid(pid_, &st, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig) const {
    if (pid_ > 0 && !status_) kill(pid_, sig);
  }
  std::string Stdout() const { return ReadFile(out_path_); }
  std::string Stderr() const { return ReadFile(err_path_); }
  const std::string& command() const { return command_; }

  // The exit code, or nullopt (and a test failure) if it did not end within `timeout` (then it
  // is killed and reaped). A death by signal is reported as 128 + signal.
  std::optional<int> Wait(std::chrono::milliseconds timeout) {
    if (status_) return Code();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int st = 0;
      const pid_t r = waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        status_ = st;
        return Code();
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        ADD_FAILURE() << command_ << " did not exit within " << timeout.count() << " ms; stderr:\n"
                      << Stderr();
        kill(pid_, SIGKILL);
        waitpid(pid_, &st, 0);
        status_ = st;
        return std::nullopt;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // Waits until stdout (or stderr) matches `pattern`; returns the first match's group 1 (or the
  // whole match). Fails the test with what was seen on timeout.
  std::optional<std::string> WaitForLine(const std::string& pattern,
                                         std::chrono::milliseconds timeout,
                                         bool on_stderr = false) {
    const std::regex re(pattern);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const std::string text = on_stderr ? Stderr() : Stdout();
      std::smatch m;
      if (std::regex_search(text, m, re)) return m.size() > 1 ? m[1].str() : m[0].str();
      if (std::chrono::steady_clock::now() >= deadline || (status_ || Exited())) {
        ADD_FAILURE() << command_ << ": no line matching /" << pattern << "/ within "
                      << timeout.count() << " ms; stdout:\n"
                      << Stdout() << "\nstderr:\n"
                      << Stderr();
        return std::nullopt;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

 private:
  bool Exited() {
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      status_ = st;
      return true;
    }
    return false;
  }
  int Code() const {
    if (WIFEXITED(*status_)) return WEXITSTATUS(*status_);
    if (WIFSIGNALED(*status_)) return 128 + WTERMSIG(*status_);
    return -1;
  }
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string out_path_, err_path_, command_;
};

}  // namespace migtest::testing_support
