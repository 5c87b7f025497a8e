#pragma once
// The HTTP seam for the Graph API and the CDN. The libcurl implementation is
// http::CurlHttpClient (src/http/curl_client.h); tests use a fake.

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace hm {

// Where a call may go, for URLs that come from outside (the media role's
// attachments). Off for the Graph API, whose address is configuration. When
// enforced, the client follows redirects itself and checks every hop: the
// scheme (https, or http when allow_http; so never a downgrade unless
// allowed), the host against allowed_hosts (suffixes on a dot boundary, IP
// addresses only exactly, see core/destination.h), and each address it is
// about to connect to (only public ones unless allow_private_addresses). No
// proxy from the environment is used (it would hide the address). A refused
// hop is HttpFailure::kRefused; nothing is sent to it.
struct DestinationPolicy {
  bool enforce = false;
  std::vector<std::string> allowed_hosts;  // normalized entries (parse_allowed_host)
  bool allow_http = false;
  bool allow_private_addresses = false;
};

struct HttpCallOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds total_timeout{30000};
  long long max_bytes = 0;  // 0 = no limit
  int max_redirects = 0;    // 0 = do not follow
  std::vector<std::string> headers;  // "Name: value"
  DestinationPolicy destination;     // default: not enforced
};

enum class HttpFailure {
  kNone,
  kNotSent,           // could not resolve or connect: the request never left
  kTimeout,           // connect or total timeout
  kTooLarge,          // body over max_bytes
  kTooManyRedirects,
  kRefused,           // DestinationPolicy refused a hop (see HttpResult::refusal)
  kOther,
};

// The rule of a DestinationPolicy that refused a hop.
enum class HttpRefusal {
  kNone,
  kScheme,     // not https
  kDowngrade,  // a redirect from https to http
  kHost,       // the host is not allowed
  kAddress,    // it resolves to a non-public address
  kUrl,        // not a URL libcurl can parse
};
// "scheme", "downgrade", "host", "address", "url" (a metric label); "" for kNone.
constexpr const char* to_string(HttpRefusal r) {
  switch (r) {
    case HttpRefusal::kNone: return "";
    case HttpRefusal::kScheme: return "scheme";
    case HttpRefusal::kDowngrade: return "downgrade";
    case HttpRefusal::kHost: return "host";
    case HttpRefusal::kAddress: return "address";
    case HttpRefusal::kUrl: return "url";
  }
  return "";
}

struct HttpResult {
  HttpFailure failure = HttpFailure::kNone;
  bool request_sent = false;  // the request reached the server (for at-most-once sends)
  long status = 0;            // HTTP status when an answer came
  std::string body;           // unless streamed to a sink
  std::string content_type;
  std::string effective_url;  // after redirects
  long long bytes = 0;
  std::string error;          // what went wrong, without secrets (a URL's host, never its query)
  HttpRefusal refusal = HttpRefusal::kNone;  // kRefused: the rule that refused
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
