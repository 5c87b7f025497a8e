#pragma once
// A scripted HTTP server on loopback (port 0) inside the test process, playing
// the Graph API and the CDN: a handler per request, optional delays, bodies
// with or without Content-Length. One thread per connection.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hm::test {

struct FakeRequest {
  std::string method;
  std::string path;   // without the query
  std::string query;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

struct FakeResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::string> headers;           // extra "Name: value"
  std::chrono::milliseconds delay{0};         // before answering
  bool content_length = true;                 // false: close-delimited body
};

class FakeHttpServer {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&)>;
  explicit FakeHttpServer(Handler handler);
  ~FakeHttpServer();
  int port() const { return port_; }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<FakeRequest> requests() const;
  int count(const std::string& method, const std::string& path_prefix) const;

 private:
  void serve();
  void handle(int fd);
  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<FakeRequest> requests_;
  std::vector<std::thread> workers_;
};

}  // namespace hm::test
