// Where a media download may go: the address classifier (IPv4, IPv6 and the
// IPv6 forms that carry an IPv4 address), the host allow-list (suffixes on a
// dot boundary, addresses only exactly) and the MEDIA_* settings that feed
// them. Today's code has none of this: every destination is fetched.
#include "core/destination.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <unistd.h>

#include <cstring>
#include <map>

#include "config/config.h"
#include "http/destination_guard.h"

namespace hm {
namespace {

AddressClass of(const std::string& literal) {
  auto c = classify_literal(literal);
  EXPECT_TRUE(c.has_value()) << literal;
  return c.value_or(AddressClass::kPublic);
}

TEST(AddressClassifierTest, Ipv4RangesAndTheirEdges) {
  EXPECT_EQ(of("127.0.0.1"), AddressClass::kLoopback);
  EXPECT_EQ(of("127.255.255.254"), AddressClass::kLoopback);
  EXPECT_EQ(of("10.0.0.1"), AddressClass::kPrivate);
  EXPECT_EQ(of("172.16.0.1"), AddressClass::kPrivate);
  EXPECT_EQ(of("172.31.255.255"), AddressClass::kPrivate);
  EXPECT_EQ(of("172.32.0.1"), AddressClass::kPublic);
  EXPECT_EQ(of("172.15.255.255"), AddressClass::kPublic);
  EXPECT_EQ(of("192.168.1.1"), AddressClass::kPrivate);
  EXPECT_EQ(of("100.64.0.1"), AddressClass::kPrivate);
  EXPECT_EQ(of("100.127.255.255"), AddressClass::kPrivate);
  EXPECT_EQ(of("100.128.0.1"), AddressClass::kPublic);
  EXPECT_EQ(of("169.254.169.254"), AddressClass::kLinkLocal);  // cloud metadata
  EXPECT_EQ(of("224.0.0.1"), AddressClass::kMulticast);
  EXPECT_EQ(of("239.255.255.250"), AddressClass::kMulticast);
  EXPECT_EQ(of("0.0.0.0"), AddressClass::kUnspecified);
  EXPECT_EQ(of("0.1.2.3"), AddressClass::kUnspecified);
  EXPECT_EQ(of("255.255.255.255"), AddressClass::kBroadcast);
  EXPECT_EQ(of("240.0.0.1"), AddressClass::kReserved);
  EXPECT_EQ(of("157.240.1.35"), AddressClass::kPublic);  // a Meta CDN address
  EXPECT_EQ(of("8.8.8.8"), AddressClass::kPublic);
  EXPECT_EQ(classify_ipv4(0x7f000001), AddressClass::kLoopback);
}

TEST(AddressClassifierTest, Ipv6RangesAndTheIpv4TheyCarry) {
  EXPECT_EQ(of("::1"), AddressClass::kLoopback);
  EXPECT_EQ(of("[::1]"), AddressClass::kLoopback);
  EXPECT_EQ(of("::"), AddressClass::kUnspecified);
  EXPECT_EQ(of("fe80::1"), AddressClass::kLinkLocal);
  EXPECT_EQ(of("febf::1"), AddressClass::kLinkLocal);
  EXPECT_EQ(of("fc00::1"), AddressClass::kPrivate);
  EXPECT_EQ(of("fd12:3456::1"), AddressClass::kPrivate);
  EXPECT_EQ(of("ff02::1"), AddressClass::kMulticast);
  EXPECT_EQ(of("2a03:2880:f10c:83:face:b00c:0:25de"), AddressClass::kPublic);  // a Meta address
  // IPv4-mapped, IPv4-compatible, NAT64 and 6to4 forms are their IPv4 address.
  EXPECT_EQ(of("::ffff:127.0.0.1"), AddressClass::kLoopback);
  EXPECT_EQ(of("::ffff:7f00:1"), AddressClass::kLoopback);
  EXPECT_EQ(of("::ffff:169.254.169.254"), AddressClass::kLinkLocal);
  EXPECT_EQ(of("::ffff:10.0.0.1"), AddressClass::kPrivate);
  EXPECT_EQ(of("::ffff:0.0.0.0"), AddressClass::kUnspecified);
  EXPECT_EQ(of("::ffff:8.8.8.8"), AddressClass::kPublic);
  EXPECT_EQ(of("::127.0.0.1"), AddressClass::kLoopback);
  EXPECT_EQ(of("::192.168.0.1"), AddressClass::kPrivate);
  EXPECT_EQ(of("64:ff9b::169.254.169.254"), AddressClass::kLinkLocal);
  EXPECT_EQ(of("2002:7f00:1::1"), AddressClass::kLoopback);
  EXPECT_FALSE(classify_literal("localhost").has_value());
  EXPECT_FALSE(classify_literal("2130706433").has_value());  // not canonical: see is_ipv4_number
}

TEST(AddressClassifierTest, NonCanonicalIpv4FormsAreRecognized) {
  std::string canonical;
  for (const char* form : {"2130706433", "0x7f000001", "0177.0.0.1", "0x7f.1", "127.1"}) {
    canonical.clear();
    EXPECT_TRUE(is_ipv4_number(form, &canonical)) << form;
    EXPECT_EQ(canonical, "127.0.0.1") << form;
  }
  EXPECT_FALSE(is_ipv4_number("fbcdn.net", &canonical));
  EXPECT_FALSE(is_ipv4_number("deadbeef.fbcdn.net", &canonical));
  EXPECT_FALSE(is_ipv4_number("1e100.net", &canonical));
}

TEST(HostAllowListTest, SuffixesMatchOnADotBoundaryOnly) {
  const std::vector<std::string> allowed = {"fbsbx.com", "fbcdn.net", "cdninstagram.com"};
  EXPECT_TRUE(host_allowed("lookaside.fbsbx.com", allowed));
  EXPECT_TRUE(host_allowed("scontent.xx.fbcdn.net", allowed));
  EXPECT_TRUE(host_allowed("scontent-ams2-1.cdninstagram.com", allowed));
  EXPECT_TRUE(host_allowed("fbcdn.net", allowed));
  EXPECT_TRUE(host_allowed("SCONTENT.XX.FBCDN.NET.", allowed));  // case, trailing dot
  EXPECT_FALSE(host_allowed("evilfbcdn.net", allowed));
  EXPECT_FALSE(host_allowed("fbcdn.net.evil.com", allowed));
  EXPECT_FALSE(host_allowed("net", allowed));
  EXPECT_FALSE(host_allowed("localhost", allowed));
  EXPECT_FALSE(host_allowed("127.0.0.1", allowed));
  EXPECT_FALSE(host_allowed("169.254.169.254", allowed));
  EXPECT_FALSE(host_allowed("x.fbcdn.net\n.evil", allowed));
  EXPECT_FALSE(host_allowed("", allowed));
  EXPECT_FALSE(host_allowed("lookaside.fbsbx.com", {}));  // an empty list allows nothing
}

TEST(HostAllowListTest, AddressesOnlyExactlyAndInAnyForm) {
  const std::vector<std::string> allowed = {"127.0.0.1", "::1", "0.0.1"};
  EXPECT_TRUE(host_allowed("127.0.0.1", allowed));
  EXPECT_TRUE(host_allowed("[::1]", allowed));
  EXPECT_TRUE(host_allowed("0:0::1", allowed));
  EXPECT_FALSE(host_allowed("127.0.0.2", allowed));
  EXPECT_FALSE(host_allowed("::ffff:127.0.0.1", allowed));
  EXPECT_FALSE(host_allowed("10.0.0.1", allowed));  // "0.0.1" is no suffix of an address
  // Non-canonical forms count as the address they stand for.
  EXPECT_TRUE(host_allowed("2130706433", allowed));
  EXPECT_FALSE(host_allowed("2130706433", {"fbcdn.net"}));
  EXPECT_FALSE(host_allowed("0x7f.1", {"fbcdn.net"}));
}

TEST(HostAllowListTest, EntriesAreNormalizedOrRejected) {
  std::string why;
  EXPECT_EQ(parse_allowed_host(" .FBCDN.net. ", &why).value_or(""), "fbcdn.net");
  EXPECT_EQ(parse_allowed_host("[::1]", &why).value_or(""), "::1");
  EXPECT_EQ(parse_allowed_host("127.0.0.1", &why).value_or(""), "127.0.0.1");
  for (const char* bad : {"", "*.fbcdn.net", "https://fbcdn.net", "fbcdn.net:443", "fbcdn.net/x", "a..b"})
    EXPECT_FALSE(parse_allowed_host(bad, &why).has_value()) << bad;
  EXPECT_FALSE(parse_allowed_host("2130706433", &why).has_value());
  EXPECT_NE(why.find("127.0.0.1"), std::string::npos) << why;
}

// The check every hop's URL goes through before a request (the first and each
// redirect target): the same function, so a redirect is held to the first
// hop's rules, and an https hop's redirect to http is a downgrade.
TEST(UrlCheckTest, SchemeHostAddressAndDowngrade) {
  DestinationPolicy strict{true, {"fbcdn.net", "10.0.0.7"}, false, false};
  std::string scheme;
  auto rule = [&](const std::string& url, const std::string& previous, const DestinationPolicy& p) {
    auto r = check_url(url, previous, p, &scheme);
    return r ? std::string(to_string(r->rule)) : std::string("ok");
  };
  EXPECT_EQ(rule("https://scontent.xx.fbcdn.net/v/t1.jpg?sig=1", "", strict), "ok");
  EXPECT_EQ(scheme, "https");
  EXPECT_EQ(rule("HTTPS://SCONTENT.XX.FBCDN.NET/x", "", strict), "ok");
  EXPECT_EQ(rule("http://scontent.xx.fbcdn.net/x", "", strict), "scheme");
  EXPECT_EQ(rule("http://scontent.xx.fbcdn.net/x", "https", strict), "downgrade");
  EXPECT_EQ(rule("https://scontent.xx.fbcdn.net/x", "https", strict), "ok");
  EXPECT_EQ(rule("ftp://scontent.xx.fbcdn.net/x", "", strict), "scheme");
  EXPECT_EQ(rule("https://evilfbcdn.net/x", "", strict), "host");
  EXPECT_EQ(rule("https://169.254.169.254/latest/meta-data/", "", strict), "host");
  EXPECT_EQ(rule("https://10.0.0.7/x", "", strict), "address");  // listed, but private
  EXPECT_EQ(rule("https://167772167/x", "", strict), "address");  // 10.0.0.7 in decimal
  EXPECT_EQ(rule("not a url", "", strict), "url");
  EXPECT_EQ(rule("https:///x", "", strict), "host");  // libcurl reads "x" as the host
  DestinationPolicy relaxed = strict;
  relaxed.allow_http = true;
  EXPECT_EQ(rule("http://scontent.xx.fbcdn.net/x", "https", relaxed), "ok");
  relaxed.allow_private_addresses = true;
  EXPECT_EQ(rule("http://10.0.0.7/x", "", relaxed), "ok");
  // The reason names the host and never the query (signatures, tokens).
  const auto r = check_url("https://evil.example/x?token=secret", "", strict, &scheme);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->detail, "host evil.example is not allowed");
}

// The connected-address check as libcurl calls it: the address after DNS (or
// after libcurl parsed 2130706433 / 0x7f.1 into 127.0.0.1), before connect.
// libcurl's curl_sockaddr has room for an IPv6 address after its header, as here.
struct SocketAddress {
  explicit SocketAddress(const char* text) {
    sockaddr_in in{};
    sockaddr_in6 in6{};
    auto* a = get();
    a->socktype = SOCK_STREAM;
    a->protocol = IPPROTO_TCP;
    if (inet_pton(AF_INET, text, &in.sin_addr) == 1) {
      in.sin_family = a->family = AF_INET;
      a->addrlen = sizeof in;
      std::memcpy(storage + offsetof(curl_sockaddr, addr), &in, sizeof in);
    } else {
      EXPECT_EQ(inet_pton(AF_INET6, text, &in6.sin6_addr), 1) << text;
      in6.sin6_family = a->family = AF_INET6;
      a->addrlen = sizeof in6;
      std::memcpy(storage + offsetof(curl_sockaddr, addr), &in6, sizeof in6);
    }
  }
  curl_sockaddr* get() { return reinterpret_cast<curl_sockaddr*>(storage); }
  alignas(curl_sockaddr) unsigned char storage[sizeof(curl_sockaddr) + sizeof(sockaddr_in6)] = {};
};

// Opens (and closes) a socket through the guard; false when it refused.
bool opens(SocketGuard& guard, const char* address) {
  SocketAddress a(address);
  const curl_socket_t fd = open_guarded_socket(&guard, CURLSOCKTYPE_IPCXN, a.get());
  if (fd == CURL_SOCKET_BAD) return false;
  ::close(fd);
  return true;
}

TEST(ConnectedAddressTest, NonPublicAddressesAreNeverConnectedTo) {
  SocketGuard strict;
  EXPECT_FALSE(opens(strict, "127.0.0.1"));
  EXPECT_EQ(strict.refused, "127.0.0.1 (loopback)");
  EXPECT_FALSE(opens(strict, "169.254.169.254"));
  EXPECT_EQ(strict.refused, "169.254.169.254 (link-local)");
  EXPECT_FALSE(opens(strict, "10.96.0.1"));  // a cluster service
  EXPECT_FALSE(opens(strict, "::1"));
  EXPECT_FALSE(opens(strict, "::ffff:127.0.0.1"));
  EXPECT_EQ(strict.refused, "::ffff:127.0.0.1 (loopback)");
  EXPECT_FALSE(opens(strict, "fd00::1"));
  EXPECT_EQ(strict.allowed, 0);
  EXPECT_TRUE(opens(strict, "157.240.1.35"));
  EXPECT_TRUE(opens(strict, "2a03:2880:f10c:83:face:b00c:0:25de"));
  EXPECT_EQ(strict.allowed, 2);

  SocketGuard relaxed{true, {}, 0};
  EXPECT_TRUE(opens(relaxed, "127.0.0.1"));
  EXPECT_TRUE(opens(relaxed, "::1"));
}

// ------------------------------------------------------------ configuration

std::map<std::string, std::string> g_env;
std::optional<std::string> fake_env(const char* name) {
  auto it = g_env.find(name);
  return it == g_env.end() ? std::nullopt : std::make_optional(it->second);
}

Config load(const std::map<std::string, std::string>& flags) { return parse_config(layer_config("", fake_env, flags)); }

std::string rejected(const std::map<std::string, std::string>& flags) {
  try {
    load(flags);
  } catch (const ConfigError& e) {
    return e.variable();
  }
  return "";
}

TEST(MediaDestinationConfigTest, DefaultsAreTheMetaCdnsHttpsAndPublicAddresses) {
  const Config c = load({});
  EXPECT_EQ(c.roles.media_allowed_hosts, (std::vector<std::string>{"fbsbx.com", "fbcdn.net", "cdninstagram.com"}));
  EXPECT_FALSE(c.roles.media_allow_http);
  EXPECT_FALSE(c.roles.media_allow_private_addresses);
}

TEST(MediaDestinationConfigTest, TheThreeRelaxationsAreExplicit) {
  const Config c = load({{"MEDIA_ALLOWED_HOSTS", "127.0.0.1, cdn.test"},
                         {"MEDIA_ALLOW_HTTP", "true"},
                         {"MEDIA_ALLOW_PRIVATE_ADDRESSES", "TRUE"}});
  EXPECT_EQ(c.roles.media_allowed_hosts, (std::vector<std::string>{"127.0.0.1", "cdn.test"}));
  EXPECT_TRUE(c.roles.media_allow_http);
  EXPECT_TRUE(c.roles.media_allow_private_addresses);
  EXPECT_EQ(rejected({{"MEDIA_ALLOW_HTTP", "maybe"}}), "MEDIA_ALLOW_HTTP");
  EXPECT_EQ(rejected({{"MEDIA_ALLOW_PRIVATE_ADDRESSES", "2"}}), "MEDIA_ALLOW_PRIVATE_ADDRESSES");
  EXPECT_EQ(rejected({{"MEDIA_ALLOWED_HOSTS", "*.fbcdn.net"}}), "MEDIA_ALLOWED_HOSTS");
  EXPECT_EQ(rejected({{"MEDIA_ALLOWED_HOSTS", "fbcdn.net,,x.com"}}), "MEDIA_ALLOWED_HOSTS");
  EXPECT_EQ(rejected({{"MEDIA_ALLOWED_HOSTS", ""}}), "MEDIA_ALLOWED_HOSTS");
}

// What a server may bind: numeric addresses only, as inet_pton reads them.
TEST(IpLiteralTest, OnlyNumericAddressesWithoutBrackets) {
  EXPECT_TRUE(is_ip_literal("0.0.0.0"));
  EXPECT_TRUE(is_ip_literal("127.0.0.1"));
  EXPECT_TRUE(is_ip_literal("::"));
  EXPECT_TRUE(is_ip_literal("fe80::1"));
  EXPECT_FALSE(is_ip_literal("localhost"));
  EXPECT_FALSE(is_ip_literal("[::1]"));
  EXPECT_FALSE(is_ip_literal("0.0.0.0.0"));
  EXPECT_FALSE(is_ip_literal("2130706433"));
  EXPECT_FALSE(is_ip_literal(""));
}

}  // namespace
}  // namespace hm
