#pragma once
// Where and how to reach Redis, and the parser of REDIS_URL that fills it.
// Free of hiredis: the configuration layer validates REDIS_URL through this
// header without seeing the client library.
//
// Thread-safety: plain values and a pure function.

#include <chrono>
#include <string>

namespace hm::redis {

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string socket;    // unix socket path; when set, host and port are not used
  int db = 0;            // SELECTed after connecting; 0 = the default database
  std::string username;  // Redis 6 ACL user; empty = default user
  std::string password;  // secret; empty = no AUTH
  std::chrono::milliseconds connect_timeout{5000};
  // Read/write timeout of every command. Must exceed any BLOCK time used.
  std::chrono::milliseconds socket_timeout{5000};
};

// redis://[[user]:password@]host[:port][/db] or unix:///path[?db=N].
// Throws hm::ConfigError naming REDIS_URL; never echoes the password.
// rediss:// (TLS) is refused with a pointer to the stunnel sidecar: the
// client library has no TLS (see deploy/components/redis-tls).
RedisOptions parse_redis_url(const std::string& url);

}  // namespace hm::redis
