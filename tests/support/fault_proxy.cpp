#include "support/fault_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <vector>

namespace hm::test {

namespace {

constexpr int kTickMs = 50;

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL, 0) | O_NONBLOCK); }

// Closes with a RST instead of a FIN.
void close_with_reset(int fd) {
  if (fd < 0) return;
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

void close_quietly(int fd) {
  if (fd >= 0) ::close(fd);
}

}  // namespace

struct FaultProxy::Conn {
  int client = -1;
  int upstream = -1;
  std::atomic<bool> done{false};
  std::thread thread;
};

FaultProxy::FaultProxy(std::string target_host, int target_port)
    : host_(std::move(target_host)), target_port_(target_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) throw std::runtime_error("fault proxy: socket() failed");
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 128) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("fault proxy: cannot listen on 127.0.0.1");
  }
  set_nonblocking(listen_fd_);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

FaultProxy::~FaultProxy() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  std::list<std::shared_ptr<Conn>> conns;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    conns.swap(conns_);
  }
  for (auto& c : conns)
    if (c->thread.joinable()) c->thread.join();
  ::close(listen_fd_);
}

void FaultProxy::set_mode(Mode mode) { mode_ = mode; }

void FaultProxy::set_latency(std::chrono::milliseconds per_chunk) {
  latency_ms_ = static_cast<long>(per_chunk.count());
  mode_ = Mode::kLatency;
}

int FaultProxy::open_connections() {
  std::lock_guard<std::mutex> lock(mutex_);
  int n = 0;
  for (const auto& c : conns_)
    if (!c->done) ++n;
  return n;
}

void FaultProxy::reap() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = conns_.begin(); it != conns_.end();) {
    if ((*it)->done) {
      if ((*it)->thread.joinable()) (*it)->thread.join();
      it = conns_.erase(it);
    } else {
      ++it;
    }
  }
}

void FaultProxy::accept_loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    ::poll(&p, 1, kTickMs);
    reap();
    if (!(p.revents & POLLIN)) continue;
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    ++accepted_;
    if (mode_ == Mode::kReset) {
      ++resets_;  // counted first: the client may see the RST at once
      close_with_reset(fd);
      continue;
    }
    set_nonblocking(fd);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_shared<Conn>();
    c->client = fd;
    std::lock_guard<std::mutex> lock(mutex_);
    conns_.push_back(c);
    c->thread = std::thread([this, c] { pump(c); });
  }
}

bool FaultProxy::connect_upstream(Conn& c) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host_.c_str(), std::to_string(target_port_).c_str(), &hints, &res) != 0 || !res) return false;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  set_nonblocking(fd);
  const int rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);
  if (rc != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return false;
  }
  for (int waited = 0; rc != 0; waited += kTickMs) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, kTickMs) > 0) break;
    if (stop_ || waited >= 2000) {
      ::close(fd);
      return false;
    }
  }
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    ::close(fd);
    return false;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c.upstream = fd;
  return true;
}

namespace {

// Writes all of buf to a non-blocking fd; false on error or when `stop` says so.
bool write_all(int fd, const char* buf, std::size_t n, const std::atomic<bool>& stop) {
  while (n > 0) {
    const ssize_t w = ::send(fd, buf, n, MSG_NOSIGNAL);
    if (w > 0) {
      buf += w;
      n -= static_cast<std::size_t>(w);
      continue;
    }
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    if (stop) return false;
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, kTickMs);
  }
  return true;
}

}  // namespace

void FaultProxy::pump(const std::shared_ptr<Conn>& c) {
  std::vector<char> buf(16384);
  bool reset = false;
  while (!stop_) {
    const Mode m = mode_;
    if (m == Mode::kReset) {
      reset = true;
      break;
    }
    if (m == Mode::kBlackhole) {  // hold everything where it is
      std::this_thread::sleep_for(std::chrono::milliseconds(kTickMs));
      continue;
    }
    if (c->upstream < 0 && !connect_upstream(*c)) {
      reset = true;  // as a refused connection looks to the client
      break;
    }
    pollfd p[2] = {{c->client, POLLIN, 0}, {c->upstream, POLLIN, 0}};
    if (::poll(p, 2, kTickMs) <= 0) continue;
    bool closed = false;
    for (int i = 0; i < 2 && !closed; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      if (mode_ == Mode::kBlackhole || mode_ == Mode::kReset) break;  // switched while polling
      const ssize_t n = ::recv(p[i].fd, buf.data(), buf.size(), 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
      if (n <= 0) {
        closed = true;
        break;
      }
      for (long slept = 0; mode_ == Mode::kLatency && slept < latency_ms_ && !stop_; slept += 5)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (!write_all(p[1 - i].fd, buf.data(), static_cast<std::size_t>(n), stop_)) closed = true;
    }
    if (closed) break;
  }
  if (reset) {
    ++resets_;
    close_with_reset(c->client);
    close_with_reset(c->upstream);
  } else {
    close_quietly(c->client);
    close_quietly(c->upstream);
  }
  c->done = true;
}

}  // namespace hm::test
