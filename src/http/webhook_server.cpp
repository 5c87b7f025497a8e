#include "http/webhook_server.h"

#include <httplib.h>

#include <cstddef>
#include <exception>

#include <spdlog/spdlog.h>

namespace hm {

namespace {

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

void configure(httplib::Server& s, const WebhookServerOptions& o) {
  const auto threads = static_cast<std::size_t>(o.threads > 0 ? o.threads : 1);
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_read_timeout(o.read_timeout);
  s.set_write_timeout(o.write_timeout);
  s.set_keep_alive_timeout(o.keep_alive.count());
  s.set_keep_alive_max_count(static_cast<std::size_t>(o.keep_alive_requests > 0 ? o.keep_alive_requests : 1));
  s.set_payload_max_length(o.max_delivery_bytes + 1);  // a second guard: read_body() stops first
  s.set_tcp_nodelay(true);
}

void add_routes(httplib::Server& s, const WebhookServerOptions& options, WebhookHandler handler) {
  const std::size_t max = options.max_delivery_bytes;
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
}

}  // namespace

WebhookServer::WebhookServer(const std::string& bind_address, int port, WebhookHandler handler,
                             const WebhookServerOptions& options)
    // TCP_DEFER_ACCEPT: a connection reaches accept() (and a pool thread)
    // only once its first bytes have arrived.
    : listener_(std::make_unique<Listener>(
          ListenerOptions{bind_address, port, "WEBHOOK_BIND", "WEBHOOK_PORT", options.read_timeout},
          [&](httplib::Server& s) {
            configure(s, options);
            add_routes(s, options, std::move(handler));
          })) {}

}  // namespace hm
