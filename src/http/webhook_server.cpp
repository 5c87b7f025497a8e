#include "http/webhook_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <httplib.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include <spdlog/spdlog.h>

namespace hm {

struct WebhookServer::State {
  httplib::Server server;
  std::mutex mutex;
  std::condition_variable cv;
  bool ended = false;  // guarded by mutex: listen_after_bind() returned (its pool joined)
};

namespace {

bool numeric_address(const std::string& address) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, address.c_str(), buf) == 1 || ::inet_pton(AF_INET6, address.c_str(), buf) == 1;
}

// The declared Content-Length, or -1 when absent or not a number.
long long declared_length(const httplib::Request& req) {
  if (!req.has_header("Content-Length")) return -1;
  const std::string v = req.get_header_value("Content-Length");
  if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(v);
}

WebhookRequest base_request(const httplib::Request& req) {
  WebhookRequest r;
  r.method = req.method;
  r.query.insert(req.params.begin(), req.params.end());
  if (req.has_header("Content-Type")) r.content_type = req.get_header_value("Content-Type");
  if (req.has_header("X-Hub-Signature-256")) r.signature = req.get_header_value("X-Hub-Signature-256");
  return r;
}

void reply(const WebhookHandler& handler, const WebhookRequest& request, httplib::Response& res) {
  WebhookAnswer a;
  try {
    a = handler(request);
  } catch (const std::exception& e) {
    spdlog::warn("webhook handler: {}", e.what());
    a = {500, "internal error\n"};
  }
  res.status = a.status;
  if (a.retry_after_s > 0) res.set_header("Retry-After", std::to_string(a.retry_after_s));
  res.set_content(a.body, a.content_type.c_str());
}

// Reads the body into request.body, never past `max`.
void read_body(const httplib::Request& req, const httplib::ContentReader& reader, std::size_t max,
               WebhookRequest& request) {
  const long long declared = declared_length(req);
  if (declared > static_cast<long long>(max)) {
    request.too_large = true;
    return;
  }
  if (declared > 0) request.body.reserve(static_cast<std::size_t>(declared));
  const bool complete = reader([&](const char* data, std::size_t n) {
    if (request.body.size() + n > max) {
      request.too_large = true;
      return false;
    }
    request.body.append(data, n);
    return true;
  });
  if (request.too_large) {
    request.body.clear();
    request.body.shrink_to_fit();
  } else if (!complete) {
    request.unreadable = true;
  }
}

// Debian's cpp-httplib is built with a listen backlog of 5: a burst of new
// connections (Meta's, or 64 from a load test) would see SYNs dropped and
// 1 s retransmits. listen() again on the bound socket raises it.
constexpr int kListenBacklog = 1024;

void configure(httplib::Server& s, const WebhookServerOptions& o, const std::shared_ptr<std::atomic<int>>& listening) {
  const auto threads = static_cast<std::size_t>(o.threads > 0 ? o.threads : 1);
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_read_timeout(o.read_timeout);
  s.set_write_timeout(o.write_timeout);
  s.set_keep_alive_timeout(o.keep_alive.count());
  s.set_keep_alive_max_count(static_cast<std::size_t>(o.keep_alive_requests > 0 ? o.keep_alive_requests : 1));
  s.set_payload_max_length(o.max_body_bytes + 1);  // a second guard: read_body() stops first
  s.set_tcp_nodelay(true);
  const int defer = static_cast<int>(o.read_timeout.count());
  // No SO_REUSEPORT (a second process must not share the port silently);
  // TCP_DEFER_ACCEPT: a connection reaches accept() (and a pool thread) only
  // once its first bytes have arrived.
  s.set_socket_options([defer, listening](socket_t sock) {
    const int one = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(sock, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof defer);
    listening->store(sock);  // the last socket configured is the one bound
  });
}

}  // namespace

WebhookServer::WebhookServer(const std::string& bind_address, int port, WebhookHandler handler,
                             const WebhookServerOptions& options)
    : state_(std::make_shared<State>()) {
  if (!numeric_address(bind_address))
    throw std::runtime_error("WEBHOOK_BIND: '" + bind_address + "' is not a numeric IP address");
  httplib::Server& s = state_->server;
  auto listening = std::make_shared<std::atomic<int>>(-1);
  configure(s, options, listening);
  const std::size_t max = options.max_body_bytes;
  auto shared = std::make_shared<WebhookHandler>(std::move(handler));
  s.Get(options.path, [shared](const httplib::Request& req, httplib::Response& res) {
    reply(*shared, base_request(req), res);
  });
  s.Post(options.path, [shared, max](const httplib::Request& req, httplib::Response& res,
                                     const httplib::ContentReader& reader) {
    WebhookRequest request = base_request(req);
    read_body(req, reader, max, request);
    reply(*shared, request, res);
    // Unread bytes may follow: this connection cannot carry another request.
    if (request.too_large || request.unreadable) res.set_header("Connection", "close");
  });
  const auto refuse = [](const httplib::Request&, httplib::Response& res) {
    res.status = 405;
    res.set_content("GET or POST\n", "text/plain; charset=utf-8");
  };
  s.Put(options.path, refuse);
  s.Patch(options.path, refuse);
  s.Delete(options.path, refuse);
  s.Options(options.path, refuse);
  port_ = port == 0 ? s.bind_to_any_port(bind_address) : (s.bind_to_port(bind_address, port) ? port : -1);
  if (port_ <= 0) {
    throw std::runtime_error("WEBHOOK_PORT: cannot listen on " + bind_address + ":" + std::to_string(port) + ": " +
                             std::strerror(errno));
  }
  if (listening->load() >= 0) ::listen(listening->load(), kListenBacklog);
  thread_ = std::thread([state = state_] {
    state->server.listen_after_bind();
    std::lock_guard<std::mutex> lock(state->mutex);
    state->ended = true;
    state->cv.notify_all();
  });
}

bool WebhookServer::listening() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return !state_->ended;
}

WebhookServer::~WebhookServer() {
  if (thread_.joinable()) stop(std::chrono::hours(24));
}

bool WebhookServer::stop(std::chrono::milliseconds limit) {
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
