// A real MariaDB session gets the settings hm-worker promises, after connect.
#include "hm/mysql/session.h"

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

}  // namespace
}  // namespace hm::mysql
