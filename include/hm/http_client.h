#pragma once
// The HTTP seam for the Graph API and the CDN. The libcurl implementation is
// http::CurlHttpClient (src/http/curl_client.h); tests use a fake.

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace hm {

struct HttpCallOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds total_timeout{30000};
  long long max_bytes = 0;  // 0 = no limit
  int max_redirects = 0;    // 0 = do not follow
  std::vector<std::string> headers;  // "Name: value"
};

enum class HttpFailure {
  kNone,
  kNotSent,           // could not resolve or connect: the request never left
  kTimeout,           // connect or total timeout
  kTooLarge,          // body over max_bytes
  kTooManyRedirects,
  kOther,
};

struct HttpResult {
  HttpFailure failure = HttpFailure::kNone;
  bool request_sent = false;  // the request reached the server (for at-most-once sends)
  long status = 0;            // HTTP status when an answer came
  std::string body;           // unless streamed to a sink
  std::string content_type;
  std::string effective_url;  // after redirects
  long long bytes = 0;
  std::string error;          // what went wrong, without secrets
  bool ok() const { return failure == HttpFailure::kNone && status >= 200 && status < 300; }
};

// Receives a body chunk; return false to abort (e.g. over a limit).
using BodySink = std::function<bool(const char* data, std::size_t size)>;

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  virtual HttpResult get(const std::string& url, const HttpCallOptions& options, BodySink sink = {}) = 0;
  virtual HttpResult post_json(const std::string& url, const std::string& body, const HttpCallOptions& options) = 0;
};


}  // namespace hm
