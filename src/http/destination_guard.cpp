#include "http/destination_guard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

#include "core/destination.h"
#include "core/text.h"

namespace hm {
namespace {

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};

std::string url_part(CURLU* u, CURLUPart part) {
  char* value = nullptr;
  if (curl_url_get(u, part, &value, 0) != CURLUE_OK || !value) return "";
  std::string s = value;
  curl_free(value);
  return s;
}

// A host fit for a message: printable, bounded.
std::string shown(const std::string& host) { return printable_utf8(host.substr(0, 255)); }

}  // namespace

std::optional<Refusal> check_url(const std::string& url, const std::string& previous_scheme,
                                 const DestinationPolicy& policy, std::string* scheme) {
  std::unique_ptr<CURLU, UrlDeleter> u(curl_url());
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
    return Refusal{HttpRefusal::kUrl, "not a URL with a scheme and a host"};
  *scheme = normalize_host(url_part(u.get(), CURLUPART_SCHEME));  // lower case
  const std::string host = url_part(u.get(), CURLUPART_HOST);
  const std::string at = host.empty() ? "" : " (host " + shown(host) + ")";
  const bool https = *scheme == "https";
  const bool http = *scheme == "http";
  if (http && previous_scheme == "https" && !policy.allow_http) return Refusal{HttpRefusal::kDowngrade, "a redirect from https to http" + at};
  if (!https && !(http && policy.allow_http)) return Refusal{HttpRefusal::kScheme, "scheme " + shown(*scheme) + " is not https" + at};
  if (host.empty()) return Refusal{HttpRefusal::kUrl, "a URL without a host"};
  if (!host_allowed(host, policy.allowed_hosts)) return Refusal{HttpRefusal::kHost, "host " + shown(host) + " is not allowed"};
  std::string canonical = normalize_host(host);
  is_ipv4_number(canonical, &canonical);
  if (auto cls = classify_literal(canonical); cls && *cls != AddressClass::kPublic && !policy.allow_private_addresses)
    return Refusal{HttpRefusal::kAddress, "host " + shown(host) + " is a " + to_string(*cls) + " address"};
  return std::nullopt;
}

curl_socket_t open_guarded_socket(void* user, curlsocktype /*purpose*/, curl_sockaddr* address) {
  auto* guard = static_cast<SocketGuard*>(user);
  AddressClass cls = AddressClass::kReserved;
  char text[INET6_ADDRSTRLEN] = "a non-IP address";
  if (address->family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, &address->addr, std::min<std::size_t>(sizeof in, address->addrlen));
    cls = classify_ipv4(ntohl(in.sin_addr.s_addr));
    inet_ntop(AF_INET, &in.sin_addr, text, sizeof text);
  } else if (address->family == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, &address->addr, std::min<std::size_t>(sizeof in6, address->addrlen));
    std::array<std::uint8_t, 16> bytes{};
    std::memcpy(bytes.data(), &in6.sin6_addr, bytes.size());
    cls = classify_ipv6(bytes);
    inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text);
  }
  if (cls != AddressClass::kPublic && !guard->allow_private) {
    guard->refused = std::string(text) + " (" + to_string(cls) + ")";
    return CURL_SOCKET_BAD;
  }
  ++guard->allowed;
  return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

}  // namespace hm
