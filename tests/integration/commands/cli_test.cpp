// The hm-worker binary as an operator runs it.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "redis/stream_admin.h"
#include "support/fakes.h"
#include "support/process.h"
#include "support/test_db.h"

namespace hm {
namespace {

const std::string kBin = HM_WORKER_BINARY;
const std::string kSamples = std::string(HM_FIXTURES_DIR) + "/../../config/samples/";

std::string temp_path(const std::string& tag) {
  return "/tmp/hm-cli-" + tag + "-" + std::to_string(::getpid());
}

TEST(CliTest, HelpAndVersion) {
  const auto help = test::run_command("DB_PASSWORD=hunter2-secret " + kBin + " --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("migrate"), std::string::npos);
  EXPECT_NE(help.out.find("--db-pool-size"), std::string::npos);
  EXPECT_EQ(help.out.find("hunter2"), std::string::npos);
  EXPECT_EQ(help.out.find("--db-password "), std::string::npos);
  const auto version = test::run_command(kBin + " --version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.out.find("hm-worker 0."), std::string::npos);
  EXPECT_NE(version.out.find(" (commit "), std::string::npos) << version.out;
}

TEST(CliTest, CommandHelpShowsItsOwnFlagsAndTheVariablesItReads) {
  const auto migrate = test::run_command(kBin + " migrate --help");
  EXPECT_EQ(migrate.exit_code, 0);
  EXPECT_NE(migrate.out.find("--verify"), std::string::npos) << migrate.out;
  EXPECT_NE(migrate.out.find("--db-host"), std::string::npos);
  EXPECT_EQ(migrate.out.find("--db-pool-size"), std::string::npos);
  EXPECT_EQ(migrate.out.find("--queue-stream"), std::string::npos);
  EXPECT_EQ(migrate.out.find("--source"), std::string::npos);
  const auto run = test::run_command(kBin + " run --help");
  EXPECT_NE(run.out.find("--source"), std::string::npos);
  EXPECT_NE(run.out.find("--queue-read-count"), std::string::npos);
  EXPECT_EQ(run.out.find("--verify"), std::string::npos);
  EXPECT_NE(run.out.find("--webhook-port"), std::string::npos);       // WORKER_ROLE=webhook runs the receiver
  EXPECT_EQ(run.out.find("--db-migrate-user"), std::string::npos);    // the migrate Job's account only
  const auto dead = test::run_command(kBin + " dead-letters --help");
  EXPECT_NE(dead.out.find("--count"), std::string::npos);
  EXPECT_NE(dead.out.find("--redis-url"), std::string::npos);
  EXPECT_EQ(dead.out.find("--db-host"), std::string::npos);
  for (const char* command : {"migrate", "run", "enqueue", "dead-letters", "doctor", "config"}) {
    const auto r = test::run_command(kBin + " " + command + " --help");
    EXPECT_EQ(r.exit_code, 0) << command << ": " << r.err;
    EXPECT_NE(r.out.find(std::string("hm-worker ") + command), std::string::npos) << r.out;
  }
  const auto all = test::run_command(kBin + " --help");
  EXPECT_NE(all.out.find("Commands:"), std::string::npos);
  EXPECT_NE(all.out.find("  run --role ROLE [--source SRC] consume deliveries"), std::string::npos) << all.out;
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

// The operator's round trip, all through the binary: `enqueue` (a file and
// stdin) puts deliveries on the stream; a daemon stores the good ones and
// dead-letters the bad one; `dead-letters list` shows it with its reason;
// `replay` puts it back (the daemon dead-letters it again); `purge` removes it.
TEST(CliTest, EnqueueRunAndDeadLettersEndToEnd) {
  using namespace std::chrono_literals;
  test::TestDatabase db("cli_queue");
  const std::string stream = "hm:test:cli-queue:" + std::to_string(::getpid());
  redis::StreamNames names{stream, "hm-worker", stream + ":dead"};
  redis::StreamAdmin admin(redis::parse_redis_url(test::stack_redis_url()), names);
  auto env = test::worker_env_map(db.options());
  env["QUEUE_STREAM"] = stream;
  env["QUEUE_STREAM_PREFIX"] = stream + ":";  // the jobs for the other roles, deleted below
  env["QUEUE_BLOCK_MS"] = "200";
  env["METRICS_PORT"] = "0";
  env["CONSUMER_NAME"] = "cli-queue";
  const std::string shell_env = "env REDIS_URL='" + test::stack_redis_url() + "' QUEUE_STREAM='" + stream + "' ";
  const std::string file = temp_path("enqueue-file"), piped = temp_path("enqueue-stdin");
  std::ofstream(file) << test::text_delivery("q-good-1", "bir") << "\n{broken\n" << test::text_delivery("q-good-2", "iki") << "\n";
  std::ofstream(piped) << test::text_delivery("q-good-3", "üç 🙏") << "\n";
  const auto from_file = test::run_command(shell_env + kBin + " enqueue --role ingest " + file);
  ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
  EXPECT_NE(from_file.out.find("enqueued=3 stream=" + stream), std::string::npos) << from_file.out;
  const auto from_stdin = test::run_command(shell_env + kBin + " enqueue --role ingest - < " + piped);
  ASSERT_EQ(from_stdin.exit_code, 0) << from_stdin.err;
  EXPECT_NE(from_stdin.out.find("enqueued=1 stream=" + stream), std::string::npos) << from_stdin.out;
  std::remove(file.c_str());
  std::remove(piped.c_str());
  EXPECT_EQ(admin.length(), 4);

  // A daemon until the stream is drained and the bad one dead-lettered.
  auto run_until_drained = [&] {
    test::ChildProcess daemon(kBin, {"run", "--role", "ingest"}, env, "cli-queue");
    const bool drained = test::eventually(
        [&] { return admin.lag() == 0 && admin.pending() == 0 && admin.dead_length() == 1; }, 30s);
    daemon.signal(SIGTERM);
    EXPECT_EQ(daemon.wait(20s), 0) << daemon.err();
    ASSERT_TRUE(drained) << "lag=" << admin.lag() << " pending=" << admin.pending()
                         << " dead=" << admin.dead_length() << "\n" << daemon.err();
  };
  const test::Rows stored = {{"q-good-1", "bir"}, {"q-good-2", "iki"}, {"q-good-3", "üç 🙏"}};
  const std::string rows_sql = "SELECT ig_message_id, text FROM message ORDER BY ig_message_id";
  run_until_drained();
  EXPECT_EQ(db.query(rows_sql), stored);

  auto list = [&] {
    const auto r = test::run_command(shell_env + kBin + " dead-letters list");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json_lines(r.out);
  };
  const auto letters = list();
  ASSERT_EQ(letters.size(), 1u);
  const auto& letter = letters[0];
  // The same shape as the dead-letter file's lines, plus the two ids.
  for (const char* key : {"id", "time", "reason", "origin", "entry_id", "attempts", "size", "truncated", "delivery"})
    EXPECT_TRUE(letter.contains(key)) << key << " missing in " << letter.dump();
  EXPECT_NE(letter["reason"].get<std::string>().find("invalid JSON"), std::string::npos) << letter.dump();
  EXPECT_EQ(letter["delivery"], "{broken");
  EXPECT_EQ(letter["origin"], stream);
  EXPECT_EQ(letter["attempts"], 1);

  const auto replay = test::run_command(shell_env + kBin + " dead-letters replay --id " + letter["id"].get<std::string>());
  EXPECT_EQ(replay.exit_code, 0) << replay.err;
  EXPECT_NE(replay.out.find("replayed=1"), std::string::npos) << replay.out;
  EXPECT_EQ(admin.dead_length(), 0);
  EXPECT_EQ(admin.length(), 5);  // the four originals and the replayed one
  run_until_drained();           // delivered again, dead-lettered again
  EXPECT_EQ(db.query(rows_sql), stored);
  const auto again = list();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_NE(again[0]["id"], letter["id"]);
  EXPECT_NE(again[0]["entry_id"], letter["entry_id"]);
  EXPECT_EQ(again[0]["delivery"], "{broken");
  EXPECT_EQ(again[0]["reason"], letter["reason"]);

  const auto purge = test::run_command(shell_env + kBin + " dead-letters purge --all");
  EXPECT_EQ(purge.exit_code, 0) << purge.err;
  EXPECT_NE(purge.out.find("purged=1"), std::string::npos) << purge.out;
  EXPECT_EQ(admin.dead_length(), 0);
  EXPECT_TRUE(list().empty());
  for (const char* role : {"", ":enrich", ":media", ":reply"})
    admin.connection().command({"DEL", stream + role, stream + role + ":dead"});
}

TEST(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(test::run_command(kBin).exit_code, 2);
  EXPECT_EQ(test::run_command(kBin + " frobnicate").exit_code, 2);
  EXPECT_EQ(test::run_command(kBin + " run --no-such-flag").exit_code, 2);
  EXPECT_EQ(test::run_command(kBin + " run --role ingest --source nowhere:x").exit_code, 2);
}

TEST(CliTest, BadConfigurationExitsTwoNamingTheVariable) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"DB_POOL_SIZE=abc", "DB_POOL_SIZE"},
      {"DB_MAX_OVERFLOW=-3", "DB_MAX_OVERFLOW"},
      {"DB_POOL_TIMEOUT=soon", "DB_POOL_TIMEOUT"},
      {"DB_ISOLATION_LEVEL=CHAOS", "DB_ISOLATION_LEVEL"},
      {"DATABASE_URL=http://u:hunter2-secret@h/d", "DATABASE_URL"},
      {"DB_LOCK_WAIT_TIMEOUT=60", "DB_LOCK_WAIT_TIMEOUT"},
  };
  for (const auto& [assignment, variable] : cases) {
    for (const char* cmd : {" config", " run --role ingest --source -", " migrate"}) {
      const auto r = test::run_command("env " + assignment + " " + kBin + cmd + " </dev/null");
      EXPECT_EQ(r.exit_code, 2) << assignment << cmd << ": " << r.err;
      EXPECT_NE(r.err.find(variable), std::string::npos) << r.err;
      EXPECT_EQ(r.err.find("hunter2"), std::string::npos) << r.err;
    }
  }
  const auto flag = test::run_command(kBin + " config --db-pool-size=-1");
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_NE(flag.err.find("DB_POOL_SIZE"), std::string::npos);
}

TEST(CliTest, ConfigPrintsEffectiveValuesWithSecretsRedacted) {
  const std::string file = temp_path("conf");
  std::ofstream(file) << "DB_POOL_SIZE=4\nDB_MAX_OVERFLOW=2\n";
  const auto r = test::run_command("env DB_PASSWORD=hunter2-secret DB_MAX_OVERFLOW=3 " + kBin +
                                   " config --config " + file + " --db-pool-timeout 7");
  std::remove(file.c_str());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("DB_POOL_SIZE=4  # file"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("DB_MAX_OVERFLOW=3  # env"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("DB_POOL_TIMEOUT=7  # flag"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("DB_PASSWORD=<redacted>"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("hunter2"), std::string::npos);
}

TEST(CliTest, MigrateRunTwiceAndVerify) {
  test::TestDatabase db("cli_run", false);
  const std::string env = test::worker_env(db.options());
  const std::string dlq = temp_path("dlq");
  std::remove(dlq.c_str());
  auto migrate = test::run_command(env + kBin + " migrate");
  ASSERT_EQ(migrate.exit_code, 0) << migrate.err;
  EXPECT_NE(migrate.out.find("index ok"), std::string::npos);
  EXPECT_EQ(test::run_command(env + kBin + " migrate --verify").exit_code, 0);

  const std::string run = env + "DEAD_LETTER_PATH=" + dlq + " " + kBin + " run --role ingest --source file:" +
                          kSamples + "deliveries.jsonl";
  const auto first = test::run_command(run);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("deliveries=23 inserted=18 duplicates=1 skipped=1 dead_lettered=0"), std::string::npos)
      << first.out;
  const auto second = test::run_command(run);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.out.find("deliveries=23 inserted=0 duplicates=19 skipped=1 dead_lettered=0"), std::string::npos)
      << second.out;
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM message"), 18);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM message WHERE is_deleted = 1"), 1);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM message WHERE edit_count = 1"), 1);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM message WHERE reply_to_mid IS NOT NULL"), 1);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM message WHERE attachments IS NOT NULL"), 1);
  std::remove(dlq.c_str());
}

// An input that cannot be read (a directory) fails the file run and enqueue
// with exit 1 naming it and the error, never exit 0 on a truncated input.
TEST(CliTest, AnUnreadableInputExitsOneNamingIt) {
  test::TestDatabase db("cli_unreadable");
  const std::string stream = "hm:test:cli-unreadable:" + std::to_string(::getpid());
  const auto enqueue = test::run_command("env REDIS_URL='" + test::stack_redis_url() + "' QUEUE_STREAM='" + stream +
                                         "' " + kBin + " enqueue --role ingest /tmp");
  EXPECT_EQ(enqueue.exit_code, 1) << enqueue.out;
  EXPECT_NE(enqueue.err.find("reading /tmp failed after line 0"), std::string::npos) << enqueue.err;
  EXPECT_NE(enqueue.err.find("Is a directory"), std::string::npos) << enqueue.err;
  const auto run = test::run_command(test::worker_env(db.options()) + " METRICS_PORT=0 " + kBin +
                                     " run --role ingest --source file:/tmp");
  EXPECT_EQ(run.exit_code, 1) << run.out;
  EXPECT_NE(run.err.find("reading file:/tmp failed after line 0"), std::string::npos) << run.err;
}

TEST(CliTest, BadDeliveryIsDeadLetteredAndTheNextIsStored) {
  test::TestDatabase db("cli_dlq");
  const std::string env = test::worker_env(db.options());
  const std::string dlq = temp_path("dlq2");
  const std::string input = temp_path("in");
  std::remove(dlq.c_str());
  {
    std::ofstream out(input);
    std::ifstream bad(kSamples + "bad.jsonl");
    out << bad.rdbuf();
    out << test::fixture_line("text.json") << "\n";
    out << std::string("{\"object\":\"instagram\",\"bad\":\"\xff\xfe\"}") << "\n";
    out << test::fixture_line("echo.json") << "\n";
  }
  const auto r = test::run_command("cat " + input + " | " + env + "DEAD_LETTER_PATH=" + dlq + " " + kBin +
                                   " run --role ingest --source -");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("deliveries=6 inserted=2 duplicates=0 skipped=0 dead_lettered=4"), std::string::npos) << r.out;
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM message"), 2);
  std::ifstream in(dlq);
  std::vector<nlohmann::json> letters;
  for (std::string line; std::getline(in, line);) letters.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(letters.size(), 4u);
  EXPECT_NE(letters[0]["reason"].get<std::string>().find("mid: is missing"), std::string::npos) << letters[0];
  EXPECT_NE(letters[1]["reason"].get<std::string>().find("invalid JSON"), std::string::npos);
  EXPECT_NE(letters[2]["reason"].get<std::string>().find("entry: is empty"), std::string::npos);
  EXPECT_TRUE(letters[3].contains("delivery_base64"));
  EXPECT_EQ(letters[0]["origin"], "file:stdin:1");
  EXPECT_TRUE(letters[0].contains("time"));
  std::remove(dlq.c_str());
  std::remove(input.c_str());
}

TEST(CliTest, JsonLogsAndNoSecretAtTraceLevel) {
  test::TestDatabase db("cli_logs");
  const std::string dlq = temp_path("dlq3");
  const auto r = test::run_command("printf '%s\\n' '{\"object\":\"instagram\",\"entry\":[]}' | " +
                                   test::worker_env(db.options()) + "LOG_FORMAT=json LOG_LEVEL=trace DEAD_LETTER_PATH=" +
                                   dlq + " REDIS_URL=redis://:redis-hunter2@127.0.0.1:1/0 " + kBin +
                                   " run --role ingest --source -");
  std::remove(dlq.c_str());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ((r.out + r.err).find(db.options().password), std::string::npos);
  EXPECT_EQ((r.out + r.err).find("hunter2"), std::string::npos);
  std::istringstream lines(r.err);
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_EQ(j["role"], "ingest");
  }
  EXPECT_GT(n, 1);
  const auto config = test::run_command("env REDIS_URL=redis://:redis-hunter2@cache:6379/0 " + kBin + " config");
  EXPECT_EQ(config.out.find("hunter2"), std::string::npos) << config.out;
}

TEST(CliTest, VerifyFailsOnACaseInsensitiveIndex) {
  test::TestDatabase db("cli_verify", false);
  db.execute(
      "CREATE TABLE message (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
      "ig_message_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL UNIQUE)");
  const auto r = test::run_command(test::worker_env(db.options()) + kBin + " migrate --verify");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("not case-sensitive"), std::string::npos) << r.err;
}

TEST(CliTest, UnreachableDatabaseIsARuntimeFailureWithoutThePassword) {
  const auto r = test::run_command(
      "env -u DATABASE_URL DB_HOST=127.0.0.1 DB_PORT=1 DB_PASSWORD=hunter2-secret DB_CONNECT_TIMEOUT=2 " + kBin +
      " run --role ingest --source - </dev/null");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("Can't connect"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("hunter2"), std::string::npos);
  EXPECT_EQ(r.out.find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace hm
