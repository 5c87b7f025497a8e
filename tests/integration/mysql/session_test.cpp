// A real MariaDB session gets the settings hm-worker promises, after connect.
#include "mysql/session.h"

#include <gtest/gtest.h>

#include "support/test_db.h"

namespace hm::mysql {
namespace {

TEST(MysqlSessionTest, IsolationIsReadCommittedAfterConnect) {
  test::TestDatabase db("session");
  auto s = db.connect();
  // Connector/C++ 1.1 sets REPEATABLE READ right after connecting; ours must win.
  const auto rows = s->query("SELECT @@SESSION.tx_isolation");
  EXPECT_EQ(rows.at(0).at(0).value_or(""), "READ-COMMITTED");
  const SessionSettings got = s->read_settings();
  EXPECT_EQ(got.isolation, "READ-COMMITTED");
  EXPECT_EQ(got.character_set, "utf8mb4");
  EXPECT_EQ(got.time_zone, "+00:00");
  EXPECT_EQ(got.lock_wait_timeout, db.options().lock_wait_timeout.count());
  EXPECT_EQ(got.max_statement_time_s, db.options().query_timeout.count());
  EXPECT_EQ(got.read_timeout_s, static_cast<unsigned>(db.options().query_timeout.count()));
  EXPECT_EQ(s->flavor(), ServerFlavor::kMariaDB);
  EXPECT_GT(s->connection_id(), 0u);
}

// Statements this session has prepared on the server and not closed.
long long open_statements(Session& s) {
  const auto rows = s.query(
      "SELECT SUM(IF(VARIABLE_NAME = 'COM_STMT_PREPARE', VARIABLE_VALUE, -VARIABLE_VALUE)) "
      "FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME IN ('COM_STMT_PREPARE', 'COM_STMT_CLOSE')");
  return std::stoll(rows.at(0).at(0).value_or("0"));
}

TEST(MysqlSessionTest, TheStatementCacheKeepsFewLargeStatements) {
  test::TestDatabase db("session_cache", false);
  auto s = db.connect();
  const long long before = open_statements(*s);
  // Six multi-row-insert-sized statements: only four stay prepared.
  for (int n = 300; n < 306; ++n) {
    std::string sql = "SELECT 1 FROM DUAL WHERE 1 IN (?";
    for (int k = 1; k < n; ++k) sql += ", ?";
    s->prepare(sql + ")");
  }
  EXPECT_EQ(open_statements(*s) - before, 4);
  // Small ones fill the rest of the cache, up to its bound, large ones included.
  for (int n = 0; n < 40; ++n) s->prepare("SELECT " + std::to_string(n) + " FROM DUAL WHERE 1 = ?");
  EXPECT_EQ(open_statements(*s) - before, 24);
}

TEST(MysqlSessionTest, EveryIsolationLevelIsApplied) {
  test::TestDatabase db("session_levels", false);
  for (auto level : {IsolationLevel::kSerializable, IsolationLevel::kRepeatableRead, IsolationLevel::kReadUncommitted,
                     IsolationLevel::kReadCommitted}) {
    DbOptions o = db.options();
    o.isolation = level;
    auto s = Session::connect(test::driver(), o);
    EXPECT_EQ(s->read_settings().isolation, to_server_name(level));
  }
}

TEST(MysqlSessionTest, WrongPasswordFailsWithoutShowingIt) {
  DbOptions o = test::stack_db_options();
  o.password = "definitely-not-the-password-9f3a";
  try {
    Session::connect(test::driver(), o);
    FAIL() << "connected with a wrong password";
  } catch (const DbError& e) {
    EXPECT_EQ(e.code(), 1045);
    EXPECT_EQ(std::string(e.what()).find("definitely-not-the-password"), std::string::npos) << e.what();
  }
}

TEST(MysqlSessionTest, KilledConnectionIsBrokenNotSilentlyReconnected) {
  test::TestDatabase db("session_kill");
  auto s = db.connect();
  db.execute("KILL " + std::to_string(s->connection_id()));
  EXPECT_THROW(s->query("SELECT 1"), DbError);
  EXPECT_TRUE(s->broken());
  EXPECT_FALSE(s->ping());
  EXPECT_FALSE(s->reset_for_reuse());
}

TEST(MysqlSessionTest, LockWaitIsBoundedOnTheServer) {
  test::TestDatabase db("session_lock");
  db.execute("CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB");
  db.execute("INSERT INTO t VALUES (1)");
  DbOptions o = db.options();
  o.lock_wait_timeout = std::chrono::seconds(1);
  auto holder = db.connect();
  auto waiter = Session::connect(test::driver(), o);
  holder->begin();
  holder->execute("UPDATE t SET id = 1 WHERE id = 1");
  try {
    waiter->execute("UPDATE t SET id = 1 WHERE id = 1");
    FAIL() << "the lock wait did not time out";
  } catch (const DbError& e) {
    EXPECT_EQ(e.code(), 1205);
    EXPECT_EQ(e.kind(), DbErrorKind::kRetryable);
    EXPECT_FALSE(e.connection_broken());
  }
  holder->rollback();
}

TEST(MysqlSessionTest, ASessionLeftIdleInATransactionReleasesItsLocks) {
  // A worker cut off mid-transaction (a partition, a kill behind a proxy)
  // must not hold its row locks until wait_timeout.
  test::TestDatabase db("session_idle");
  db.execute("CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB");
  db.execute("INSERT INTO t VALUES (1)");
  DbOptions o = db.options();
  o.query_timeout = std::chrono::seconds(1);
  o.lock_wait_timeout = std::chrono::seconds(1);
  auto holder = Session::connect(test::driver(), o);
  ASSERT_EQ(holder->query("SELECT @@SESSION.idle_transaction_timeout").at(0).at(0), "1");
  holder->begin();
  holder->execute("UPDATE t SET id = 1 WHERE id = 1");
  // The holder goes quiet; within a few seconds the server ends its session.
  auto waiter = db.connect();
  bool released = false;
  for (int i = 0; i < 10 && !released; ++i) {
    try {
      waiter->execute("UPDATE t SET id = 1 WHERE id = 1");
      released = true;
    } catch (const DbError& e) {
      ASSERT_EQ(e.code(), 1205) << e.what();
    }
  }
  EXPECT_TRUE(released);
  EXPECT_THROW(holder->query("SELECT 1"), DbError);
}

}  // namespace
}  // namespace hm::mysql
