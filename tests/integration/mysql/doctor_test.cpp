// `hm-worker doctor` against the real MariaDB.
#include "mysql/doctor.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "support/process.h"
#include "support/test_db.h"

namespace hm::mysql {
namespace {

using namespace std::chrono_literals;

// The options `hm-worker doctor` builds from the configuration: the session
// settings this database's connections get, the default pool.
DoctorOptions options_for(const test::TestDatabase& db) {
  DoctorOptions o;
  o.isolation = db.options().isolation;
  o.lock_wait_timeout = db.options().lock_wait_timeout;
  return o;
}

TEST(DoctorTest, ACleanServerNeedsNoAttention) {
  test::TestDatabase db("doctor_clean");
  auto s = db.connect();
  const DoctorReport r = run_doctor(*s, options_for(db));
  EXPECT_FALSE(r.attention()) << r.findings[0].detail;
  EXPECT_EQ(r.lock_wait_source, "information_schema.INNODB_LOCK_WAITS");  // MariaDB
  EXPECT_EQ(r.session.isolation, "READ-COMMITTED");
  EXPECT_TRUE(r.index.ok);
  EXPECT_GT(r.max_connections, 0);
  EXPECT_EQ(r.fleet_budget, 4 * (10 + 5 + 1));
}

TEST(DoctorTest, ShowsTheWaitingAndBlockingQueryAndThread) {
  test::TestDatabase db("doctor_locks");
  auto holder = db.connect();
  holder->begin();
  holder->execute(
      "INSERT INTO message (ig_message_id, account_id, sender_id, recipient_id, customer_id, direction, event_time) "
      "VALUES ('doctor-mid', '1', '2', '1', '2', 'inbound', NOW(3))");
  DbOptions slow = db.options();
  slow.lock_wait_timeout = 8s;
  slow.query_timeout = 10s;
  std::thread waiter([&] {
    Driver::ThreadScope scope(test::driver());
    auto w = Session::connect(test::driver(), slow);
    try {
      w->execute(
          "INSERT INTO message (ig_message_id, account_id, sender_id, recipient_id, customer_id, direction, event_time) "
          "VALUES ('doctor-mid', '1', '2', '1', '2', 'inbound', NOW(3))");
    } catch (const DbError&) {
    }
  });
  auto s = db.connect();
  DoctorOptions o = options_for(db);
  o.long_query_seconds = 1;
  DoctorReport r;
  ASSERT_TRUE(test::eventually(
      [&] {
        std::this_thread::sleep_for(150ms);  // INNODB_TRX refreshes only when unread for 100 ms
        r = run_doctor(*s, o);
        return !r.lock_waits.empty() && !r.long_queries.empty();
      },
      7s));
  EXPECT_TRUE(r.attention());
  EXPECT_EQ(r.lock_waits[0].blocking_thread, std::to_string(holder->connection_id()));
  EXPECT_NE(r.lock_waits[0].waiting_query.find("doctor-mid"), std::string::npos);
  EXPECT_NE(r.long_queries[0].info.find("doctor-mid"), std::string::npos);
  holder->rollback();
  waiter.join();
}

TEST(DoctorTest, FleetBudgetAboveMaxConnectionsNeedsAttention) {
  test::TestDatabase db("doctor_budget");
  auto s = db.connect();
  DoctorOptions o = options_for(db);
  o.replicas = parse_replicas("ingest=40,reply=2");
  const DoctorReport r = run_doctor(*s, o);
  EXPECT_EQ(r.fleet_budget, 42 * 16);
  EXPECT_TRUE(r.attention());
  bool named = false;
  for (const auto& f : r.findings)
    if (f.check == "connections" && f.attention) named = f.detail.find("more connections than the server allows") != std::string::npos;
  EXPECT_TRUE(named);
  EXPECT_THROW(parse_replicas("ingest=x"), ConfigError);
  EXPECT_THROW(parse_replicas("billing=2"), ConfigError);
}

TEST(DoctorTest, CommandExitCodesAndJson) {
  test::TestDatabase db("doctor_cli");
  const std::string bin = HM_WORKER_BINARY;
  const std::string env = test::worker_env(db.options());
  const auto clean = test::run_command(env + bin + " doctor --json");
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  const auto j = nlohmann::json::parse(clean.out);
  EXPECT_FALSE(j["attention"].get<bool>());
  EXPECT_EQ(j["session"]["isolation"], "READ-COMMITTED");
  const auto over = test::run_command(env + bin + " doctor --replicas ingest=100");
  EXPECT_EQ(over.exit_code, 3) << over.out;
  EXPECT_NE(over.out.find("ATTENTION  connections"), std::string::npos) << over.out;
  EXPECT_EQ(test::run_command(env + bin + " doctor --replicas ingest=lots").exit_code, 2);
  db.execute("ALTER TABLE message DROP INDEX uq_message_ig_message_id");
  const auto no_index = test::run_command(env + bin + " doctor");
  EXPECT_EQ(no_index.exit_code, 3);
  EXPECT_NE(no_index.out.find("ATTENTION  unique_index"), std::string::npos) << no_index.out;
}

}  // namespace
}  // namespace hm::mysql
