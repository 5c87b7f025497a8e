#include "core/destination.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace hm {
namespace {

struct Range {
  std::uint32_t base;
  int bits;
  AddressClass cls;
};

// The IPv4 ranges that are not the public internet, most specific first
// where they overlap (none do today).
constexpr Range kIpv4Ranges[] = {
    {0x00000000, 8, AddressClass::kUnspecified},  // 0.0.0.0/8 ("this network")
    {0x7f000000, 8, AddressClass::kLoopback},     // 127.0.0.0/8
    {0x0a000000, 8, AddressClass::kPrivate},      // 10.0.0.0/8
    {0xac100000, 12, AddressClass::kPrivate},     // 172.16.0.0/12
    {0xc0a80000, 16, AddressClass::kPrivate},     // 192.168.0.0/16
    {0x64400000, 10, AddressClass::kPrivate},     // 100.64.0.0/10 (carrier-grade NAT)
    {0xa9fe0000, 16, AddressClass::kLinkLocal},   // 169.254.0.0/16 (cloud metadata)
    {0xe0000000, 4, AddressClass::kMulticast},    // 224.0.0.0/4
    {0xffffffff, 32, AddressClass::kBroadcast},   // 255.255.255.255
    {0xf0000000, 4, AddressClass::kReserved},     // 240.0.0.0/4
    {0xc0000000, 24, AddressClass::kReserved},    // 192.0.0.0/24 (IETF protocol assignments)
    {0xc0000200, 24, AddressClass::kReserved},    // 192.0.2.0/24 (documentation)
    {0xc6336400, 24, AddressClass::kReserved},    // 198.51.100.0/24 (documentation)
    {0xcb007100, 24, AddressClass::kReserved},    // 203.0.113.0/24 (documentation)
    {0xc6120000, 15, AddressClass::kReserved},    // 198.18.0.0/15 (benchmarking)
};

std::uint32_t ipv4_at(const std::array<std::uint8_t, 16>& a, std::size_t i) {
  return (std::uint32_t{a[i]} << 24) | (std::uint32_t{a[i + 1]} << 16) | (std::uint32_t{a[i + 2]} << 8) | a[i + 3];
}

bool zeros(const std::array<std::uint8_t, 16>& a, std::size_t from, std::size_t to) {
  return std::all_of(a.begin() + static_cast<long>(from), a.begin() + static_cast<long>(to),
                     [](std::uint8_t b) { return b == 0; });
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The canonical text of a numeric address (inet_pton accepts only canonical
// dotted quads for IPv4), or "" when s is not one.
std::string canonical_address(const std::string& s) {
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) return s;
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1 && inet_ntop(AF_INET6, buf, out, sizeof out)) return out;
  return "";
}

bool is_host_name(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t label = 0;
  for (const char c : s) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') || ++label > 63) return false;
  }
  return label > 0;
}

}  // namespace

const char* to_string(AddressClass c) {
  switch (c) {
    case AddressClass::kPublic: return "public";
    case AddressClass::kLoopback: return "loopback";
    case AddressClass::kPrivate: return "private";
    case AddressClass::kLinkLocal: return "link-local";
    case AddressClass::kMulticast: return "multicast";
    case AddressClass::kUnspecified: return "unspecified";
    case AddressClass::kBroadcast: return "broadcast";
    case AddressClass::kReserved: return "reserved";
  }
  return "reserved";
}

AddressClass classify_ipv4(std::uint32_t address) {
  for (const Range& r : kIpv4Ranges) {
    const std::uint32_t mask = r.bits == 0 ? 0 : ~std::uint32_t{0} << (32 - r.bits);
    if ((address & mask) == r.base) return r.cls;
  }
  return AddressClass::kPublic;
}

AddressClass classify_ipv6(const std::array<std::uint8_t, 16>& a) {
  if (zeros(a, 0, 16)) return AddressClass::kUnspecified;
  if (zeros(a, 0, 15) && a[15] == 1) return AddressClass::kLoopback;
  if (zeros(a, 0, 10) && a[10] == 0xff && a[11] == 0xff) return classify_ipv4(ipv4_at(a, 12));  // ::ffff:a.b.c.d
  if (zeros(a, 0, 12)) return classify_ipv4(ipv4_at(a, 12));                                   // ::a.b.c.d
  if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b) {                           // NAT64
    return zeros(a, 4, 12) ? classify_ipv4(ipv4_at(a, 12)) : AddressClass::kPrivate;            // 64:ff9b:1::/48 is local
  }
  if (a[0] == 0x20 && a[1] == 0x02) return classify_ipv4(ipv4_at(a, 2));  // 6to4 2002:a.b.c.d::/48
  if (a[0] == 0xff) return AddressClass::kMulticast;
  if ((a[0] & 0xfe) == 0xfc) return AddressClass::kPrivate;  // fc00::/7 unique local
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return AddressClass::kLinkLocal;
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) return AddressClass::kReserved;  // fec0::/10 site-local
  if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) return AddressClass::kReserved;  // documentation
  if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x00 && a[3] == 0x00) return AddressClass::kReserved;  // Teredo
  return AddressClass::kPublic;
}

bool is_ip_literal(const std::string& text) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

std::optional<AddressClass> classify_literal(const std::string& text) {
  std::string s = text;
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) return classify_ipv4(ntohl(v4.s_addr));
  std::array<std::uint8_t, 16> v6{};
  if (inet_pton(AF_INET6, s.c_str(), v6.data()) == 1) return classify_ipv6(v6);
  return std::nullopt;
}

bool is_ipv4_number(const std::string& host, std::string* canonical) {
  if (host.empty() || host.find_first_not_of("0123456789abcdefxABCDEFX.") != std::string::npos) return false;
  if (!std::isdigit(static_cast<unsigned char>(host.front()))) return false;  // "abc.de" is a name
  in_addr a{};
  if (inet_aton(host.c_str(), &a) == 0) return false;
  char out[INET_ADDRSTRLEN];
  if (canonical && inet_ntop(AF_INET, &a, out, sizeof out)) *canonical = out;
  return true;
}

std::string normalize_host(const std::string& host) {
  std::string h = lower(host);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  while (!h.empty() && h.back() == '.') h.pop_back();
  return h;
}

bool host_allowed(const std::string& host, const std::vector<std::string>& allowed) {
  const std::string h = normalize_host(host);
  std::string address = canonical_address(h);
  if (address.empty()) is_ipv4_number(h, &address);  // 2130706433, 0x7f.1: their canonical form must be listed
  if (!address.empty()) return std::find(allowed.begin(), allowed.end(), address) != allowed.end();
  if (!is_host_name(h)) return false;
  return std::any_of(allowed.begin(), allowed.end(), [&h](const std::string& e) {
    if (e.empty() || !canonical_address(e).empty()) return false;  // an address entry is never a suffix
    return h == e || (h.size() > e.size() && h.compare(h.size() - e.size(), e.size(), e) == 0 &&
                      h[h.size() - e.size() - 1] == '.');
  });
}

std::optional<std::string> parse_allowed_host(const std::string& entry, std::string* why) {
  std::string e = entry;
  e.erase(0, e.find_first_not_of(" \t"));
  e.erase(e.find_last_not_of(" \t") + 1);
  e = normalize_host(e);
  while (!e.empty() && e.front() == '.') e.erase(0, 1);
  std::string canonical;
  if (e.empty()) {
    *why = "has an empty entry";
  } else if (std::string a = canonical_address(e); !a.empty()) {
    return a;
  } else if (is_ipv4_number(e, &canonical)) {
    *why = "'" + e + "' is an address in a non-canonical form: write it " + canonical;
  } else if (!is_host_name(e)) {
    *why = "'" + e + "' is not a host name or IP address (no scheme, port, path or wildcard: 'fbcdn.net' allows its subdomains)";
  } else {
    return e;
  }
  return std::nullopt;
}

}  // namespace hm
