#include "redis/redis_url.h"

#include <charconv>
#include <string>

#include "hm/config_error.h"

namespace hm::redis {
namespace {

int parse_port(const std::string& s) {
  int port = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), port);
  if (ec != std::errc() || p != s.data() + s.size() || port < 1 || port > 65535)
    // The text is not echoed: in a malformed URL it may be part of a password.
    throw ConfigError("REDIS_URL", "has a bad port (" + std::to_string(s.size()) +
                                       " characters after the host's ':'), expected 1-65535");
  return port;
}

int parse_db(const std::string& s) {
  int db = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), db);
  if (ec != std::errc() || p != s.data() + s.size() || db < 0 || db > 10000)
    throw ConfigError("REDIS_URL", "has a bad database number after the '/' (" + std::to_string(s.size()) +
                                       " characters), expected 0-10000");
  return db;
}

// unix:///path[?db=N], `rest` being what follows "unix://".
RedisOptions parse_unix_url(const std::string& rest) {
  RedisOptions o;
  const auto q = rest.find('?');
  o.socket = rest.substr(0, q);
  if (o.socket.empty()) throw ConfigError("REDIS_URL", "has an empty socket path");
  if (q != std::string::npos) {
    const std::string query = rest.substr(q + 1);
    if (query.rfind("db=", 0) != 0) throw ConfigError("REDIS_URL", "only ?db=N is understood after a socket path");
    o.db = parse_db(query.substr(3));
  }
  return o;
}

}  // namespace

RedisOptions parse_redis_url(const std::string& url) {
  if (url.rfind("unix://", 0) == 0) return parse_unix_url(url.substr(7));
  // hiredis 0.14 (Debian 12) has no TLS: refuse rather than talk in clear to a
  // TLS port. Checked before any other part, so the rest is never echoed.
  if (url.rfind("rediss://", 0) == 0)
    throw ConfigError("REDIS_URL",
                      "rediss:// (TLS) is not built into hm-worker (hiredis 0.14 has no TLS); run the stunnel "
                      "sidecar (deploy/components/redis-tls) and point REDIS_URL at its plain loopback end, "
                      "redis://127.0.0.1:6379/0");
  if (url.rfind("redis://", 0) != 0)
    throw ConfigError("REDIS_URL", "must start with redis:// or unix:// (redis://host:port/db)");
  RedisOptions o;
  std::string rest = url.substr(8);
  const auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos && slash + 1 < rest.size()) o.db = parse_db(rest.substr(slash + 1));
  const auto at = authority.rfind('@');
  if (at != std::string::npos) {
    const std::string userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const auto colon = userinfo.find(':');
    if (colon == std::string::npos) {
      o.password = userinfo;
    } else {
      o.username = userinfo.substr(0, colon);
      o.password = userinfo.substr(colon + 1);
    }
  }
  const auto colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    o.host = authority.substr(0, colon);
    o.port = parse_port(authority.substr(colon + 1));
  } else {
    o.host = authority;
  }
  if (o.host.empty()) throw ConfigError("REDIS_URL", "has an empty host");
  return o;
}

}  // namespace hm::redis
