// Production incidents on the MySQL side (issue 12), against the real
// MariaDB: ids that are not consecutive (auto_increment_increment > 1), a
// lost connection in the middle of a store call with a pool of one, a
// failover's read-only server, a worker started before `migrate`, and the
// server kind asked of the server rather than read from its version string.
#include <gtest/gtest.h>

#include <set>

#include "commands/readiness.h"
#include "mysql/doctor.h"
#include "mysql/message_store.h"
#include "mysql/role_store.h"
#include "mysql/schema.h"
#include "support/fakes.h"
#include "support/test_db.h"

namespace hm::mysql {
namespace {

using namespace std::chrono_literals;

NewMessage message(const std::string& mid) {
  NewMessage m;
  m.mid = mid;
  m.account_id = "17841405309211844";
  m.sender_id = "1284930675412097";
  m.recipient_id = "17841405309211844";
  m.text = "hello";
  m.timestamp_ms = 1768396566941;
  return m;
}

std::vector<NewMessage> messages(const std::string& prefix, int n) {
  std::vector<NewMessage> out;
  for (int i = 0; i < n; ++i) out.push_back(message(prefix + std::to_string(i)));
  return out;
}

PoolOptions pool_options(int size, std::chrono::seconds timeout) {
  PoolOptions o;
  o.size = size;
  o.max_overflow = 0;
  o.timeout = timeout;
  return o;
}

// A BEFORE INSERT trigger on message that fails the insert of mids starting
// with `prefix` with MySQL error `code`, as the server would.
void fail_inserts(test::TestDatabase& db, const std::string& prefix, int code) {
  db.execute("CREATE TRIGGER fail_" + std::to_string(code) +
             " BEFORE INSERT ON message FOR EACH ROW IF NEW.ig_message_id LIKE '" + prefix +
             "%' THEN SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = " + std::to_string(code) +
             ", MESSAGE_TEXT = 'injected'; END IF");
}

TEST(MysqlIncidentsTest, AutoIncrementIncrementTwoStoresABatchOfAHundredExactlyOnce) {
  test::TestDatabase db("incr2");
  const DbOptions opts = db.options();
  SystemClock clock;
  SessionPool pool(pool_options(2, 5s), [&] {
    auto s = Session::connect(test::driver(), opts);
    s->execute("SET SESSION auto_increment_increment = 2");  // as on Galera
    return s;
  }, clock);
  MysqlMessageStore store(pool);
  const auto batch = messages("incr2-", 100);
  const auto results = store.store_messages(batch, 0);
  ASSERT_EQ(results.size(), 100u);
  std::set<std::uint64_t> ids;
  for (const auto& r : results) {
    ASSERT_EQ(r.status, StoreStatus::kInserted) << r.error;
    ids.insert(r.message_id);
  }
  EXPECT_EQ(ids.size(), 100u);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM message"), 100);
  EXPECT_EQ(db.scalar("SELECT COUNT(DISTINCT id) FROM message WHERE id % 2 = 0"), 0);  // 1, 3, 5...
  // The ids the store reported are the rows' own.
  for (std::size_t i = 0; i < batch.size(); ++i) {
    EXPECT_EQ(db.scalar("SELECT id FROM message WHERE ig_message_id = '" + batch[i].mid + "'"),
              static_cast<long long>(results[i].message_id));
  }
  // Again: all duplicates, nothing more stored.
  for (const auto& r : store.store_messages(batch, 0)) EXPECT_EQ(r.status, StoreStatus::kDuplicate) << r.error;
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM message"), 100);
}

TEST(MysqlIncidentsTest, ALostConnectionIsGivenBackBeforeTheNextCheckout) {
  test::TestDatabase db("two_slots");
  fail_inserts(db, "lost-", 1927);  // ER_CONNECTION_KILLED: the store drops the connection
  SystemClock clock;
  const DbOptions opts = db.options();
  SessionPool pool(pool_options(1, 1s), [&] { return Session::connect(test::driver(), opts); }, clock);
  MysqlMessageStore store(pool);
  // One at a time: the first is inserted, the second loses the connection,
  // then the first is read back on a new one (a pool of one: only if the
  // lost one went back first).
  const auto r = store.store_messages({message("kept-1"), message("lost-2")}, 1);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].status, StoreStatus::kInserted) << r[0].error;
  EXPECT_GT(r[0].message_id, 0u);
  EXPECT_EQ(r[1].status, StoreStatus::kRetryable) << r[1].error;
  EXPECT_EQ(r[1].error_code, 1927);
  const PoolStats s = pool.stats();
  EXPECT_EQ(s.checkout_timeouts, 0u);
  EXPECT_EQ(s.connects, 2u);
  EXPECT_EQ(s.peak_open, 1);
}

TEST(MysqlIncidentsTest, ReadOnlyAfterASwitchoverDropsEveryPooledConnection) {
  test::TestDatabase db("read_only");
  fail_inserts(db, "ro-", 1290);  // ER_OPTION_PREVENTS_STATEMENT (--read-only)
  SystemClock clock;
  const DbOptions opts = db.options();
  SessionPool pool(pool_options(3, 5s), [&] { return Session::connect(test::driver(), opts); }, clock);
  {
    auto a = pool.checkout();
    auto b = pool.checkout();
    auto c = pool.checkout();
  }
  ASSERT_EQ(pool.stats().idle, 3);
  MysqlMessageStore store(pool);
  const auto r = store.store(message("ro-1"));
  EXPECT_EQ(r.status, StoreStatus::kRetryable) << r.error;
  EXPECT_EQ(r.error_code, 1290);
  const PoolStats s = pool.stats();
  EXPECT_EQ(s.discards, 1u);
  EXPECT_EQ(s.open, 0);  // the idle ones too, though each would pass SELECT 1
  EXPECT_EQ(store.store(message("rw-1")).status, StoreStatus::kInserted);
}

TEST(MysqlIncidentsTest, AWorkerBeforeMigrateStoresNothingAndRetriesThenGoesOn) {
  test::TestDatabase db("before_migrate", false);
  SystemClock clock;
  const DbOptions opts = db.options();
  SessionPool pool(pool_options(2, 5s), [&] { return Session::connect(test::driver(), opts); }, clock);
  MysqlMessageStore store(pool);
  MysqlRoleStore roles(pool);
  const auto batch = messages("early-", 5);
  for (const auto& r : store.store_messages(batch, 0)) {
    EXPECT_EQ(r.status, StoreStatus::kRetryable) << r.error;  // never permanent: never a dead letter
    EXPECT_NE(r.error.find("schema version 0, need " + std::to_string(required_schema_version())),
              std::string::npos)
        << r.error;
    EXPECT_NE(r.error.find("hm-worker migrate"), std::string::npos) << r.error;
  }
  EXPECT_EQ(store.store(message("early-one")).status, StoreStatus::kRetryable);
  const auto found = roles.find_message("early-0");
  EXPECT_EQ(found.status.category, ErrorCategory::kRetryable) << found.status.message;
  {
    auto s = db.connect();
    EXPECT_FALSE(check_schema(*s).ok());
    DoctorOptions o;
    const auto report = run_doctor(*s, o);
    bool named = false;
    for (const auto& f : report.findings) named = named || (f.check == "schema" && f.attention);
    EXPECT_TRUE(named);
    migrate(*s);
    EXPECT_TRUE(check_schema(*s).ok()) << check_schema(*s).message;
  }
  for (const auto& r : store.store_messages(batch, 0)) EXPECT_EQ(r.status, StoreStatus::kInserted) << r.error;
  EXPECT_TRUE(roles.find_message("early-0").ok());
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM message"), 5);
}

TEST(MysqlIncidentsTest, ReadinessIsUnreadyUntilMigrateThenReadyByItself) {
  test::TestDatabase db("ready_gate", false);
  SystemClock clock;
  const DbOptions opts = db.options();
  SessionPool pool(pool_options(1, 5s), [&] { return Session::connect(test::driver(), opts); }, clock);
  PrometheusMetrics metrics(Role::kIngest, "test");
  commands::ReadinessChecks checks(test::driver(), opts, redis::RedisOptions{}, {"s", "g", "d"}, pool, metrics);
  const std::string before = checks.database();
  EXPECT_NE(before.find("schema version 0"), std::string::npos) << before;
  EXPECT_NE(before.find("hm-worker migrate"), std::string::npos) << before;
  migrate(*db.connect());
  EXPECT_EQ(checks.database(), "");
}

TEST(MysqlIncidentsTest, ATableLostAfterStartMakesTheStoreRetryAndNamesIt) {
  test::TestDatabase db("table_lost");
  auto s = db.connect();
  ASSERT_TRUE(check_schema(*s).ok());
  db.execute("DROP TABLE reply");
  const Status st = check_schema(*s);
  EXPECT_EQ(st.category, ErrorCategory::kRetryable);
  EXPECT_NE(st.message.find("reply"), std::string::npos) << st.message;
  EXPECT_EQ(st.code, 1146);
}

TEST(MysqlIncidentsTest, TheServerKindIsAskedNotGuessedAndTheIsolationNameFallsBack) {
  test::TestDatabase db("flavor");
  auto s = db.connect();
  EXPECT_EQ(s->probe_flavor(), ServerFlavor::kMariaDB);
  // The session starts with @@transaction_isolation; MariaDB before 11.1
  // answers 1193 and the session reads @@tx_isolation instead.
  const bool knows_new_name = db.query("SELECT COUNT(*) FROM information_schema.SESSION_VARIABLES "
                                       "WHERE VARIABLE_NAME = 'TRANSACTION_ISOLATION'")
                                  .at(0)
                                  .at(0)
                                  .value_or("0") != "0";
  EXPECT_EQ(s->isolation_variable(), knows_new_name ? "transaction_isolation" : "tx_isolation");
  EXPECT_EQ(s->isolation(), "READ-COMMITTED");
  EXPECT_EQ(s->read_settings().isolation, "READ-COMMITTED");
}

}  // namespace
}  // namespace hm::mysql
