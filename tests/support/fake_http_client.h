#pragma once
// An HttpClient inside the test process, with no socket: a handler answers
// each call with an HttpResult (failures such as a timeout after the request
// left are one field away). A body is fed to the call's sink, and cut at
// max_bytes (kTooLarge) as CurlHttpClient does. Records every call.
// Thread-safe (one mutex; the handler runs outside it).

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "hm/http_client.h"

namespace hm::test {

struct FakeCall {
  std::string method;  // GET or POST
  std::string url;
  std::string body;    // POST body
  HttpCallOptions options;
};

class FakeHttpClient final : public HttpClient {
 public:
  using Handler = std::function<HttpResult(const FakeCall&)>;
  explicit FakeHttpClient(Handler handler) : handler_(std::move(handler)) {}

  HttpResult get(const std::string& url, const HttpCallOptions& options, BodySink sink = {}) override;
  HttpResult post_json(const std::string& url, const std::string& body, const HttpCallOptions& options) override;

  std::vector<FakeCall> calls() const;
  int count(const std::string& method) const;

 private:
  HttpResult call(FakeCall c, const BodySink& sink);
  Handler handler_;
  mutable std::mutex mutex_;
  std::vector<FakeCall> calls_;  // guarded by mutex_
};

// A 2xx-or-not answer with a body, as a server would give it.
HttpResult http_answer(long status, std::string body, std::string content_type = "application/json");
// A failure: kTimeout with request_sent, kNotSent without...
HttpResult http_failure(HttpFailure failure, bool request_sent, std::string error = "fake failure");

}  // namespace hm::test
