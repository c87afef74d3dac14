// QmpClient against a scripted QMP server (every failure mode, no QEMU needed) and against a real
// QEMU (label qemu).
#include "migtest/fixtures/qmp.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include "migtest/fixtures/lab.hpp"
#include "migtest/fixtures/process.hpp"
#include "migtest/fixtures/qemu.hpp"

namespace migtest {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using json = nlohmann::json;

std::filesystem::path ShortTempDir() {
  char tmpl[] = "/tmp/migtest-qmp-test-XXXXXX";
  return ::mkdtemp(tmpl);
}

// A one-connection QMP server on a unix socket; `script` talks to the accepted connection.
class ScriptedServer {
 public:
  using Script = std::function<void(int fd)>;
  ScriptedServer(std::filesystem::path path, Script script) : path_(std::move(path)) {
    listen_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    if (::bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_, 1) != 0) {
      ADD_FAILURE() << "cannot listen on " << path_ << ": " << std::strerror(errno);
      return;
    }
    thread_ = std::thread([this, script] {
      int fd = ::accept(listen_, nullptr, nullptr);
      if (fd < 0) return;
      script(fd);
      ::close(fd);
    });
  }
  ~ScriptedServer() {
    ::shutdown(listen_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::close(listen_);
    std::filesystem::remove(path_);
  }

  static void Send(int fd, const std::string& line) {
    std::string text = line + "\r\n";  // QEMU ends its lines with CRLF
    (void)!::write(fd, text.data(), text.size());
  }
  // Reads one line the client sent.
  static json Receive(int fd) {
    std::string line;
    char c;
    while (::read(fd, &c, 1) == 1 && c != '\n') line += c;
    return json::parse(line, nullptr, false);
  }
  static constexpr const char* kGreeting =
      R"({"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": ""}, "capabilities": []}})";

 private:
  std::filesystem::path path_;
  int listen_ = -1;
  std::thread thread_;
};

class QmpClientTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = ShortTempDir(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path Sock() const { return dir_ / "qmp.sock"; }
  std::filesystem::path dir_;
};

// Greets, accepts qmp_capabilities, then runs `rest`.
ScriptedServer::Script Negotiated(std::function<void(int)> rest) {
  return [rest](int fd) {
    ScriptedServer::Send(fd, ScriptedServer::kGreeting);
    json caps = ScriptedServer::Receive(fd);
    ScriptedServer::Send(fd, json{{"return", json::object()}, {"id", caps["id"]}}.dump());
    rest(fd);
  };
}

TEST_F(QmpClientTest, ExecutesKeepsEventsAndWritesTheTranscript) {
  ScriptedServer server(
      Sock(), Negotiated([](int fd) {
        json cmd = ScriptedServer::Receive(fd);
        EXPECT_EQ(cmd["execute"], "query-migrate");
        ScriptedServer::Send(
            fd, R"({"timestamp": {"seconds": 1, "microseconds": 5}, "event": "STOP"})");
        ScriptedServer::Send(fd,
                             json{{"return", {{"status", "active"}}}, {"id", cmd["id"]}}.dump());
        ScriptedServer::Send(
            fd, R"({"timestamp": {"seconds": 2, "microseconds": 0}, "event": "RESUME"})");
      }));
  std::vector<std::pair<json, bool>> transcript;
  std::string why;
  auto qmp = QmpClient::Connect(
      Sock(), 5s, &why, [&](const json& j, bool sent) { transcript.emplace_back(j, sent); });
  ASSERT_TRUE(qmp) << why;
  EXPECT_EQ(qmp->greeting()["QMP"]["version"]["qemu"]["major"], 10);
  EXPECT_EQ(qmp->Execute("query-migrate")["status"], "active");
  auto resume = qmp->WaitForEvent("RESUME", 5s);
  ASSERT_TRUE(resume);
  EXPECT_EQ((*resume)["timestamp"]["seconds"], 2);
  std::vector<json> events = qmp->TakeEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["event"], "STOP");
  EXPECT_EQ(events[1]["event"], "RESUME");
  EXPECT_TRUE(qmp->TakeEvents().empty());
  // greeting, capabilities (sent + reply), query-migrate (sent), STOP, reply, RESUME
  ASSERT_EQ(transcript.size(), 7u);
  EXPECT_TRUE(transcript[1].second);
  EXPECT_EQ(transcript[1].first["execute"], "qmp_capabilities");
  EXPECT_EQ(transcript[4].first["event"], "STOP");
}

// getfd: the descriptor arrives with the command (SCM_RIGHTS) and is a working copy of ours; a
// refusal is QEMU's words. Broken, SendFd would send the command without the descriptor: the
// server would find no SCM_RIGHTS and nothing would come through the pipe.
TEST_F(QmpClientTest, SendFdHandsTheDescriptorOverWithGetfd) {
  ScriptedServer server(
      Sock(), Negotiated([](int fd) {
        // The first byte with its ancillary data, then the rest of the line.
        char first = 0;
        iovec iov{.iov_base = &first, .iov_len = 1};
        char control[CMSG_SPACE(sizeof(int))] = {};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ASSERT_EQ(::recvmsg(fd, &msg, 0), 1);
        const cmsghdr* c = CMSG_FIRSTHDR(&msg);
        ASSERT_TRUE(c != nullptr && c->cmsg_type == SCM_RIGHTS)
            << "getfd came without a descriptor";
        int passed = -1;
        std::memcpy(&passed, CMSG_DATA(c), sizeof passed);
        std::string line(1, first);
        char ch;
        while (::read(fd, &ch, 1) == 1 && ch != '\n') line += ch;
        const json cmd = json::parse(line);
        EXPECT_EQ(cmd["execute"], "getfd");
        EXPECT_EQ(cmd["arguments"]["fdname"], "migration");
        (void)!::write(passed, "through", 7);
        ::close(passed);
        ScriptedServer::Send(fd, json{{"return", json::object()}, {"id", cmd["id"]}}.dump());
        const json again = ScriptedServer::Receive(fd);
        ScriptedServer::Send(fd, json{{"error",
                                       {{"class", "GenericError"},
                                        {"desc", "No file descriptor supplied via SCM_RIGHTS"}}},
                                      {"id", again["id"]}}
                                     .dump());
      }));
  std::string why;
  auto qmp = QmpClient::Connect(Sock(), 5s, &why);
  ASSERT_TRUE(qmp) << why;
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  qmp->SendFd("migration", pipe_fds[1]);
  ::close(pipe_fds[1]);
  char got[16] = {};
  ASSERT_EQ(::read(pipe_fds[0], got, sizeof got), 7);
  EXPECT_STREQ(got, "through");
  ::close(pipe_fds[0]);
  try {
    qmp->SendFd("migration", STDIN_FILENO);
    ADD_FAILURE() << "a refused getfd did not throw";
  } catch (const QmpError& e) {
    EXPECT_THAT(e.what(), HasSubstr("No file descriptor supplied"));
  }
}

TEST_F(QmpClientTest, AnErrorReplyThrowsWithItsClassAndDescription) {
  ScriptedServer server(
      Sock(), Negotiated([](int fd) {
        json cmd = ScriptedServer::Receive(fd);
        ScriptedServer::Send(
            fd,
            json{{"error",
                  {{"class", "GenericError"}, {"desc", "There's a migration process in progress"}}},
                 {"id", cmd["id"]}}
                .dump());
      }));
  std::string why;
  auto qmp = QmpClient::Connect(Sock(), 5s, &why);
  ASSERT_TRUE(qmp) << why;
  try {
    qmp->Execute("migrate", {{"uri", "tcp:127.0.0.1:1"}});
    FAIL() << "no QmpError";
  } catch (const QmpError& e) {
    EXPECT_EQ(e.error_class(), "GenericError");
    EXPECT_THAT(e.what(), HasSubstr("migrate failed: There's a migration process in progress "
                                    "(GenericError)"));
    EXPECT_THAT(e.what(), HasSubstr(Sock().string()));
  }
}

TEST_F(QmpClientTest, ASilentServerTimesOutNamingTheCommand) {
  ScriptedServer server(
      Sock(), Negotiated([](int fd) {
        (void)ScriptedServer::Receive(fd);
        std::this_thread::sleep_for(1500ms);  // never answers within the client's 300 ms
      }));
  std::string why;
  auto qmp = QmpClient::Connect(Sock(), 5s, &why);
  ASSERT_TRUE(qmp) << why;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(
      {
        try {
          qmp->Execute("query-status", nullptr, 300ms);
        } catch (const QmpError& e) {
          EXPECT_THAT(e.what(), HasSubstr("no reply to query-status within 300 ms"));
          throw;
        }
      },
      QmpError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1400ms) << "the deadline was not kept";
}

TEST_F(QmpClientTest, GarbageAndAClosedSocketAreErrorsNotCrashes) {
  ScriptedServer server(Sock(), Negotiated([](int fd) {
                          (void)ScriptedServer::Receive(fd);
                          ScriptedServer::Send(fd, "this is not json {");
                          (void)ScriptedServer::Receive(fd);
                          // closing: the next read sees EOF
                        }));
  std::string why;
  auto qmp = QmpClient::Connect(Sock(), 5s, &why);
  ASSERT_TRUE(qmp) << why;
  try {
    qmp->Execute("query-status");
    FAIL() << "garbage accepted";
  } catch (const QmpError& e) {
    EXPECT_THAT(e.what(), HasSubstr("not a JSON object: 'this is not json {'"));
  }
  try {
    qmp->Execute("query-status");
    FAIL() << "a closed socket accepted";
  } catch (const QmpError& e) {
    EXPECT_THAT(e.what(), HasSubstr("QEMU closed the socket"));
  }
}

TEST_F(QmpClientTest, ConnectGivesUpAtItsTimeoutOrWhenTold) {
  std::string why;
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(QmpClient::Connect(Sock(), 200ms, &why));
  EXPECT_THAT(why, HasSubstr("no QMP server on " + Sock().string() + " within 200 ms"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);

  EXPECT_FALSE(QmpClient::Connect(Sock(), 60s, &why, {}, [] { return std::string("qemu died"); }));
  EXPECT_THAT(why, HasSubstr("qemu died"));

  // A server that greets with something else.
  ScriptedServer server(Sock(), [](int fd) { ScriptedServer::Send(fd, R"({"hello": 1})"); });
  EXPECT_FALSE(QmpClient::Connect(Sock(), 5s, &why));
  EXPECT_THAT(why, HasSubstr(R"({"hello":1} instead of the QMP greeting)"));
}

TEST_F(QmpClientTest, ASocketPathTooLongIsSaidSo) {
  std::string why;
  EXPECT_FALSE(QmpClient::Connect(dir_ / std::string(120, 'x'), 1s, &why));
  EXPECT_THAT(why, HasSubstr("longer than a unix socket allows"));
}

// A real QEMU (no guest: -machine none): the greeting's version, an unknown command's class,
// STOP/RESUME events with QEMU's timestamps.
TEST(QmpClientQemu, TalksToARealQemu) {
  std::string why;
  std::optional<QemuBinary> qemu = FindQemu({}, &why);
  if (!qemu) {
    if (InCi()) FAIL() << why;
    GTEST_SKIP() << why;
  }
  const std::filesystem::path dir = ShortTempDir();
  Supervisor lab(ArtifactDir());
  lab.Start({.name = "qemu",
             .exe = qemu->exe,
             .args = {"-machine", "none", "-accel", "tcg", "-nodefaults", "-display", "none",
                      "-qmp", "unix:" + (dir / "qmp").string() + ",server=on,wait=off"}});
  auto qmp = QmpClient::Connect(dir / "qmp", Scaled(30s), &why);
  ASSERT_TRUE(qmp) << why;
  json version = qmp->Execute("query-version");
  EXPECT_EQ(version["qemu"]["major"], qemu->major);
  EXPECT_EQ(version, qmp->greeting()["QMP"]["version"]);
  try {
    qmp->Execute("no-such-command");
    ADD_FAILURE() << "an unknown command succeeded";
  } catch (const QmpError& e) {
    EXPECT_EQ(e.error_class(), "CommandNotFound");
  }
  qmp->Execute("stop");
  auto stop = qmp->WaitForEvent("STOP", Scaled(5s));
  ASSERT_TRUE(stop);
  EXPECT_TRUE((*stop)["timestamp"]["seconds"].is_number());
  EXPECT_EQ(qmp->Execute("query-status")["running"], false);
  qmp->Execute("quit");
  lab.Shutdown();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace migtest
