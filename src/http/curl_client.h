#pragma once
// HttpClient on libcurl: connect and total timeouts, a maximum body size,
// bounded redirects, no signals (safe in threads). One easy handle per call
// (per hop when a DestinationPolicy is enforced), so one client serves every
// thread. The access token travels in a header, never in a URL, so that no
// log line or error carries it.
//
// An enforced DestinationPolicy (hm/http_client.h) is applied here: each URL
// (the first and every redirect target, followed by this class, not by
// libcurl) is parsed with libcurl's own URL parser and checked before any
// request; each address libcurl is about to connect to is checked in its
// open-socket callback (after DNS, so a permitted name that resolves to a
// private address is refused too); proxies from the environment are off.

#include <string>
#include <vector>

#include "hm/http_client.h"

namespace hm {

struct CurlClientOptions {
  // Test only, never from configuration: CURLOPT_RESOLVE entries
  // "host:port:address" that answer for DNS (a permitted CDN name pointed at
  // 127.0.0.1, so that only the connected-address check stands in the way).
  std::vector<std::string> resolve;
  // Test only: a CA bundle (CURLOPT_CAINFO) instead of the system's, for a
  // TLS stand-in with a certificate of its own. "" = the system's.
  std::string ca_file;
};

class CurlHttpClient final : public HttpClient {
 public:
  // curl_global_init is not thread-safe: construct one, in main, before threads start.
  explicit CurlHttpClient(CurlClientOptions options = {});
  ~CurlHttpClient() override;
  CurlHttpClient(const CurlHttpClient&) = delete;
  CurlHttpClient& operator=(const CurlHttpClient&) = delete;
  HttpResult get(const std::string& url, const HttpCallOptions& options, BodySink sink = {}) override;
  HttpResult post_json(const std::string& url, const std::string& body, const HttpCallOptions& options) override;

 private:
  struct Hop;
  HttpResult perform(const std::string& url, const std::string* post_body, const HttpCallOptions& options,
                     BodySink sink);
  // Follows redirects one hop at a time, each checked against the policy.
  HttpResult perform_guarded(const std::string& url, const std::string* post_body, const HttpCallOptions& options,
                             const BodySink& sink);
  // One request; libcurl follows redirects itself only when hop.follow.
  HttpResult perform_hop(Hop& hop, const HttpCallOptions& options);

  CurlClientOptions options_;
};

}  // namespace hm
