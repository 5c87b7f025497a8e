#include "config/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>

namespace hm {
namespace {

std::map<std::string, std::string> g_env;

std::optional<std::string> fake_env(const char* name) {
  auto it = g_env.find(name);
  if (it == g_env.end()) return std::nullopt;
  return it->second;
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { g_env.clear(); }
  Config load(const std::map<std::string, std::string>& flags = {}, const std::string& file = "") {
    return parse_config(layer_config(file, fake_env, flags));
  }
  // Expects a ConfigError naming `variable`, with `fragment` in the message.
  void expect_rejected(const std::string& variable, const std::string& fragment,
                       const std::map<std::string, std::string>& flags = {}) {
    try {
      load(flags);
      FAIL() << "accepted a bad " << variable;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.variable(), variable) << e.what();
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  }
  std::string write_file(const std::string& text) {
    char path[] = "/tmp/hm-config-XXXXXX";
    const int fd = mkstemp(path);
    close(fd);
    std::ofstream(path) << text;
    files_.push_back(path);
    return path;
  }
  void TearDown() override {
    for (const auto& f : files_) std::remove(f.c_str());
  }
  std::vector<std::string> files_;
};

TEST_F(ConfigTest, DefaultsAreTheSeeds) {
  const Config c = load();
  EXPECT_EQ(c.pool.size, 10);
  EXPECT_EQ(c.pool.max_overflow, 5);
  EXPECT_EQ(c.pool.timeout, std::chrono::seconds(30));
  EXPECT_EQ(c.pool.recycle, std::chrono::seconds(3600));
  EXPECT_EQ(c.db.query_timeout, std::chrono::seconds(30));
  EXPECT_EQ(c.db.isolation, IsolationLevel::kReadCommitted);
  EXPECT_LT(c.db.lock_wait_timeout, c.db.query_timeout);
  EXPECT_EQ(c.db.host, "127.0.0.1");
  EXPECT_EQ(c.db.port, 3306);
  EXPECT_EQ(c.role, Role::kIngest);
}

TEST_F(ConfigTest, FlagBeatsEnvironmentBeatsFileBeatsDefault) {
  const std::string file = write_file("DB_POOL_SIZE=3\nDB_MAX_OVERFLOW=7\nDB_POOL_TIMEOUT=9\n");
  g_env["DB_POOL_SIZE"] = "4";
  g_env["DB_MAX_OVERFLOW"] = "8";
  const RawConfig raw = layer_config(file, fake_env, {{"DB_POOL_SIZE", "5"}});
  const Config c = parse_config(raw);
  EXPECT_EQ(c.pool.size, 5);          // flag
  EXPECT_EQ(c.pool.max_overflow, 8);  // environment
  EXPECT_EQ(c.pool.timeout, std::chrono::seconds(9));  // file
  EXPECT_EQ(c.pool.recycle, std::chrono::seconds(3600));        // default
  EXPECT_EQ(raw.origin("DB_POOL_SIZE"), ValueOrigin::kFlag);
  EXPECT_EQ(raw.origin("DB_MAX_OVERFLOW"), ValueOrigin::kEnvironment);
  EXPECT_EQ(raw.origin("DB_POOL_TIMEOUT"), ValueOrigin::kFile);
  EXPECT_EQ(raw.origin("DB_POOL_RECYCLE"), ValueOrigin::kDefault);
}

TEST_F(ConfigTest, IsolationLevelsAsSpelledInTheSeed) {
  for (const auto& [text, level] : std::vector<std::pair<std::string, IsolationLevel>>{
           {"READ UNCOMMITTED", IsolationLevel::kReadUncommitted},
           {"READ COMMITTED", IsolationLevel::kReadCommitted},
           {"REPEATABLE READ", IsolationLevel::kRepeatableRead},
           {"SERIALIZABLE", IsolationLevel::kSerializable},
           {"read committed", IsolationLevel::kReadCommitted},
           {"READ-COMMITTED", IsolationLevel::kReadCommitted}}) {
    g_env["DB_ISOLATION_LEVEL"] = text;
    EXPECT_EQ(load().db.isolation, level) << text;
  }
}

// The status server's bind address is checked at start (exit 2), as
// WEBHOOK_BIND is, not first when the server binds.
TEST_F(ConfigTest, MetricsBindMustBeANumericAddress) {
  g_env["METRICS_BIND"] = "localhost";
  expect_rejected("METRICS_BIND", "not a numeric IPv4 or IPv6 address");
  g_env["METRICS_BIND"] = "::";
  EXPECT_EQ(load().worker.metrics_bind, "::");
}

TEST_F(ConfigTest, RejectsNotANumber) {
  g_env["DB_POOL_SIZE"] = "ten";
  expect_rejected("DB_POOL_SIZE", "not a number");
  g_env["DB_POOL_SIZE"] = "10abc";
  expect_rejected("DB_POOL_SIZE", "not a number");
  g_env["DB_POOL_SIZE"] = "";
  expect_rejected("DB_POOL_SIZE", "empty");
  g_env["DB_POOL_SIZE"] = "1.5";
  expect_rejected("DB_POOL_SIZE", "not a number");
}

TEST_F(ConfigTest, RejectsNegativeAndOutOfRange) {
  g_env["DB_MAX_OVERFLOW"] = "-1";
  expect_rejected("DB_MAX_OVERFLOW", "negative");
  g_env.clear();
  g_env["DB_POOL_TIMEOUT"] = "-5";
  expect_rejected("DB_POOL_TIMEOUT", "negative");
  g_env.clear();
  g_env["DB_POOL_SIZE"] = "0";
  expect_rejected("DB_POOL_SIZE", "too small");
  g_env.clear();
  g_env["DB_POOL_RECYCLE"] = "99999999999999999999999";
  expect_rejected("DB_POOL_RECYCLE", "too large");
  g_env.clear();
  g_env["DB_QUERY_TIMEOUT"] = "0";
  expect_rejected("DB_QUERY_TIMEOUT", "too small");
  g_env.clear();
  g_env["DB_PORT"] = "70000";
  expect_rejected("DB_PORT", "too large");
}

TEST_F(ConfigTest, RejectsUnknownIsolationLevel) {
  g_env["DB_ISOLATION_LEVEL"] = "SNAPSHOT";
  expect_rejected("DB_ISOLATION_LEVEL", "not an isolation level");
}

TEST_F(ConfigTest, LockWaitMustBeBelowQueryTimeout) {
  g_env["DB_LOCK_WAIT_TIMEOUT"] = "30";
  expect_rejected("DB_LOCK_WAIT_TIMEOUT", "below DB_QUERY_TIMEOUT");
}

TEST_F(ConfigTest, DatabaseUrlGivesTheConnection) {
  g_env["DATABASE_URL"] = "mysql://app:s%40cret@db.internal:3307/hm_prod";
  const Config c = load();
  EXPECT_EQ(c.db.user, "app");
  EXPECT_EQ(c.db.password, "s@cret");
  EXPECT_EQ(c.db.host, "db.internal");
  EXPECT_EQ(c.db.port, 3307);
  EXPECT_EQ(c.db.name, "hm_prod");
}

TEST_F(ConfigTest, DbVariablesOverrideTheUrlParts) {
  g_env["DATABASE_URL"] = "mysql://app:pw@db.internal:3307/hm_prod";
  g_env["DB_NAME"] = "other";
  const Config c = load();
  EXPECT_EQ(c.db.name, "other");
  EXPECT_EQ(c.db.host, "db.internal");
}

TEST_F(ConfigTest, UrlWithSocketAndIpv6) {
  g_env["DATABASE_URL"] = "mysql://app:pw@[::1]:3308/x";
  EXPECT_EQ(load().db.host, "::1");
  EXPECT_EQ(load().db.port, 3308);
  g_env["DATABASE_URL"] = "mysql://app:pw@localhost/x?socket=/run/mysqld.sock";
  EXPECT_EQ(load().db.socket, "/run/mysqld.sock");
}

TEST_F(ConfigTest, RejectsBadUrlsWithoutEchoingThePassword) {
  const std::vector<std::string> bad = {
      "postgres://app:hunter2@db/x", "mysql://app:hunter2@db", "mysql://app:hunter2@db:notaport/x",
      "mysql://hunter2", "mysql://app:hunter2@db:3306/", "mysql://app:hunter2@db/x?sslmode=1",
      "mysql://app:hunter2%zz@db/x", "mysql://app:hunter2@db:0/x"};
  for (const auto& url : bad) {
    g_env["DATABASE_URL"] = url;
    try {
      load();
      ADD_FAILURE() << "accepted " << url;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.variable(), "DATABASE_URL");
      EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
    }
  }
}

TEST_F(ConfigTest, PasswordFileWinsAndUnreadableFileIsNamed) {
  const std::string file = write_file("from-file\n");
  g_env["DB_PASSWORD"] = "from-env";
  g_env["DB_PASSWORD_FILE"] = file;
  EXPECT_EQ(load().db.password, "from-file");
  g_env["DB_PASSWORD_FILE"] = "/nonexistent/secret";
  expect_rejected("DB_PASSWORD_FILE", "cannot read");
}

TEST_F(ConfigTest, RedisPasswordFromAFile) {
  const std::string file = write_file("redis-secret\n");
  g_env["REDIS_PASSWORD_FILE"] = file;
  EXPECT_EQ(load().queue.redis_password, "redis-secret");
  g_env["REDIS_PASSWORD_FILE"] = "/nonexistent";
  expect_rejected("REDIS_PASSWORD_FILE", "cannot read");
}

TEST_F(ConfigTest, SecretsAreNotAcceptedAsFlags) {
  EXPECT_THROW(layer_config("", fake_env, {{"DB_PASSWORD", "x"}}), ConfigError);
  EXPECT_THROW(layer_config("", fake_env, {{"DATABASE_URL", "mysql://a:b@c/d"}}), ConfigError);
}

TEST_F(ConfigTest, ConfigFileRejectsUnknownKeysAndBadLines) {
  const std::string typo = write_file("DB_POOL_SIZ=3\n");
  try {
    layer_config(typo, fake_env, {});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.variable(), "DB_POOL_SIZ");
  }
  const std::string junk = write_file("# comment\n\nnot a setting\n");
  EXPECT_THROW(layer_config(junk, fake_env, {}), ConfigError);
  const std::string quoted = write_file("export DB_ISOLATION_LEVEL=\"REPEATABLE READ\"\n");
  EXPECT_EQ(load({}, quoted).db.isolation, IsolationLevel::kRepeatableRead);
}

TEST_F(ConfigTest, RejectsOtherBadValues) {
  g_env["LOG_LEVEL"] = "verbose";
  expect_rejected("LOG_LEVEL", "verbose");
  g_env.clear();
  g_env["LOG_FORMAT"] = "xml";
  expect_rejected("LOG_FORMAT", "xml");
  g_env.clear();
  g_env["WORKER_ROLE"] = "billing";
  expect_rejected("WORKER_ROLE", "billing");
  g_env.clear();
  g_env["DB_RETRY_BASE_MS"] = "500";
  g_env["DB_RETRY_MAX_MS"] = "100";
  expect_rejected("DB_RETRY_MAX_MS", "DB_RETRY_BASE_MS");
  g_env.clear();
  g_env["DB_NAME"] = "hm`; drop";
  expect_rejected("DB_NAME", "quote");
}

TEST_F(ConfigTest, QueueDefaultsFollowTheRole) {
  g_env["WORKER_ROLE"] = "media";
  const Config c = load();
  EXPECT_EQ(c.queue.stream, "hm:media");
  EXPECT_EQ(c.queue.dead_letter_stream, "hm:media:dead");
  EXPECT_EQ(c.queue.group, "hm-worker");
  EXPECT_EQ(c.ingest.per_transaction, 100u);
  EXPECT_EQ(c.worker.concurrency, 2);
  EXPECT_LT(c.worker.shutdown_timeout, std::chrono::seconds(30));  // below Kubernetes' default grace period
}

TEST_F(ConfigTest, RefusesAConcurrencyThePoolCannotServe) {
  g_env["DB_POOL_SIZE"] = "2";
  g_env["DB_MAX_OVERFLOW"] = "1";
  g_env["WORKER_CONCURRENCY"] = "4";
  expect_rejected("WORKER_CONCURRENCY", "DB_POOL_SIZE + DB_MAX_OVERFLOW = 3");
}

TEST_F(ConfigTest, VisibilityTimeoutMustOutlastTheSlowestBatch) {
  g_env["QUEUE_VISIBILITY_TIMEOUT"] = "40";  // retries 30 s + query 30 s
  expect_rejected("QUEUE_VISIBILITY_TIMEOUT", "slowest batch");
}

TEST_F(ConfigTest, RejectsBadQueueValues) {
  g_env["REDIS_URL"] = "http://:hunter2@x";
  expect_rejected("REDIS_URL", "redis://");
  g_env.clear();
  g_env["QUEUE_BLOCK_MS"] = "9000";
  expect_rejected("QUEUE_BLOCK_MS", "REDIS_TIMEOUT");
  g_env.clear();
  g_env["INGEST_BATCH_SIZE"] = "0";
  expect_rejected("INGEST_BATCH_SIZE", "too small");
  g_env.clear();
  g_env["QUEUE_DEAD_LETTER_STREAM"] = "hm:ingest";
  expect_rejected("QUEUE_DEAD_LETTER_STREAM", "differ");
  g_env.clear();
  g_env["QUEUE_MAX_DELIVERIES"] = "many";
  expect_rejected("QUEUE_MAX_DELIVERIES", "not a number");
}

TEST_F(ConfigTest, ReadCountDefaultsToFiftyOrTheBatchSizeAndMayNotBeSmaller) {
  g_env["INGEST_BATCH_SIZE"] = "1";  // the seed's per-message path reads 50 at a time
  EXPECT_EQ(load().ingest.read_count, 50u);
  g_env["INGEST_BATCH_SIZE"] = "70";
  EXPECT_EQ(load().ingest.read_count, 70u);
  g_env["INGEST_BATCH_SIZE"] = "1";
  g_env["QUEUE_READ_COUNT"] = "20";
  const Config c = load();
  EXPECT_EQ(c.ingest.per_transaction, 1u);
  EXPECT_EQ(c.ingest.read_count, 20u);
  g_env["INGEST_BATCH_SIZE"] = "50";
  expect_rejected("QUEUE_READ_COUNT", "at least INGEST_BATCH_SIZE (50)");
  g_env["QUEUE_READ_COUNT"] = "5000";
  expect_rejected("QUEUE_READ_COUNT", "too large");
  g_env.clear();
  EXPECT_EQ(load().ingest.read_count, 100u);
}

TEST_F(ConfigTest, DescribeRedactsSecrets) {
  g_env["DB_PASSWORD"] = "hunter2";
  g_env["DATABASE_URL"] = "mysql://app:hunter2@db/x";
  g_env["REDIS_URL"] = "redis://:hunter2@cache:6379/0";
  const auto lines = describe_config(layer_config("", fake_env, {}));
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  EXPECT_EQ(all.find("hunter2"), std::string::npos) << all;
  EXPECT_NE(all.find("DB_PASSWORD=<redacted>"), std::string::npos) << all;
  EXPECT_NE(all.find("REDIS_URL=redis://:<redacted>@cache:6379/0"), std::string::npos) << all;
  EXPECT_NE(all.find("DB_POOL_SIZE=10"), std::string::npos) << all;
}

TEST_F(ConfigTest, FlagNames) {
  EXPECT_EQ(flag_name("DB_POOL_SIZE"), "db-pool-size");
  for (const auto& v : known_variables()) EXPECT_NE(find_variable(v.name), nullptr);
  EXPECT_EQ(find_variable("NOPE"), nullptr);
}

}  // namespace
TEST_F(ConfigTest, RepliesAreDeclaredUnknownOnlyAfterASendWithItsRetriesCouldHaveEnded) {
  EXPECT_EQ(load().roles.reply_sending_timeout, std::chrono::seconds(300));
  // GRAPH_TIMEOUT 10 s x 4 attempts + 30 s of waits + 2 x (30 s + 30 s) = 190 s.
  g_env["REPLY_SENDING_TIMEOUT"] = "190";
  expect_rejected("REPLY_SENDING_TIMEOUT", "190 s)");
  g_env["REPLY_SENDING_TIMEOUT"] = "0";
  expect_rejected("REPLY_SENDING_TIMEOUT", "");
  g_env["REPLY_SENDING_TIMEOUT"] = "191";
  EXPECT_EQ(load().roles.reply_sending_timeout, std::chrono::seconds(191));
}

TEST_F(ConfigTest, RetentionDefaultsAndFanOutRoles) {
  const Config c = load();
  EXPECT_EQ(c.ingest.fan_out_roles, (std::vector<Role>{Role::kEnrich, Role::kMedia, Role::kReply}));  // auto
  EXPECT_EQ(c.queue.unconsumed_max_entries, 10000);
  EXPECT_EQ(c.queue.retention_interval, std::chrono::seconds(60));
  EXPECT_EQ(c.queue.consumer_idle_delete, std::chrono::seconds(3600));
  EXPECT_EQ(c.queue.dead_letter_max_entries, 10000);
  EXPECT_EQ(c.queue.dead_letter_max_age, std::chrono::seconds(14 * 86400));
  g_env["INGEST_FAN_OUT_ROLES"] = " reply, enrich ,reply";
  EXPECT_EQ(load().ingest.fan_out_roles, (std::vector<Role>{Role::kReply, Role::kEnrich}));
  g_env["INGEST_FAN_OUT_ROLES"] = "none";
  EXPECT_TRUE(load().ingest.fan_out_roles.empty());
  for (const char* bad : {"", "ingest", "enrich;media", "Enrich", "enrich,"}) {
    g_env["INGEST_FAN_OUT_ROLES"] = bad;
    expect_rejected("INGEST_FAN_OUT_ROLES", "is not one of enrich, media, reply");
  }
  g_env.erase("INGEST_FAN_OUT_ROLES");
  g_env["QUEUE_CONSUMER_IDLE_DELETE"] = "59";
  expect_rejected("QUEUE_CONSUMER_IDLE_DELETE", "at least 60");
  g_env["QUEUE_CONSUMER_IDLE_DELETE"] = "0";
  EXPECT_EQ(load().queue.consumer_idle_delete.count(), 0);
  g_env["DEAD_LETTER_MAX_AGE"] = "7d";
  expect_rejected("DEAD_LETTER_MAX_AGE", "not a number");
}

// Typos with one of our prefixes are reported; Kubernetes' service links for
// Services named like our prefixes (redis, db...) and others' variables are not.
TEST_F(ConfigTest, UnknownVariablesAreThoseWithOurPrefixesOnly) {
  const std::vector<std::string> names = {
      "DB_POOL_SIZ", "DB_POOL_SIZE", "REDIS_URLL", "REDIS_SERVICE_HOST", "REDIS_SERVICE_PORT",
      "REDIS_SERVICE_PORT_REDIS", "REDIS_PORT", "REDIS_PORT_6379_TCP", "REDIS_PORT_6379_TCP_ADDR",
      "REDIS_PORT_6379_TCP_PORT", "REDIS_PORT_6379_TCP_PROTO", "DB_PORT_3306_UDP_ADDR", "PATH", "HOME", "HM_DB_PORT",
      "KUBERNETES_SERVICE_HOST", "WORKER_ROLES", "GRAPH_TOKEN", "LOG_LEVEL", "MEDIA_DIRS", "METRICS_PORTS"};
  EXPECT_EQ(unknown_variables(names), (std::vector<std::string>{"DB_POOL_SIZ", "GRAPH_TOKEN", "MEDIA_DIRS",
                                                                "METRICS_PORTS", "REDIS_URLL", "WORKER_ROLES"}));
  // Near misses of the link shapes are named; a very long name costs no stack.
  const std::vector<std::string> near = {"REDIS_PORT_6379_TCPX", "REDIS_PORT_TCP", "REDIS_PORT_6379_ICMP",
                                         "REDIS_SERVICE_PORT_", "REDIS_PORT_6379_TCP_HOST", "REDIS_service_HOST",
                                         "DB_" + std::string(200000, 'A') + "_PORT_1_TCP_X"};
  EXPECT_EQ(unknown_variables(near).size(), near.size());
  EXPECT_TRUE(unknown_variables({"DB_" + std::string(200000, 'A') + "_PORT_1_TCP_ADDR", "DB__PORT"}).empty());
}

}  // namespace hm

namespace hm {

// The account pauses and the reply housekeeping: whole seconds, at least 1,
// a bad value stops the start naming the variable.
TEST_F(ConfigTest, GraphPausesAndTheReplyHousekeepingIntervalAreValidated) {
  const Config c = load();
  EXPECT_EQ(c.roles.graph_rate_limit_pause, std::chrono::seconds(60));
  EXPECT_EQ(c.roles.graph_auth_pause, std::chrono::seconds(300));
  EXPECT_EQ(c.roles.reply_housekeeping_interval, std::chrono::seconds(10));
  for (const char* name : {"GRAPH_RATE_LIMIT_PAUSE", "GRAPH_AUTH_PAUSE", "REPLY_HOUSEKEEPING_INTERVAL"}) {
    for (const char* bad : {"0", "-5", "1.5", "soon", "999999999"}) {
      g_env[name] = bad;
      expect_rejected(name, "");
    }
    g_env[name] = "2";
  }
  const Config two = load();
  EXPECT_EQ(two.roles.graph_rate_limit_pause, std::chrono::seconds(2));
  EXPECT_EQ(two.roles.graph_auth_pause, std::chrono::seconds(2));
  EXPECT_EQ(two.roles.reply_housekeeping_interval, std::chrono::seconds(2));
}

}  // namespace hm
