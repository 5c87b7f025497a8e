// Secrets never leave the process: every secret (database password and its
// file, Redis password and its file, a Redis ACL user's password in
// REDIS_URL, the Graph token and its file, passwords inside DATABASE_URL) is
// set to a marker, every command is driven through its success and error
// paths (bad values, unreachable or refusing servers, dead letters, doctor,
// config, --help), and all stdout, stderr, logs (trace, JSON), metrics and
// dead letters are searched for the marker.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "redis/connection.h"
#include "redis/redis_url.h"
#include "support/process.h"
#include "support/test_db.h"

namespace hm {
namespace {

using namespace std::chrono_literals;

const std::string kBin = HM_WORKER_BINARY;
const std::string kMarker = "Zq7xMarker";  // every secret contains it

class SecretsTest : public ::testing::Test {
 protected:
  SecretsTest() : db_("secrets") {}

  void SetUp() override {
    tag_ = std::to_string(::getpid());
    user_ = "hm_sec_" + tag_;
    db_.execute("DROP USER IF EXISTS '" + user_ + "'@'127.0.0.1'");
    db_.execute("CREATE USER '" + user_ + "'@'127.0.0.1' IDENTIFIED BY '" + kMarker + "db'");
    db_.execute("GRANT ALL PRIVILEGES ON `" + db_.name() + "`.* TO '" + user_ + "'@'127.0.0.1'");
    const auto r = redis::parse_redis_url(test::stack_redis_url());
    redis_host_ = r.host + ":" + std::to_string(r.port);
    redis_ = redis::Connection::connect(r);
    redis_->command({"ACL", "SETUSER", user_, "on", ">" + kMarker + "redis", "~*", "&*", "+@all"});
    dir_ = "/tmp/hm-secrets-" + tag_;
    std::system(("mkdir -p " + dir_).c_str());
    write(dir_ + "/db-password", kMarker + "db");
    write(dir_ + "/redis-password", kMarker + "redis");
    write(dir_ + "/token", kMarker + "token");
    write(dir_ + "/tokens.json", R"({"17841405309211844": ")" + kMarker + R"(tokens"})");
    write(dir_ + "/migrate-password", kMarker + "migrate");
    write(dir_ + "/rules.json",
          R"({"accounts": {"17841405309211844": {"rules": [{"name": "hours", "keywords": ["saat"], "reply": "9-18"}]}}})");
    write(dir_ + "/settings.env", "DB_PASSWORD=" + kMarker + "file\nREDIS_PASSWORD=" + kMarker + "file\n");
    stream_ = "hm:test:secrets:" + tag_;
  }

  void TearDown() override {
    try {
      redis_->command({"ACL", "DELUSER", user_});
      for (const char* s : {"", ":dead", ":reply", ":enrich", ":media"}) redis_->command({"DEL", stream_ + s});
      db_.execute("DROP USER IF EXISTS '" + user_ + "'@'127.0.0.1'");
    } catch (...) {
    }
    std::system(("rm -rf " + dir_).c_str());
  }

  static void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

  // Every secret set, the real ones where they are used, through files that
  // win over the variables (which hold other marked values).
  std::string env() const {
    return "env -u DATABASE_URL DB_HOST=127.0.0.1 DB_PORT=" + std::to_string(db_.options().port) + " DB_NAME='" +
           db_.name() + "' DB_USER=" + user_ + " DB_PASSWORD=" + kMarker + "dbvar DB_PASSWORD_FILE=" + dir_ +
           "/db-password REDIS_URL='redis://" + user_ + ":" + kMarker + "redis@" + redis_host_ +
           "/0' REDIS_PASSWORD=" + kMarker + "redisvar REDIS_PASSWORD_FILE=" + dir_ + "/redis-password GRAPH_ACCESS_TOKEN=" + kMarker +
           "tokenvar GRAPH_ACCESS_TOKEN_FILE=" + dir_ + "/token GRAPH_ACCESS_TOKENS_FILE=" + dir_ +
           "/tokens.json QUEUE_STREAM='" + stream_ + "' QUEUE_STREAM_PREFIX='" + stream_ + ":" +
           "' DEAD_LETTER_PATH=" + dir_ + "/dead.jsonl LOG_LEVEL=trace ";
  }

  // Runs a command and keeps everything it printed.
  test::CommandResult run(const std::string& command) {
    auto r = test::run_command(command + " </dev/null");
    seen_.push_back({command, r.out + r.err});
    return r;
  }

  void expect_no_marker() {
    std::ifstream dead(dir_ + "/dead.jsonl");
    seen_.push_back({"DEAD_LETTER_PATH", std::string(std::istreambuf_iterator<char>(dead), {})});
    for (const auto& [what, text] : seen_)
      EXPECT_EQ(text.find(kMarker), std::string::npos) << "a secret in the output of: " << what << "\n" << text;
  }

  test::TestDatabase db_;
  std::string tag_, user_, redis_host_, dir_, stream_;
  std::unique_ptr<redis::Connection> redis_;
  std::vector<std::pair<std::string, std::string>> seen_;
};

TEST_F(SecretsTest, NoCommandPrintsASecretOnItsSuccessOrErrorPaths) {
  // Help, configuration, migrations, a file run with dead letters, doctor.
  run(env() + kBin + " --help");
  for (const char* c : {"run", "enqueue", "dead-letters", "doctor", "migrate", "config"})
    run(env() + kBin + " " + c + " --help");
  EXPECT_EQ(run(env() + kBin + " config").exit_code, 0);
  EXPECT_EQ(run(env() + kBin + " config --config " + dir_ + "/settings.env").exit_code, 0) << seen_.back().second;
  ASSERT_EQ(run(env() + kBin + " migrate").exit_code, 0) << seen_.back().second;
  const std::string input = dir_ + "/in.jsonl";
  write(input, test::text_delivery("mid.sec.1", "saat kaçta?", 1768396566941LL) + "\n{\"object\":1}\nnot json\n");
  EXPECT_EQ(run(env() + kBin + " run --role ingest --source file:" + input).exit_code, 0) << seen_.back().second;
  run(env() + kBin + " doctor");
  run(env() + kBin + " doctor --json");
  // The queue: enqueue, dead letters.
  EXPECT_EQ(run(env() + kBin + " enqueue --role ingest " + input).exit_code, 0) << seen_.back().second;
  run(env() + kBin + " dead-letters list");

  // Bad values: exit 2, naming the variable, never echoing the secret.
  const std::vector<std::string> bad = {
      "REDIS_URL='redis://127.0.0.1:" + kMarker + "/0'",
      "REDIS_URL='redis://:" + kMarker + "'",
      "REDIS_URL='redis://u:pa/" + kMarker + "@127.0.0.1/0'",
      "DATABASE_URL='mysql://u:" + kMarker + "@h:" + kMarker + "/d'",
      "DATABASE_URL='mysql://u:" + kMarker + "/d'",
      "DATABASE_URL='http://u:" + kMarker + "@h/d'",
      "DB_PASSWORD_FILE=/nonexistent/password",
      "DB_POOL_SIZE=x",
  };
  for (const auto& b : bad)
    for (const char* c : {" config", " doctor", " run --role ingest --source -"})
      EXPECT_EQ(run(env() + b + " " + kBin + c).exit_code, 2) << b << c;

  // Servers that refuse or cannot be reached.
  EXPECT_NE(run(env() + "DB_PORT=1 DB_CONNECT_TIMEOUT=2 " + kBin + " migrate").exit_code, 0);
  EXPECT_NE(run(env() + "DB_PORT=1 DB_CONNECT_TIMEOUT=2 " + kBin + " run --role ingest --source file:" + input).exit_code,
            0);
  run(env() + "DB_PORT=1 DB_CONNECT_TIMEOUT=2 REDIS_URL=redis://127.0.0.1:1/0 " + kBin + " doctor");
  EXPECT_NE(run("echo x > " + dir_ + "/db-password; " + env() + kBin + " migrate").exit_code, 0);  // 1045
  write(dir_ + "/db-password", kMarker + "db");
  write(dir_ + "/redis-wrong", "wrong" + kMarker);
  EXPECT_NE(run(env() + "REDIS_PASSWORD_FILE=" + dir_ + "/redis-wrong " + kBin +
                " enqueue --role ingest " + input)
                .exit_code,
            0);
  EXPECT_NE(run(env() + "REDIS_URL=redis://127.0.0.1:1/0 REDIS_TIMEOUT=2 " + kBin + " dead-letters list").exit_code, 0);
  // The migrate account's password, refused (1045), from the variable and from its file.
  const std::string migrate = "DB_MIGRATE_USER=hm_sec_nobody DB_MIGRATE_PASSWORD=" + kMarker + "migratevar ";
  EXPECT_EQ(run(env() + migrate + kBin + " config").exit_code, 0);
  EXPECT_NE(run(env() + migrate + kBin + " migrate").exit_code, 0);
  EXPECT_NE(run(env() + migrate + "DB_MIGRATE_PASSWORD_FILE=" + dir_ + "/migrate-password " + kBin + " migrate").exit_code, 0);
  EXPECT_EQ(run(env() + "DB_MIGRATE_PASSWORD=" + kMarker + " " + kBin + " config").exit_code, 2);  // without the user
  expect_no_marker();
}

// The daemons at trace level in JSON, their metrics and their stream dead letters.
TEST_F(SecretsTest, NoDaemonLogsOrExportsASecret) {
  ASSERT_EQ(run(env() + kBin + " migrate").exit_code, 0) << seen_.back().second;
  const std::string input = dir_ + "/in.jsonl";
  write(input, test::text_delivery("mid.sec.2", "saat kaçta?", 1768396566941LL) + "\n{\"object\":1}\n");
  ASSERT_EQ(run(env() + kBin + " enqueue --role ingest " + input).exit_code, 0) << seen_.back().second;
  for (const char* role : {"ingest", "reply"}) {
    const int port = test::free_port();
    const std::string cmd = env() + "LOG_FORMAT=json METRICS_BIND=127.0.0.1 METRICS_PORT=" + std::to_string(port) +
                            " REPLY_RULES_PATH=" + dir_ + "/rules.json GRAPH_API_BASE=http://127.0.0.1:1 " + kBin +
                            " run --role " + role;
    test::ChildProcess daemon("/bin/sh", {"-c", "exec " + cmd}, {}, std::string("secrets-") + role);
    if (std::string(role) == "ingest") {
      EXPECT_TRUE(test::eventually([&] { return db_.scalar("SELECT COUNT(*) FROM message") == 1; }, 15s))
          << daemon.err();
      EXPECT_TRUE(test::eventually([&] { return redis_->command({"XLEN", stream_ + ":dead"}).view().integer() == 1; }, 15s));
    } else {
      test::eventually([&] { return test::http_get(port, "/readyz").status == 200; }, 10s);
    }
    for (const char* path : {"/metrics", "/healthz", "/readyz"})
      seen_.push_back({std::string(role) + " " + path, test::http_get(port, path).body});
    daemon.signal(SIGTERM);
    EXPECT_TRUE(daemon.wait(30s).has_value());
    seen_.push_back({std::string(role) + " daemon", daemon.out() + daemon.err()});
  }
  run(env() + kBin + " dead-letters list");
  expect_no_marker();
}

}  // namespace
}  // namespace hm
