#include "support/fake_http_client.h"

#include <algorithm>

namespace hm::test {

HttpResult FakeHttpClient::get(const std::string& url, const HttpCallOptions& options, BodySink sink) {
  return call({"GET", url, "", options}, sink);
}

HttpResult FakeHttpClient::post_json(const std::string& url, const std::string& body, const HttpCallOptions& options) {
  return call({"POST", url, body, options}, {});
}

HttpResult FakeHttpClient::call(FakeCall c, const BodySink& sink) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    calls_.push_back(c);
  }
  HttpResult r = handler_(c);
  if (r.failure != HttpFailure::kNone) return r;
  const long long limit = c.options.max_bytes;
  if (limit > 0 && static_cast<long long>(r.body.size()) > limit) {
    HttpResult too_large;
    too_large.failure = HttpFailure::kTooLarge;
    too_large.request_sent = true;
    too_large.status = r.status;
    too_large.error = "body over " + std::to_string(limit) + " bytes";
    return too_large;
  }
  r.bytes = static_cast<long long>(r.body.size());
  if (sink && r.status >= 200 && r.status < 300) {
    if (!r.body.empty() && !sink(r.body.data(), r.body.size())) {
      HttpResult aborted;
      aborted.failure = HttpFailure::kOther;
      aborted.request_sent = true;
      aborted.error = "aborted by the sink";
      return aborted;
    }
    r.body.clear();
  }
  return r;
}

std::vector<FakeCall> FakeHttpClient::calls() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return calls_;
}

int FakeHttpClient::count(const std::string& method) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(std::count_if(calls_.begin(), calls_.end(), [&](const FakeCall& c) { return c.method == method; }));
}

HttpResult http_answer(long status, std::string body, std::string content_type) {
  HttpResult r;
  r.request_sent = true;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

HttpResult http_failure(HttpFailure failure, bool request_sent, std::string error) {
  HttpResult r;
  r.failure = failure;
  r.request_sent = request_sent;
  r.error = std::move(error);
  return r;
}

}  // namespace hm::test
