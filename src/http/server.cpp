#include "http/server.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <httplib.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include <spdlog/spdlog.h>

namespace hm {

struct HttpServer::State {
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

}  // namespace

HttpServer::HttpServer(const std::string& bind_address, int port, HttpHandler handler, HttpServerOptions options)
    : state_(std::make_shared<State>()) {
  if (!numeric_address(bind_address))
    throw std::runtime_error("METRICS_BIND: '" + bind_address + "' is not a numeric IP address");
  httplib::Server& s = state_->server;
  const auto threads = static_cast<std::size_t>(options.threads > 0 ? options.threads : 1);
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_read_timeout(options.read_timeout);
  s.set_write_timeout(options.write_timeout);
  s.set_keep_alive_max_count(1);  // one request per connection: an idle client never holds a pool thread
  s.set_payload_max_length(8192);
  // httplib's default adds SO_REUSEPORT, with which a second process binds the
  // same port silently and takes half of the probes: a clash must fail.
  s.set_socket_options([](socket_t sock) {
    const int one = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  });
  // HEAD is answered by the GET handler (without the body).
  s.Get(".*", [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    answer(handler, req, res);
  });
  s.Post(".*", refuse);
  s.Put(".*", refuse);
  s.Patch(".*", refuse);
  s.Delete(".*", refuse);
  s.Options(".*", refuse);
  port_ = port == 0 ? s.bind_to_any_port(bind_address) : (s.bind_to_port(bind_address, port) ? port : -1);
  if (port_ <= 0) {
    throw std::runtime_error("METRICS_PORT: cannot listen on " + bind_address + ":" + std::to_string(port) + ": " +
                             std::strerror(errno));
  }
  thread_ = std::thread([state = state_] {
    state->server.listen_after_bind();
    std::lock_guard<std::mutex> lock(state->mutex);
    state->ended = true;
    state->cv.notify_all();
  });
}

HttpServer::~HttpServer() {
  if (thread_.joinable()) stop(std::chrono::hours(24));
}

bool HttpServer::stop(std::chrono::milliseconds limit) {
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
