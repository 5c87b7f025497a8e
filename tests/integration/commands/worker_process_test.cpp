// The hm-worker daemon as Kubernetes runs it: real processes on a real Redis
// stream and a real MariaDB, killed, stopped and restarted.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <random>
#include <thread>

#include "redis/stream_admin.h"
#include "support/fake_http.h"
#include "support/fakes.h"
#include "support/process.h"
#include "support/test_db.h"

#include "integration/commands/worker_process_fixture.h"

namespace hm {
namespace {

TEST_F(WorkerProcessTest, KillNineMidRunLosesAndDuplicatesNothing) {
  std::map<std::string, std::string> sent;
  enqueue(workload(12000, 6000, &sent));
  start_worker("w1", {{"INGEST_BATCH_SIZE", "5"}});
  ChildProcess* victim = &start_worker("w2", {{"INGEST_BATCH_SIZE", "5"}});
  start_worker("w3", {{"INGEST_BATCH_SIZE", "5"}});
  int kills = 0;
  for (const long long threshold : {1200, 3600, 6000, 8400}) {
    // Kill at points of progress, not of time, so that every kill is mid-run.
    ASSERT_TRUE(test::eventually([&] { return rows() >= threshold; }, 60s));
    if (drained()) break;
    victim->signal(SIGKILL);  // entries it had read are left pending
    ASSERT_EQ(victim->wait(10s), 128 + SIGKILL);
    ++kills;
    victim = &start_worker("w2", {{"INGEST_BATCH_SIZE", "5"}});  // the same pod name: takes back its own pending entries
  }
  EXPECT_EQ(kills, 4) << "the workload drained too fast to kill a worker mid-run";
  expect_drained();
  EXPECT_EQ(rows(), 12000);
  expect_stored_exactly(sent);
  EXPECT_EQ(admin().pending(), 0);
  EXPECT_EQ(admin().dead_length(), 0);
  for (auto& w : workers_) {
    if (!w->running()) continue;
    w->signal(SIGTERM);
    EXPECT_EQ(w->wait(20s), 0) << w->err();
  }
}

TEST_F(WorkerProcessTest, SigtermWhileABatchIsInFlightCommitsAndAcknowledgesIt) {
  auto holder = hold_row_lock("held-mid");
  enqueue({test::text_delivery("held-mid", "waits for the lock"), test::text_delivery("free-mid", "x")});
  // The lock wait outlasts the signal: the batch in flight finishes after it.
  auto& w = start_worker("w1", {{"INGEST_BATCH_SIZE", "1"},
                                {"QUEUE_READ_COUNT", "1"},  // one in flight, the other never read
                                {"WORKER_CONCURRENCY", "1"},
                                {"DB_LOCK_WAIT_TIMEOUT", "8"},
                                {"DB_QUERY_TIMEOUT", "10"},
                                {"QUEUE_VISIBILITY_TIMEOUT", "30"}});
  // The worker's INSERT IGNORE of held-mid now waits for the row lock.
  ASSERT_TRUE(test::eventually(
      [&] {
        // InnoDB refreshes INNODB_TRX only when it was not read for 100 ms.
        std::this_thread::sleep_for(150ms);
        return db_.scalar("SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'") > 0;
      },
      20s))
      << w.err() << "\ntrx: " << [&] {
           std::string all;
           for (const auto& r : db_.query("SELECT trx_state, COALESCE(trx_query, '') FROM information_schema.INNODB_TRX"))
             all += r[0].value_or("") + " " + r[1].value_or("") + "; ";
           return all;
         }();
  w.signal(SIGTERM);
  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE(w.running());  // still finishing the batch in flight
  holder->rollback();        // the lock goes away; the insert goes through
  const auto code = w.wait(20s);
  ASSERT_TRUE(code.has_value()) << w.err();
  EXPECT_EQ(*code, 0) << w.err();
  EXPECT_EQ(db_.scalar("SELECT COUNT(*) FROM message WHERE ig_message_id = 'held-mid'"), 1);
  // The entry it had in flight was acknowledged; the one it never read is still there for the next worker.
  EXPECT_EQ(admin().pending(), 0);
  EXPECT_EQ(admin().lag(), 1);
  EXPECT_NE(w.out().find("deliveries=1 inserted=1"), std::string::npos) << w.out();
}

// SHUTDOWN_TIMEOUT bounds the stop: a batch stuck on a row lock (longer than
// the timeout) is abandoned, the process exits 1 (not a clean stop: entries
// were left unacknowledged) and the entry stays pending, not dead-lettered.
TEST_F(WorkerProcessTest, SigtermWithABatchStuckPastShutdownTimeoutExitsOneWithinIt) {
  auto holder = hold_row_lock("stuck-mid");
  enqueue({test::text_delivery("stuck-mid", "waits for the lock")});
  auto& w = start_worker("w1", {{"INGEST_BATCH_SIZE", "1"},
                                {"WORKER_CONCURRENCY", "1"},
                                {"DB_LOCK_WAIT_TIMEOUT", "60"},
                                {"DB_QUERY_TIMEOUT", "90"},
                                {"QUEUE_VISIBILITY_TIMEOUT", "120"},
                                {"SHUTDOWN_TIMEOUT", "3"},
                                {"METRICS_PORT", std::to_string(test::free_port())},
                                {"METRICS_BIND", "127.0.0.1"}});
  ASSERT_TRUE(test::eventually(
      [&] {
        std::this_thread::sleep_for(150ms);  // INNODB_TRX is refreshed when not read for 100 ms
        return db_.scalar("SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'") > 0;
      },
      20s))
      << w.err();
  const auto signalled = std::chrono::steady_clock::now();
  w.signal(SIGTERM);
  const auto code = w.wait(3s + 3s);  // SHUTDOWN_TIMEOUT and a margin for the test machine
  const auto took = std::chrono::steady_clock::now() - signalled;
  holder->rollback();
  ASSERT_TRUE(code.has_value()) << "still running " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                                << " ms after SIGTERM\n" << w.out() << w.err();
  EXPECT_EQ(*code, 1) << w.out() << w.err();
  EXPECT_GE(took, 1s);  // it did wait for the batch before giving up
  EXPECT_NE(w.out().find("SHUTDOWN_TIMEOUT=3"), std::string::npos) << w.out();
  EXPECT_EQ(admin().pending(), 1);  // left for the next worker
  EXPECT_EQ(admin().dead_length(), 0);
}

TEST_F(WorkerProcessTest, ASecondSignalExitsAtOnceAndTheEntryIsDeliveredAgain) {
  auto holder = hold_row_lock("held-mid");
  enqueue({test::text_delivery("held-mid", "x")});
  auto& w = start_worker("w1", {{"INGEST_BATCH_SIZE", "1"},
                                {"WORKER_CONCURRENCY", "1"},
                                {"DB_LOCK_WAIT_TIMEOUT", "8"},
                                {"DB_QUERY_TIMEOUT", "10"},
                                {"QUEUE_VISIBILITY_TIMEOUT", "30"}});
  ASSERT_TRUE(test::eventually([&] { return admin().pending() == 1; }, 20s));
  w.signal(SIGTERM);
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(w.running());
  w.signal(SIGTERM);
  const auto code = w.wait(3s);  // well before the 8 s lock wait ends
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  holder->rollback();
  EXPECT_EQ(admin().pending(), 1);  // not acknowledged: it will be delivered again
  auto& next = start_worker("w1");  // the same consumer takes it back at once
  expect_drained(30s);
  EXPECT_EQ(db_.scalar("SELECT COUNT(*) FROM message WHERE ig_message_id = 'held-mid'"), 1);
  next.signal(SIGTERM);
  EXPECT_EQ(next.wait(20s), 0);
}

TEST_F(WorkerProcessTest, RowLockHeldLongerThanTheLockWaitTimeoutIsRetriedThenStored) {
  auto holder = hold_row_lock("locked-mid");
  std::vector<std::string> lines = {test::text_delivery("locked-mid", "blocked")};
  for (int i = 0; i < 40; ++i) lines.push_back(test::text_delivery("other-" + std::to_string(i), "free"));
  enqueue(lines);
  auto& w = start_worker("w1", {{"INGEST_BATCH_SIZE", "1"}, {"WORKER_CONCURRENCY", "2"}, {"LOG_FORMAT", "json"}});
  // Other messages are not held up behind the lock: all 40 are stored while it is held.
  ASSERT_TRUE(test::eventually([&] { return db_.scalar("SELECT COUNT(*) FROM message WHERE ig_message_id LIKE 'other-%'") == 40; }, 30s))
      << w.err();
  // Held for longer than DB_LOCK_WAIT_TIMEOUT=2: at least one 1205 was retried.
  ASSERT_TRUE(test::eventually([&] { return w.out().find("1205") != std::string::npos; }, 10s)) << w.err();
  holder->rollback();
  expect_drained(60s);
  // JSON logs: one object per line, with the retry's fields.
  bool retry_line = false;
  std::istringstream log(w.out());
  for (std::string line; std::getline(log, line);) {
    if (line.rfind("deliveries=", 0) == 0) continue;  // the summary line
    const auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    for (const char* key : {"time", "level", "role", "message"}) EXPECT_TRUE(j.contains(key)) << line;
    if (j.value("code", 0) == 1205) {
      retry_line = j.value("mid", "") == "locked-mid" && j.contains("attempt");
    }
  }
  EXPECT_TRUE(retry_line) << w.out();
  EXPECT_EQ(db_.scalar("SELECT COUNT(*) FROM message WHERE ig_message_id = 'locked-mid'"), 1);
  EXPECT_EQ(db_.query("SELECT text FROM message WHERE ig_message_id = 'locked-mid'").at(0).at(0).value_or(""), "blocked");
  EXPECT_EQ(admin().dead_length(), 0);
  w.signal(SIGTERM);
  EXPECT_EQ(w.wait(20s), 0);
}

TEST_F(WorkerProcessTest, MariaDbRestartDuringARunLosesNothing) {
  std::map<std::string, std::string> sent;
  const auto lines = workload(1200, 200, &sent);
  enqueue(std::vector<std::string>(lines.begin(), lines.begin() + 700));
  auto& w = start_worker("w1");
  ASSERT_TRUE(test::eventually([&] { return rows() > 100; }, 30s));
  const auto r = test::run_command(test::source_dir() + "/scripts/stack restart db");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  enqueue(std::vector<std::string>(lines.begin() + 700, lines.end()));
  expect_drained(120s);
  EXPECT_EQ(rows(), 1200);
  expect_stored_exactly(sent);
  EXPECT_EQ(admin().dead_length(), 0);
  EXPECT_TRUE(w.running()) << w.err();  // it recovered by itself
  w.signal(SIGTERM);
  EXPECT_EQ(w.wait(20s), 0) << w.err();
}

TEST_F(WorkerProcessTest, APoisonedDeliveryInsideABatchIsTheOnlyOneDeadLettered) {
  std::vector<std::string> lines;
  for (int i = 0; i < 30; ++i) lines.push_back(test::text_delivery("good-" + std::to_string(i), "fine 👍"));
  // Valid JSON the parser accepts, but too long for the text column: only the
  // database can refuse it, inside the multi-row insert.
  lines.insert(lines.begin() + 15, test::text_delivery("poison", std::string(70000, 'x')));
  lines.insert(lines.begin() + 5, "{\"object\":\"instagram\",\"entry\":[]}");
  enqueue(lines);
  auto& w = start_worker("w1", {{"INGEST_BATCH_SIZE", "100"}, {"INGEST_BATCH_LINGER_MS", "300"}, {"WORKER_CONCURRENCY", "1"}});
  expect_drained();
  EXPECT_EQ(rows(), 30);
  const auto dead = admin().dead_letters(10);
  ASSERT_EQ(dead.size(), 2u);
  std::string reasons = dead[0].reason + " | " + dead[1].reason;
  EXPECT_NE(reasons.find("poison"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("entry: is empty"), std::string::npos) << reasons;
  w.signal(SIGTERM);
  EXPECT_EQ(w.wait(20s), 0);
}

TEST_F(WorkerProcessTest, BatchSizeOneAndHundredAndReadsOfFiftyGiveTheSameTable) {
  std::vector<std::string> lines = workload(300, 150);
  // Edits, deletions, reactions and reads, some before their messages.
  std::ifstream samples(test::source_dir() + "/config/samples/deliveries.jsonl");
  for (std::string l; std::getline(samples, l);) lines.push_back(l);
  for (const char* f : {"edit.json", "deleted.json", "text.json", "reaction.json", "seen.json", "multi_entry.json"})
    lines.push_back(test::fixture_line(f));
  const std::string snapshot_sql =
      "SELECT ig_message_id, account_id, sender_id, direction, kind, text, attachments, reply_to_mid, "
      "postback_payload, event_time, is_deleted, edit_count FROM message ORDER BY ig_message_id";
  const std::string side_sql =
      "SELECT (SELECT COUNT(*) FROM message_edit), (SELECT COUNT(*) FROM message_deletion), "
      "(SELECT COUNT(*) FROM message_reaction), (SELECT COUNT(*) FROM message_read)";
  // Empty tables and stream, the same deliveries, one worker with `env` until
  // drained and stopped.
  auto ingest_with = [&](const std::string& name, const std::map<std::string, std::string>& env) {
    for (const char* t : {"message", "message_edit", "message_deletion", "message_reaction", "message_read"})
      db_.execute(std::string("TRUNCATE ") + t);
    admin().connection().command({"DEL", names_.stream});
    enqueue(lines);
    auto& w = start_worker(name, env);
    expect_drained();
    w.signal(SIGTERM);
    EXPECT_EQ(w.wait(20s), 0);
  };
  ingest_with("w1", {{"INGEST_BATCH_SIZE", "1"}, {"QUEUE_READ_COUNT", "1"}});  // the seed's path exactly
  const auto with_one = db_.query(snapshot_sql);
  const auto side_one = db_.query(side_sql);
  EXPECT_GT(with_one.size(), 300u);

  ingest_with("w2", {{"INGEST_BATCH_SIZE", "100"}, {"INGEST_BATCH_LINGER_MS", "100"}});
  EXPECT_EQ(db_.query(snapshot_sql), with_one);
  EXPECT_EQ(db_.query(side_sql), side_one);

  // The per-message path with its default reads of 50 (each message its own
  // transaction, one check and one read-back a read): the same table again.
  ingest_with("w3", {{"INGEST_BATCH_SIZE", "1"}, {"INGEST_BATCH_LINGER_MS", "100"}});
  EXPECT_EQ(db_.query(snapshot_sql), with_one);
  EXPECT_EQ(db_.query(side_sql), side_one);
}

TEST_F(WorkerProcessTest, FourRolesTogetherEndToEnd) { four_roles_end_to_end(); }

int metrics_port(ChildProcess& w) {
  int port = 0;
  test::eventually(
      [&] {
        const std::string out = w.out();
        const auto at = out.find("/readyz on ");
        if (at == std::string::npos) return false;
        const auto colon = out.find(':', at + 11);
        port = std::stoi(out.substr(colon + 1));
        return true;
      },
      10s);
  return port;
}

TEST_F(WorkerProcessTest, ProbesAndMetricsFollowRedisAndTheDatabase) {
  std::vector<std::string> lines;
  for (int i = 0; i < 50; ++i) lines.push_back(test::text_delivery("probe-" + std::to_string(i), "x"));
  lines.push_back("{\"object\":\"instagram\",\"entry\":[]}");
  enqueue(lines);
  auto& w = start_worker("w1", {{"METRICS_PORT", std::to_string(test::free_port())}, {"METRICS_BIND", "127.0.0.1"}});
  const int port = metrics_port(w);
  ASSERT_GT(port, 0) << w.out();
  expect_drained();
  EXPECT_EQ(test::http_get(port, "/healthz").status, 200);
  EXPECT_EQ(test::http_get(port, "/readyz").status, 200);
  ASSERT_TRUE(test::eventually(
      [&] {
        const auto m = test::http_get(port, "/metrics").body;
        return m.find("hm_worker_messages_total{outcome=\"inserted\",role=\"ingest\"} 50") != std::string::npos &&
               m.find("hm_worker_dead_letters_total{reason=\"bad_payload\",role=\"ingest\"} 1") != std::string::npos;
      },
      10s))
      << test::http_get(port, "/metrics").body;

  // Redis down: not ready (and says why), but alive: no restart loop.
  ASSERT_EQ(test::run_command(test::source_dir() + "/scripts/stack stop redis").exit_code, 0);
  ASSERT_TRUE(test::eventually([&] { return test::http_get(port, "/readyz").status == 503; }, 10s));
  EXPECT_NE(test::http_get(port, "/readyz").body.find("redis"), std::string::npos);
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(test::http_get(port, "/healthz").status, 200);
  ASSERT_EQ(test::run_command(test::source_dir() + "/scripts/stack start redis").exit_code, 0);
  ASSERT_TRUE(test::eventually([&] { return test::http_get(port, "/readyz").status == 200; }, 20s))
      << test::http_get(port, "/readyz").body;

  // MariaDB down: not ready, still alive.
  ASSERT_EQ(test::run_command(test::source_dir() + "/scripts/stack stop db").exit_code, 0);
  ASSERT_TRUE(test::eventually([&] { return test::http_get(port, "/readyz").status == 503; }, 10s));
  EXPECT_NE(test::http_get(port, "/readyz").body.find("database"), std::string::npos);
  EXPECT_EQ(test::http_get(port, "/healthz").status, 200);
  ASSERT_EQ(test::run_command(test::source_dir() + "/scripts/stack start db").exit_code, 0);
  ASSERT_TRUE(test::eventually([&] { return test::http_get(port, "/readyz").status == 200; }, 20s))
      << test::http_get(port, "/readyz").body;

  w.signal(SIGTERM);
  EXPECT_EQ(w.wait(20s), 0) << w.out();
}

// Defect 6: with Redis not answering (every client paused), /healthz and
// /metrics still answer: the gauges and checks that need Redis wait on
// threads of their own.
TEST_F(WorkerProcessTest, HealthzAndMetricsAnswerWhileRedisDoesNotAnswer) {
  enqueue({test::text_delivery("before-pause", "x")});
  auto& w = start_worker("w1", {{"METRICS_PORT", std::to_string(test::free_port())}, {"METRICS_BIND", "127.0.0.1"}});
  const int port = metrics_port(w);
  ASSERT_GT(port, 0) << w.out();
  expect_drained();
  ASSERT_TRUE(test::eventually([&] { return test::http_get(port, "/readyz").status == 200; }, 20s));
  admin().connection().command({"CLIENT", "PAUSE", "4000", "ALL"});
  const auto paused_until = std::chrono::steady_clock::now() + 3500ms;
  int polls = 0;
  while (std::chrono::steady_clock::now() < paused_until) {
    for (const char* path : {"/healthz", "/metrics"}) {
      auto answer = std::async(std::launch::async, [&] { return test::http_get(port, path); });
      // A hang detector, not a speed claim: before, a scrape waited for Redis.
      ASSERT_EQ(answer.wait_for(1s), std::future_status::ready) << path << " hung while Redis was paused";
      EXPECT_EQ(answer.get().status, 200) << path;
    }
    ++polls;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_GE(polls, 5);
  admin().connection().command({"CLIENT", "UNPAUSE"});
  enqueue({test::text_delivery("after-pause", "y")});
  expect_drained(30s);
  EXPECT_EQ(db_.scalar("SELECT COUNT(*) FROM message WHERE ig_message_id IN ('before-pause', 'after-pause')"), 2);
  w.signal(SIGTERM);
  EXPECT_EQ(w.wait(20s), 0) << w.out();
}

TEST_F(WorkerProcessTest, RollingRestartOfThreeReplicasLosesAndDuplicatesNothing) {
  std::map<std::string, std::string> sent;
  const auto lines = workload(3000, 1000, &sent);
  std::atomic<bool> producing{true};
  std::thread producer([&] {
    // Deliveries keep arriving during the rollout.
    redis::StreamAdmin own(redis_, names_);
    for (std::size_t i = 0; i < lines.size(); i += 100) {
      std::vector<std::vector<std::string>> chunk;
      for (std::size_t k = i; k < std::min(lines.size(), i + 100); ++k)
        chunk.push_back({"XADD", names_.stream, "*", "payload", lines[k], "enqueued_at", "1"});
      own.connection().pipeline(chunk);
      std::this_thread::sleep_for(20ms);
    }
    producing = false;
  });
  std::vector<ChildProcess*> replicas = {&start_worker("pod-a"), &start_worker("pod-b"), &start_worker("pod-c")};
  // kubectl rollout restart: one new pod up, one old pod terminated (SIGTERM), in turn.
  const char* fresh[] = {"pod-d", "pod-e", "pod-f"};
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(300ms);
    start_worker(fresh[i]);
    replicas[i]->signal(SIGTERM);
    const auto code = replicas[i]->wait(20s);
    ASSERT_TRUE(code.has_value());
    EXPECT_EQ(*code, 0) << replicas[i]->err();
  }
  producer.join();
  expect_drained();
  EXPECT_EQ(rows(), 3000);
  expect_stored_exactly(sent);
  EXPECT_EQ(admin().dead_length(), 0);
}

}  // namespace
}  // namespace hm
