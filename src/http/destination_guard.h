#pragma once
// The DestinationPolicy's two checks inside the libcurl adapter: a URL before
// it is requested (scheme, host, a literal address), and the address of each
// connection libcurl is about to open (CURLOPT_OPENSOCKETFUNCTION).
// Thread-safety: check_url is pure; a SocketGuard belongs to one transfer.

#include <curl/curl.h>

#include <optional>
#include <string>

#include "hm/http_client.h"

namespace hm {

struct Refusal {
  HttpRefusal rule = HttpRefusal::kNone;
  std::string detail;  // names the host (never the path or query) and the rule
};

// Checks `url` against the policy; previous_scheme is the scheme of the hop
// that redirected here ("" for the first). `scheme` receives the URL's scheme.
std::optional<Refusal> check_url(const std::string& url, const std::string& previous_scheme,
                                 const DestinationPolicy& policy, std::string* scheme);

// The open-socket callback's data for one transfer.
struct SocketGuard {
  bool allow_private = false;
  std::string refused;  // the last address refused, with its class: "127.0.0.1 (loopback)"
  int allowed = 0;      // addresses let through
};

// CURLOPT_OPENSOCKETFUNCTION: opens the socket only for a permitted address
// (user is a SocketGuard*); CURL_SOCKET_BAD otherwise, which libcurl reports
// as CURLE_COULDNT_CONNECT after trying the other addresses.
curl_socket_t open_guarded_socket(void* user, curlsocktype purpose, curl_sockaddr* address);

}  // namespace hm
