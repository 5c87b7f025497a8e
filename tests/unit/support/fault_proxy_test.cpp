// The chaos tests' TCP fault proxy, against a local echo server.
#include "support/fault_proxy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <list>
#include <string>
#include <thread>

namespace hm::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Echoes every byte back, one thread per connection; stops in its destructor.
class EchoServer {
 public:
  EchoServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) continue;
        ++accepted_;
        conns_.emplace_back([this, c] {
          char buf[4096];
          while (!stop_) {
            pollfd q{c, POLLIN, 0};
            if (::poll(&q, 1, 50) <= 0) continue;
            const ssize_t n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) break;
            ::send(c, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL);
          }
          ::close(c);
        });
      }
    });
  }
  ~EchoServer() {
    stop_ = true;
    thread_.join();
    for (auto& t : conns_) t.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
  std::list<std::thread> conns_;
};

// A client socket to 127.0.0.1:port with a receive timeout; -1 when refused.
int dial(int port, std::chrono::milliseconds recv_timeout = 2000ms) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{static_cast<time_t>(recv_timeout.count() / 1000),
             static_cast<suseconds_t>((recv_timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends msg and reads back as many bytes; the bytes read, or "" with errno kept.
std::string round_trip(int fd, const std::string& msg) {
  if (::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(msg.size())) return "";
  std::string got;
  char buf[4096];
  while (got.size() < msg.size()) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return "";
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

TEST(FaultProxyTest, PassForwardsBothWays) {
  EchoServer echo;
  FaultProxy proxy("127.0.0.1", echo.port());
  EXPECT_NE(proxy.port(), 0);
  EXPECT_NE(proxy.port(), echo.port());
  const int fd = dial(proxy.port());
  ASSERT_GE(fd, 0);
  EXPECT_EQ(round_trip(fd, "hello"), "hello");
  const std::string big(200000, 'x');
  EXPECT_EQ(round_trip(fd, big), big);
  EXPECT_EQ(proxy.accepted(), 1);
  EXPECT_EQ(proxy.open_connections(), 1);
  ::close(fd);
}

TEST(FaultProxyTest, LatencyDelaysEachChunkAtLeastTheGivenTime) {
  EchoServer echo;
  FaultProxy proxy("127.0.0.1", echo.port());
  proxy.set_latency(150ms);
  EXPECT_EQ(proxy.mode(), FaultProxy::Mode::kLatency);
  const int fd = dial(proxy.port());
  ASSERT_GE(fd, 0);
  const auto start = Clock::now();
  EXPECT_EQ(round_trip(fd, "ping"), "ping");
  EXPECT_GE(Clock::now() - start, 300ms);  // one chunk each way
  ::close(fd);
}

TEST(FaultProxyTest, BlackholeAcceptsButNeverAnswersThenPassResumes) {
  EchoServer echo;
  FaultProxy proxy("127.0.0.1", echo.port());
  const int before = dial(proxy.port(), 300ms);
  ASSERT_EQ(round_trip(before, "a"), "a");
  proxy.set_mode(FaultProxy::Mode::kBlackhole);
  // An existing connection stops forwarding.
  ASSERT_EQ(::send(before, "b", 1, MSG_NOSIGNAL), 1);
  char c = 0;
  EXPECT_LT(::recv(before, &c, 1, 0), 0);
  EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK);
  // A new connection is accepted (connect succeeds) but nothing comes back.
  const int during = dial(proxy.port(), 300ms);
  ASSERT_GE(during, 0);
  ASSERT_EQ(::send(during, "c", 1, MSG_NOSIGNAL), 1);
  EXPECT_LT(::recv(during, &c, 1, 0), 0);
  EXPECT_EQ(echo.accepted(), 1);  // the held connection never reached the server
  // Back to pass: what was held flows on both connections.
  proxy.set_mode(FaultProxy::Mode::kPass);
  timeval tv{2, 0};
  ::setsockopt(before, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(during, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ASSERT_EQ(::recv(before, &c, 1, 0), 1);
  EXPECT_EQ(c, 'b');
  ASSERT_EQ(::recv(during, &c, 1, 0), 1);
  EXPECT_EQ(c, 'c');
  ::close(before);
  ::close(during);
}

TEST(FaultProxyTest, ResetClosesExistingConnectionsWithRstAndResetsNewOnes) {
  EchoServer echo;
  FaultProxy proxy("127.0.0.1", echo.port());
  const int fd = dial(proxy.port());
  ASSERT_EQ(round_trip(fd, "a"), "a");
  proxy.set_mode(FaultProxy::Mode::kReset);
  char c = 0;
  errno = 0;
  EXPECT_LT(::recv(fd, &c, 1, 0), 0);
  EXPECT_EQ(errno, ECONNRESET);
  ::close(fd);
  // A new connection is reset before any byte comes back.
  const int again = dial(proxy.port());
  if (again >= 0) {
    ::send(again, "x", 1, MSG_NOSIGNAL);
    errno = 0;
    EXPECT_LE(::recv(again, &c, 1, 0), 0);
    ::close(again);
  }
  EXPECT_GE(proxy.resets(), 2);
  proxy.set_mode(FaultProxy::Mode::kPass);
  const int after = dial(proxy.port());
  EXPECT_EQ(round_trip(after, "ok"), "ok");
  ::close(after);
}

TEST(FaultProxyTest, RefusedUpstreamResetsTheClient) {
  int dead_port = 0;
  {
    EchoServer gone;
    dead_port = gone.port();
  }
  FaultProxy proxy("127.0.0.1", dead_port);
  const int fd = dial(proxy.port());
  ASSERT_GE(fd, 0);
  char c = 0;
  ::send(fd, "x", 1, MSG_NOSIGNAL);
  EXPECT_LE(::recv(fd, &c, 1, 0), 0);
  ::close(fd);
}

TEST(FaultProxyTest, DestructorReturnsPromptlyWithHeldConnections) {
  EchoServer echo;
  int fds[3];
  auto proxy = std::make_unique<FaultProxy>("127.0.0.1", echo.port());
  for (int& fd : fds) fd = dial(proxy->port(), 200ms);
  proxy->set_mode(FaultProxy::Mode::kBlackhole);
  for (int fd : fds) ::send(fd, "x", 1, MSG_NOSIGNAL);
  const auto start = Clock::now();
  proxy.reset();
  EXPECT_LT(Clock::now() - start, 2s);  // a bound on shutdown, not a speed measure
  for (int fd : fds) ::close(fd);
}

TEST(FaultProxyTest, ManyClientsAtOnce) {
  EchoServer echo;
  FaultProxy proxy("127.0.0.1", echo.port());
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    ts.emplace_back([&, i] {
      const int fd = dial(proxy.port());
      const std::string msg = "client " + std::to_string(i) + std::string(5000, 'q');
      for (int k = 0; k < 20; ++k)
        if (round_trip(fd, msg) == msg) ++ok;
      ::close(fd);
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok, 160);
}

}  // namespace
}  // namespace hm::test
