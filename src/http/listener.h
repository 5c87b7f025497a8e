#pragma once
// One cpp-httplib server bound to an address and served on a background
// thread, the part the status server (server.h) and the webhook server
// (webhook_server.h) share: a numeric bind address checked, no SO_REUSEPORT
// (a second process must not share the port silently), a listen backlog of
// 1024, optionally TCP_DEFER_ACCEPT, and a stop with a deadline.
// Private to src/http: httplib's type is only forward-declared here.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace hm {

struct ListenerOptions {
  std::string bind_address;
  int port = 0;                  // 0: the kernel picks (see Listener::port())
  std::string bind_variable;     // named in errors: METRICS_BIND, WEBHOOK_BIND
  std::string port_variable;     // METRICS_PORT, WEBHOOK_PORT
  std::chrono::seconds defer_accept{0};  // > 0: TCP_DEFER_ACCEPT, a connection reaches a thread once it sent bytes
};

class Listener {
 public:
  // `setup` adds the routes, the thread pool and the timeouts; then the
  // server binds and listens at once (throws std::runtime_error naming the
  // bind or port variable) and serves on a background thread.
  Listener(const ListenerOptions& options, const std::function<void(httplib::Server&)>& setup);
  // stop() without a limit when it was not called.
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  int port() const { return port_; }
  // False once the listening loop has ended, by itself or by stop(): the port
  // then refuses every connection.
  bool listening() const;
  // Stops listening and waits up to `limit` for the requests in flight: true
  // when every thread ended. False: a thread is still busy; it is left running
  // and the caller must end the process rather than destroy the handler.
  bool stop(std::chrono::milliseconds limit);

 private:
  struct State;
  std::shared_ptr<State> state_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace hm
