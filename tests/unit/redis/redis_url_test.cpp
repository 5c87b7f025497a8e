#include <gtest/gtest.h>

#include "hm/config_error.h"
#include "redis/redis_url.h"

namespace hm::redis {
namespace {

TEST(RedisUrlTest, Parses) {
  auto o = parse_redis_url("redis://127.0.0.1:36379/2");
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 36379);
  EXPECT_EQ(o.db, 2);
  o = parse_redis_url("redis://:s3cret@cache.internal");
  EXPECT_EQ(o.password, "s3cret");
  EXPECT_EQ(o.port, 6379);
  o = parse_redis_url("redis://worker:s3cret@cache:6380/0");
  EXPECT_EQ(o.username, "worker");
  o = parse_redis_url("unix:///run/redis.sock?db=3");
  EXPECT_EQ(o.socket, "/run/redis.sock");
  EXPECT_EQ(o.db, 3);
}

TEST(RedisUrlTest, RejectsBadUrlsWithoutThePassword) {
  for (const char* url : {"http://x", "redis://:hunter2@h:99999", "redis://:hunter2@h/abc", "redis://:hunter2@",
                          "unix://", "redis://:hunter2@h:port/0"}) {
    try {
      parse_redis_url(url);
      ADD_FAILURE() << url;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.variable(), "REDIS_URL");
      EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
    }
  }
}

// hiredis 0.14 has no TLS. Before, rediss:// got the generic "must start with
// redis://" error, which does not say why or what to do instead.
TEST(RedisUrlTest, RedissIsRefusedWithAPointerToTheTlsSidecar) {
  for (const char* url : {"rediss://:hunter2@cache.internal:6380/0", "rediss://cache.internal", "rediss://:hunter2@h:port"}) {
    try {
      parse_redis_url(url);
      ADD_FAILURE() << url;
    } catch (const ConfigError& e) {
      const std::string what = e.what();
      EXPECT_EQ(e.variable(), "REDIS_URL");
      EXPECT_NE(what.find("TLS"), std::string::npos) << what;
      EXPECT_NE(what.find("stunnel sidecar"), std::string::npos) << what;
      EXPECT_NE(what.find("deploy/components/redis-tls"), std::string::npos) << what;
      EXPECT_EQ(what.find("hunter2"), std::string::npos) << what;
    }
  }
}

}  // namespace
}  // namespace hm::redis
