#include "http/listener.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "core/destination.h"

namespace hm {

struct Listener::State {
  httplib::Server server;
  std::mutex mutex;
  std::condition_variable cv;
  bool ended = false;  // guarded by mutex: listen_after_bind() returned (its pool joined)
};

namespace {

// Debian's cpp-httplib is built with a listen backlog of 5: a burst of new
// connections would see SYNs dropped and 1 s retransmits. listen() again on
// the bound socket raises it.
constexpr int kListenBacklog = 1024;

}  // namespace

Listener::Listener(const ListenerOptions& o, const std::function<void(httplib::Server&)>& setup)
    : state_(std::make_shared<State>()) {
  if (!is_ip_literal(o.bind_address))
    throw std::runtime_error(o.bind_variable + ": '" + o.bind_address + "' is not a numeric IP address");
  httplib::Server& s = state_->server;
  setup(s);
  auto bound = std::make_shared<std::atomic<int>>(-1);
  const int defer = static_cast<int>(o.defer_accept.count());
  // httplib's default adds SO_REUSEPORT, with which a second process binds the
  // same port silently and takes part of the traffic: a clash must fail.
  s.set_socket_options([defer, bound](socket_t sock) {
    const int one = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (defer > 0) ::setsockopt(sock, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof defer);
    bound->store(sock);  // the last socket configured is the one bound
  });
  port_ = o.port == 0 ? s.bind_to_any_port(o.bind_address) : (s.bind_to_port(o.bind_address, o.port) ? o.port : -1);
  if (port_ <= 0) {
    throw std::runtime_error(o.port_variable + ": cannot listen on " + o.bind_address + ":" + std::to_string(o.port) +
                             ": " + std::strerror(errno));
  }
  if (bound->load() >= 0) ::listen(bound->load(), kListenBacklog);
  thread_ = std::thread([state = state_] {
    state->server.listen_after_bind();
    std::lock_guard<std::mutex> lock(state->mutex);
    state->ended = true;
    state->cv.notify_all();
  });
}

Listener::~Listener() {
  if (thread_.joinable()) stop(std::chrono::hours(24));
}

bool Listener::listening() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return !state_->ended;
}

bool Listener::stop(std::chrono::milliseconds limit) {
  if (!thread_.joinable()) return true;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::unique_lock<std::mutex> lock(state_->mutex);
  // stop() is lost if it comes before listen_after_bind() marked the server
  // running: repeat it until the listening thread ends.
  while (!state_->ended) {
    state_->server.stop();
    if (state_->cv.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(20)),
                              [&] { return state_->ended; }))
      break;
    if (std::chrono::steady_clock::now() >= deadline) {
      thread_.detach();  // it holds the state: nothing it uses is freed under it
      return false;
    }
  }
  lock.unlock();
  thread_.join();
  return true;
}

}  // namespace hm
