#pragma once
// A minimal HTTP/1.1 server for /metrics, /healthz and /readyz: one thread,
// one request per connection (Connection: close), GET and HEAD only, request
// heads up to 8 KiB, 2 s to send one. Enough for Prometheus and kubelet
// probes; not a general web server.
//
// Thread-safety: the handler runs on the server's thread.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace hm {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const std::string& path)>;

class HttpServer {
 public:
  // Binds and listens now (throws std::runtime_error naming METRICS_BIND /
  // METRICS_PORT on failure); serves on a background thread. Port 0 picks a
  // free port (see port()).
  // `thread_scope`, when given, is called on the server thread before it
  // serves; what it returns is held until the thread ends (e.g. a database
  // driver's per-thread initialisation).
  HttpServer(const std::string& bind_address, int port, HttpHandler handler,
             std::function<std::shared_ptr<void>()> thread_scope = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }

 private:
  void serve();
  void handle(int fd);

  HttpHandler handler_;
  std::function<std::shared_ptr<void>()> thread_scope_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace hm
