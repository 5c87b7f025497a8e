// The binary's retention-related contracts: unknown variables named (never
// their values), the new settings' validation, and `dead-letters` replay of
// everything, purge that asks which, and the pod's own role by default.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "redis/connection.h"
#include "redis/redis_url.h"
#include "redis/stream_admin.h"
#include "support/process.h"
#include "support/test_db.h"

namespace hm {
namespace {

const std::string kBin = HM_WORKER_BINARY;

TEST(CliRetentionTest, UnknownVariablesWithOurPrefixesAreNamedWithoutTheirValues) {
  const std::string env =
      "env DB_POOL_SIZ=hunter2-typo QUEUE_VISIBILTY_TIMEOUT=30 REDIS_SERVICE_HOST=10.0.0.7 REDIS_SERVICE_PORT=6379 "
      "REDIS_PORT=tcp://10.0.0.7:6379 REDIS_PORT_6379_TCP=tcp://10.0.0.7:6379 REDIS_PORT_6379_TCP_ADDR=10.0.0.7 "
      "REDIS_PORT_6379_TCP_PORT=6379 REDIS_PORT_6379_TCP_PROTO=tcp HOME_DIRECTORY_X=1 ";
  const auto config = test::run_command(env + kBin + " config");
  ASSERT_EQ(config.exit_code, 0) << config.err;
  EXPECT_NE(config.out.find("# unknown variable in the environment, ignored: DB_POOL_SIZ\n"), std::string::npos)
      << config.out;
  EXPECT_NE(config.out.find("ignored: QUEUE_VISIBILTY_TIMEOUT\n"), std::string::npos) << config.out;
  EXPECT_EQ(config.out.find("hunter2"), std::string::npos);
  for (const char* link : {"REDIS_SERVICE_HOST", "REDIS_SERVICE_PORT", "ignored: REDIS_PORT", "HOME_DIRECTORY_X"})
    EXPECT_EQ(config.out.find(link), std::string::npos) << link << " reported:\n" << config.out;

  // Any other command: a warning in its log (stderr for one-shot commands).
  const auto list = test::run_command(env + "REDIS_URL=redis://127.0.0.1:1/0 " + kBin + " dead-letters list");
  EXPECT_NE(list.err.find("unknown variable DB_POOL_SIZ"), std::string::npos) << list.err;
  EXPECT_EQ(list.err.find("hunter2"), std::string::npos);
  EXPECT_EQ(list.err.find("REDIS_SERVICE_HOST"), std::string::npos) << list.err;
}

TEST(CliRetentionTest, BadRetentionSettingsExitTwoNamingTheVariable) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"INGEST_FAN_OUT_ROLES=enrich,ingest", "INGEST_FAN_OUT_ROLES"},
      {"INGEST_FAN_OUT_ROLES=enrich,,media", "INGEST_FAN_OUT_ROLES"},
      {"QUEUE_UNCONSUMED_MAX_ENTRIES=lots", "QUEUE_UNCONSUMED_MAX_ENTRIES"},
      {"QUEUE_RETENTION_INTERVAL=-1", "QUEUE_RETENTION_INTERVAL"},
      {"QUEUE_CONSUMER_IDLE_DELETE=5", "QUEUE_CONSUMER_IDLE_DELETE"},
      {"DEAD_LETTER_MAX_ENTRIES=1e6", "DEAD_LETTER_MAX_ENTRIES"},
      {"DEAD_LETTER_MAX_AGE=14d", "DEAD_LETTER_MAX_AGE"},
  };
  for (const auto& [assignment, variable] : cases) {
    const auto r = test::run_command("env " + assignment + " " + kBin + " config");
    EXPECT_EQ(r.exit_code, 2) << assignment << ": " << r.err;
    EXPECT_NE(r.err.find(variable), std::string::npos) << r.err;
  }
  const auto ok = test::run_command("env INGEST_FAN_OUT_ROLES=' media , reply' QUEUE_CONSUMER_IDLE_DELETE=0 " + kBin +
                                    " config");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

class DeadLettersCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    prefix_ = "hm:test:cli-dead:" + std::to_string(::getpid()) + ":";
    c_ = redis::Connection::connect(redis::parse_redis_url(test::stack_redis_url()));
    env_ = "env REDIS_URL='" + test::stack_redis_url() + "' QUEUE_STREAM_PREFIX='" + prefix_ + "' ";
  }
  void TearDown() override {
    for (const char* role : {"ingest", "enrich", "media", "reply"})
      c_->command({"DEL", prefix_ + role, prefix_ + role + ":dead"});
  }
  // n dead letters in role's dead-letter stream; ids from `first_ms` on when given.
  void add_dead(const std::string& role, int n, long long first_ms = 0) {
    std::vector<std::vector<std::string>> tx;
    for (int i = 0; i < n; ++i)
      tx.push_back({"XADD", prefix_ + role + ":dead", first_ms ? std::to_string(first_ms + i) + "-0" : "*", "payload",
                    "{\"n\":" + std::to_string(i) + "}", "reason", "test", "attempts", "1", "time", "1", "entry_id",
                    "1-0"});
    for (const auto& r : c_->pipeline(tx)) ASSERT_FALSE(r.view().is_error()) << r.view().str();
  }
  long long length(const std::string& key) { return c_->command({"XLEN", prefix_ + key}).view().integer(); }

  std::string prefix_;
  std::string env_;
  std::unique_ptr<redis::Connection> c_;
};

// Today's replay took at most --count (100); now every dead letter goes back.
TEST_F(DeadLettersCliTest, ReplayWithoutIdReplaysEveryDeadLetter) {
  add_dead("ingest", 1234);
  const auto r = test::run_command(env_ + kBin + " dead-letters replay --role ingest");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("replayed=1234 to=" + prefix_ + "ingest"), std::string::npos) << r.out;
  EXPECT_EQ(length("ingest:dead"), 0);
  EXPECT_EQ(length("ingest"), 1234);
  add_dead("ingest", 30);
  const auto some = test::run_command(env_ + kBin + " dead-letters replay --role ingest --count 10");
  EXPECT_NE(some.out.find("replayed=10 "), std::string::npos) << some.out;
  EXPECT_EQ(length("ingest:dead"), 20);
}

TEST_F(DeadLettersCliTest, PurgeSaysWhichOrExitsTwo) {
  add_dead("ingest", 3, 1000);  // written in 1970
  add_dead("ingest", 4);        // now
  const auto bare = test::run_command(env_ + kBin + " dead-letters purge --role ingest");
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_NE(bare.err.find("--all"), std::string::npos) << bare.err;
  EXPECT_EQ(length("ingest:dead"), 7);
  EXPECT_EQ(test::run_command(env_ + kBin + " dead-letters purge --role ingest --older-than soon").exit_code, 2);
  EXPECT_EQ(test::run_command(env_ + kBin + " dead-letters purge --role ingest --all --older-than 1d").exit_code, 2);
  EXPECT_EQ(test::run_command(env_ + kBin + " dead-letters list --role ingest --all").exit_code, 2);

  const auto old = test::run_command(env_ + kBin + " dead-letters purge --role ingest --older-than 7d");
  ASSERT_EQ(old.exit_code, 0) << old.err;
  EXPECT_NE(old.out.find("purged=3 "), std::string::npos) << old.out;
  EXPECT_EQ(length("ingest:dead"), 4);
  const auto all = test::run_command(env_ + kBin + " dead-letters purge --role ingest --all");
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_NE(all.out.find("purged=4 "), std::string::npos) << all.out;
  EXPECT_EQ(length("ingest:dead"), 0);
}

// In a media pod (WORKER_ROLE=media in its environment) `dead-letters` is
// about the media role's dead letters without --role.
TEST_F(DeadLettersCliTest, TheRoleDefaultsToThePodsWorkerRole) {
  add_dead("media", 2);
  add_dead("ingest", 5);
  const auto r = test::run_command(env_ + "WORKER_ROLE=media " + kBin + " dead-letters list");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("dead letters in " + prefix_ + "media:dead: 2"), std::string::npos) << r.err;
  const auto flag = test::run_command(env_ + "WORKER_ROLE=media " + kBin + " dead-letters list --role ingest");
  EXPECT_NE(flag.err.find("dead letters in " + prefix_ + "ingest:dead: 5"), std::string::npos) << flag.err;
}

// The daemon wires retention in: with QUEUE_RETENTION_INTERVAL=1 an ingest
// worker alone trims its stream of what it acknowledged, publishes every job
// to a role with a group (enrich), none to one without (media, cap 0), and
// /metrics shows the trimmed count, the stream lengths and the process series.
TEST_F(DeadLettersCliTest, TheDaemonTrimsItsStreamAndCapsJobsForRolesWithoutAGroup) {
  using namespace std::chrono_literals;
  test::TestDatabase db("cli_retention");
  redis::StreamAdmin ingest(redis::parse_redis_url(test::stack_redis_url()),
                            {prefix_ + "ingest", "hm-worker", prefix_ + "ingest:dead"});
  c_->command({"XGROUP", "CREATE", prefix_ + "enrich", "hm-worker", "0", "MKSTREAM"});
  for (int i = 0; i < 30; ++i) {
    // Inbound with an attachment: owes an enrich and a media job.
    auto d = nlohmann::json::parse(test::text_delivery("ret-" + std::to_string(i), "t"));
    d["entry"][0]["messaging"][0]["message"]["attachments"] = {
        {{"type", "image"}, {"payload", {{"url", "https://scontent.xx.fbcdn.net/x.jpg"}}}}};
    ingest.enqueue_one(d.dump(), 1);
  }
  auto env = test::worker_env_map(db.options());
  env["QUEUE_STREAM_PREFIX"] = prefix_;
  env["QUEUE_RETENTION_INTERVAL"] = "1";
  env["QUEUE_UNCONSUMED_MAX_ENTRIES"] = "0";
  env["QUEUE_BLOCK_MS"] = "200";
  env["CONSUMER_NAME"] = "cli-retention";
  const int port = test::free_port();
  env["METRICS_PORT"] = std::to_string(port);
  test::ChildProcess daemon(kBin, {"run", "--role", "ingest"}, env, "cli-retention");
  const bool trimmed = test::eventually([&] { return ingest.pending() == 0 && length("ingest") <= 1; }, 30s);
  std::string metrics;
  test::eventually(
      [&] {
        metrics = test::http_get(port, "/metrics").body;
        return metrics.find("hm_worker_queue_trimmed_entries_total") != std::string::npos &&
               metrics.find("hm_worker_queue_stream_length{role=\"ingest\",stream=\"" + prefix_ + "ingest\"} 1") !=
                   std::string::npos;
      },
      15s);
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(20s), 0) << daemon.err();
  ASSERT_TRUE(trimmed) << "ingest length " << length("ingest") << "\n" << daemon.err();
  EXPECT_EQ(length("enrich"), 30);
  EXPECT_EQ(c_->command({"EXISTS", prefix_ + "media"}).view().integer(), 0);
  EXPECT_NE(metrics.find("hm_worker_queue_trimmed_entries_total{role=\"ingest\",stream=\"" + prefix_ + "ingest\"} 29"),
            std::string::npos)
      << metrics;
  for (const char* series : {"process_cpu_seconds_total{", "process_resident_memory_bytes{", "process_open_fds{",
                             "process_start_time_seconds{"})
    EXPECT_NE(metrics.find(series), std::string::npos) << series;
}

}  // namespace
}  // namespace hm
