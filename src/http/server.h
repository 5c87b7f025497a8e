#pragma once
// The HTTP server for /metrics, /healthz and /readyz: cpp-httplib (Debian's
// libcpp-httplib-dev) with a small thread pool, read and write timeouts and
// one request per connection, GET and HEAD only (anything else: 405). Enough
// for Prometheus and kubelet probes; not a general web server.
//
// Thread-safety: the handler runs on the pool's threads, several at once: it
// must be thread-safe and answer from memory (a handler that blocks holds a
// pool thread).

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "http/listener.h"

namespace hm {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const std::string& path)>;

struct HttpServerOptions {
  int threads = 4;
  std::chrono::seconds read_timeout{2};   // to receive a request
  std::chrono::seconds write_timeout{2};  // to send an answer
};

class HttpServer {
 public:
  // Binds and listens now (throws std::runtime_error naming METRICS_BIND /
  // METRICS_PORT on failure); serves on background threads. Port 0 lets the
  // kernel pick a free port (see port()).
  HttpServer(const std::string& bind_address, int port, HttpHandler handler, HttpServerOptions options = {});
  // stop() without a limit when it was not called.
  ~HttpServer() = default;
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return listener_->port(); }

  // Stops listening and waits up to `limit` for the requests in flight: true
  // when every thread ended. False: a thread is still busy; it is left running
  // and the caller must end the process rather than destroy the handler.
  bool stop(std::chrono::milliseconds limit) { return listener_->stop(limit); }

 private:
  std::unique_ptr<Listener> listener_;
};

}  // namespace hm
