#pragma once
// HttpClient on libcurl: connect and total timeouts, a maximum body size,
// bounded redirects, no signals (safe in threads). One easy handle per call,
// so one client serves every thread. The access token travels in a header,
// never in a URL, so that no log line or error carries it.

#include "hm/http_client.h"

namespace hm {

class CurlHttpClient final : public HttpClient {
 public:
  // curl_global_init is not thread-safe: construct one, in main, before threads start.
  CurlHttpClient();
  ~CurlHttpClient() override;
  CurlHttpClient(const CurlHttpClient&) = delete;
  CurlHttpClient& operator=(const CurlHttpClient&) = delete;
  HttpResult get(const std::string& url, const HttpCallOptions& options, BodySink sink = {}) override;
  HttpResult post_json(const std::string& url, const std::string& body, const HttpCallOptions& options) override;

 private:
  HttpResult perform(const std::string& url, const std::string* post_body, const HttpCallOptions& options,
                     BodySink sink);
};

}  // namespace hm
