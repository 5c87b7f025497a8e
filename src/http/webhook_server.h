#pragma once
// The webhook receiver's HTTP server: cpp-httplib (Debian's
// libcpp-httplib-dev) with a fixed thread pool, on WEBHOOK_BIND:WEBHOOK_PORT.
// It answers GET and POST on one path (WEBHOOK_PATH); other paths get 404,
// other methods 405. It only moves bytes: every decision (signature,
// content, what to answer) is the handler's (webhook/receiver.h).
//
// Hostile clients: a connection is handed to a pool thread only once it has
// sent something (TCP_DEFER_ACCEPT), and one idle longer than `keep_alive` is
// closed at once, so idle connections do not hold threads;
// each read and write has a timeout; a body over `max_delivery_bytes` is never
// read into memory (declared by Content-Length: refused before reading;
// chunked: refused at the first chunk that passes the limit), the handler is
// called with `too_large` set, and the connection is closed.
//
// Thread-safety: the handler runs on the pool's threads, several at once.

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "http/listener.h"

namespace hm {

struct WebhookRequest {
  std::string method;  // "GET" or "POST"
  std::multimap<std::string, std::string> query;  // decoded query parameters
  std::string content_type;                       // as sent, empty when absent
  std::optional<std::string> signature;           // X-Hub-Signature-256
  std::string body;                               // raw bytes, exactly as received
  bool too_large = false;                         // body over max_delivery_bytes (body empty)
  bool unreadable = false;                        // the body could not be read (bad chunked encoding, timeout)
};

struct WebhookAnswer {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
  int retry_after_s = 0;  // > 0: a Retry-After header
};

using WebhookHandler = std::function<WebhookAnswer(const WebhookRequest&)>;

struct WebhookServerOptions {
  std::string path = "/webhook";           // WEBHOOK_PATH
  int threads = 64;                        // WEBHOOK_THREADS: connections served at once
  std::size_t max_delivery_bytes = 1 << 20;    // MAX_DELIVERY_BYTES
  std::chrono::seconds read_timeout{5};    // per read of a request
  std::chrono::seconds write_timeout{5};   // per write of an answer
  // How long a connection may sit idle before (or between) requests. 0 (the
  // default): cpp-httplib still polls ~10 ms, so a client that sends its next
  // request at once keeps the connection, while an idle one gives its pool
  // thread back at once instead of holding it (thousands of idle connections
  // would otherwise queue real requests behind them).
  std::chrono::seconds keep_alive{0};
  int keep_alive_requests = 100;           // requests per connection, then it is closed
};

class WebhookServer {
 public:
  // Binds and listens now (throws std::runtime_error naming WEBHOOK_BIND or
  // WEBHOOK_PORT); serves on background threads. Port 0: the kernel picks.
  WebhookServer(const std::string& bind_address, int port, WebhookHandler handler, const WebhookServerOptions& options);
  ~WebhookServer() = default;  // stops without a limit when stop() was not called
  WebhookServer(const WebhookServer&) = delete;
  WebhookServer& operator=(const WebhookServer&) = delete;

  int port() const { return listener_->port(); }
  // False once the listening loop has ended by itself (or by stop()): the
  // port then refuses every connection, and the process must not look alive.
  bool listening() const { return listener_->listening(); }

  // Stops accepting (the listening socket is closed: new connections are
  // refused), lets the requests in flight finish, and waits up to `limit`:
  // true when every thread ended; false when one is still busy (the caller
  // must then end the process rather than destroy the handler).
  bool stop(std::chrono::milliseconds limit) { return listener_->stop(limit); }

 private:
  std::unique_ptr<Listener> listener_;
};

}  // namespace hm
