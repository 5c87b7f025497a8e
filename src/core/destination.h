#pragma once
// Where a download from an untrusted URL may go (the media role's attachment
// URLs come from outside): the host allow-list (suffixes on a dot boundary,
// IP literals only exactly) and the classes of addresses that must never be
// connected to (loopback, private, link-local, multicast, unspecified,
// broadcast and reserved; IPv4 and IPv6, including IPv4-mapped and
// IPv4-compatible IPv6 forms and NAT64). The HTTP adapter applies them to
// every hop and to the address each connection is about to be made to.
// Thread-safety: pure functions.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hm {

enum class AddressClass {
  kPublic,
  kLoopback,     // 127/8, ::1
  kPrivate,      // 10/8, 172.16/12, 192.168/16, 100.64/10 (CGNAT), fc00::/7
  kLinkLocal,    // 169.254/16 (cloud metadata), fe80::/10
  kMulticast,    // 224/4, ff00::/8
  kUnspecified,  // 0/8, ::
  kBroadcast,    // 255.255.255.255
  kReserved,     // 240/4, 192.0.0/24, 198.18/15, documentation ranges, fec0::/10
};

// "loopback", "private"...: a word for messages and metric labels.
const char* to_string(AddressClass c);

// An IPv4 address in host byte order (127.0.0.1 = 0x7f000001).
AddressClass classify_ipv4(std::uint32_t address);
// An IPv6 address in network byte order; IPv4-mapped (::ffff:a.b.c.d),
// IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) forms are
// classified by their IPv4 address.
AddressClass classify_ipv6(const std::array<std::uint8_t, 16>& address);
// True when text is a numeric IPv4 or IPv6 address as inet_pton reads it
// ("0.0.0.0", "::"; no brackets, no host names): what a server may bind.
bool is_ip_literal(const std::string& text);

// The class of a canonical numeric address ("127.0.0.1", "::1", "[::1]"), or
// nullopt when text is not one.
std::optional<AddressClass> classify_literal(const std::string& text);

// True for a host written as an IPv4 address in any form a resolver would
// accept (decimal 2130706433, octal 0177.0.0.1, hex 0x7f.1...); `canonical`
// receives its dotted-quad form.
bool is_ipv4_number(const std::string& host, std::string* canonical);

// Lower-case, without brackets around IPv6 and without a trailing dot.
std::string normalize_host(const std::string& host);

// True when host (normalized) is allowed by one entry of `allowed`
// (normalized entries, see parse_allowed_host): a name entry allows itself and
// its subdomains on a dot boundary ("fbcdn.net" allows "x.fbcdn.net", not
// "evilfbcdn.net"); an address entry allows that address only, written
// exactly. A host that is an address in a non-canonical form is allowed only
// when its canonical form is listed.
bool host_allowed(const std::string& host, const std::vector<std::string>& allowed);

// One entry of an allow-list as an operator writes it (" .FBCDN.net. "):
// normalized, or nullopt with `why` when it is neither a host name nor a
// canonical IP address (a wildcard, a URL, an empty entry...).
std::optional<std::string> parse_allowed_host(const std::string& entry, std::string* why);

}  // namespace hm
