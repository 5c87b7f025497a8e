#include "http/server.h"

#include <httplib.h>

#include <cstddef>
#include <exception>

#include <spdlog/spdlog.h>

namespace hm {

namespace {

void answer(const HttpHandler& handler, const httplib::Request& req, httplib::Response& res) {
  HttpResponse r;
  try {
    r = handler(req.path);
  } catch (const std::exception& e) {
    spdlog::warn("http {}: {}", req.path, e.what());
    r = {500, "text/plain; charset=utf-8", "internal error\n"};
  }
  res.status = r.status;
  res.set_content(r.body, r.content_type.c_str());
}

void refuse(const httplib::Request& /*req*/, httplib::Response& res) {
  res.status = 405;
  res.set_content("only GET and HEAD\n", "text/plain; charset=utf-8");
}

// The pool, the timeouts and the routes: GET and HEAD, anything else 405.
void setup(httplib::Server& s, HttpHandler handler, const HttpServerOptions& options) {
  const auto threads = static_cast<std::size_t>(options.threads > 0 ? options.threads : 1);
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_read_timeout(options.read_timeout);
  s.set_write_timeout(options.write_timeout);
  s.set_keep_alive_max_count(1);  // one request per connection: an idle client never holds a pool thread
  s.set_payload_max_length(8192);
  // HEAD is answered by the GET handler (without the body).
  s.Get(".*", [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    answer(handler, req, res);
  });
  s.Post(".*", refuse);
  s.Put(".*", refuse);
  s.Patch(".*", refuse);
  s.Delete(".*", refuse);
  s.Options(".*", refuse);
}

}  // namespace

HttpServer::HttpServer(const std::string& bind_address, int port, HttpHandler handler, HttpServerOptions options)
    : listener_(std::make_unique<Listener>(ListenerOptions{bind_address, port, "METRICS_BIND", "METRICS_PORT", {}},
                                           [&](httplib::Server& s) { setup(s, std::move(handler), options); })) {}

}  // namespace hm
