#include "mysql/errors.h"

#include "mysql/session.h"

#include <gtest/gtest.h>

namespace hm::mysql {
namespace {

TEST(MysqlErrorsTest, ClassifiesOnce) {
  EXPECT_EQ(classify(1062, ServerFlavor::kMariaDB).kind, DbErrorKind::kDuplicate);
  for (int code : {1205, 1213}) {
    const auto c = classify(code, ServerFlavor::kMariaDB);
    EXPECT_EQ(c.kind, DbErrorKind::kRetryable) << code;
    EXPECT_FALSE(c.connection_broken) << code;
  }
  for (int code : {2006, 2013, 1927, 1053, 1040}) {
    const auto c = classify(code, ServerFlavor::kMariaDB);
    EXPECT_EQ(c.kind, DbErrorKind::kRetryable) << code;
    EXPECT_TRUE(c.connection_broken) << code;
  }
  for (int code : {1366, 1406, 1265, 1048, 1064}) {
    EXPECT_EQ(classify(code, ServerFlavor::kMariaDB).kind, DbErrorKind::kPermanent) << code;
  }
}

TEST(MysqlErrorsTest, Error4031DependsOnTheServer) {
  EXPECT_EQ(classify(4031, ServerFlavor::kMySQL).kind, DbErrorKind::kRetryable);
  EXPECT_TRUE(classify(4031, ServerFlavor::kMySQL).connection_broken);
  EXPECT_EQ(classify(4031, ServerFlavor::kMariaDB).kind, DbErrorKind::kPermanent);
}

TEST(MysqlErrorsTest, OnlyLockWaitTimeoutAndDeadlockAreLockConflicts) {
  EXPECT_TRUE(lock_conflict(1205));
  EXPECT_TRUE(lock_conflict(1213));
  for (int code : {0, 1040, 1062, 1969, 2006, 2013, 4031}) EXPECT_FALSE(lock_conflict(code)) << code;
}

TEST(MysqlErrorsTest, EveryKindHasTheCategoryItsRetryabilitySays) {
  for (auto kind : {DbErrorKind::kDuplicate, DbErrorKind::kRetryable, DbErrorKind::kPoolExhausted,
                    DbErrorKind::kPermanent}) {
    const DbError e(kind, 7, "what");
    EXPECT_EQ(category(e), e.retryable() ? ErrorCategory::kRetryable : ErrorCategory::kPermanent) << to_string(kind);
  }
  EXPECT_EQ(classify(1213, ServerFlavor::kMariaDB).category(), ErrorCategory::kRetryable);
  EXPECT_EQ(classify(2013, ServerFlavor::kMariaDB).category(), ErrorCategory::kRetryable);
  EXPECT_EQ(classify(1062, ServerFlavor::kMariaDB).category(), ErrorCategory::kPermanent);
  EXPECT_EQ(classify(1366, ServerFlavor::kMariaDB).category(), ErrorCategory::kPermanent);
}

TEST(MysqlErrorsTest, ADbErrorBecomesAStatusWithItsCodeAndMessage) {
  const Status s = to_status(DbError(DbErrorKind::kPoolExhausted, 0, "pool exhausted"));
  EXPECT_EQ(s.category, ErrorCategory::kRetryable);
  EXPECT_EQ(s.code, 0);
  EXPECT_EQ(s.message, "pool exhausted");
  EXPECT_EQ(to_status(DbError(DbErrorKind::kPermanent, 1406, "too long")).category, ErrorCategory::kPermanent);
}

// The whole table of errors.cpp, written out again: each code, its kind and
// what happens to the connection, on both servers.
struct Expected {
  int code;
  DbErrorKind kind;
  ConnectionAction action;
};
constexpr auto R = DbErrorKind::kRetryable;
constexpr auto P = DbErrorKind::kPermanent;
constexpr auto Keep = ConnectionAction::kKeep;
constexpr auto Drop = ConnectionAction::kDrop;
constexpr auto Pool = ConnectionAction::kDropPool;
const Expected kExpected[] = {
    {1062, DbErrorKind::kDuplicate, Keep},
    // transactions and statements
    {1205, R, Keep}, {1213, R, Keep}, {1317, R, Keep}, {1969, R, Keep}, {3024, R, Keep}, {1637, R, Keep},
    {3100, R, Keep}, {3101, R, Keep}, {1180, R, Drop}, {1615, R, Drop}, {1461, R, Drop},
    // server resources
    {1021, R, Keep}, {1037, R, Keep}, {1038, R, Keep}, {1041, R, Keep}, {1114, R, Keep}, {1135, R, Drop},
    // the connection and the network
    {1040, R, Drop}, {1043, R, Drop}, {1053, R, Pool}, {1152, R, Drop}, {1153, R, Drop}, {1154, R, Drop},
    {1155, R, Drop}, {1156, R, Drop}, {1157, R, Drop}, {1158, R, Drop}, {1159, R, Drop}, {1160, R, Drop},
    {1161, R, Drop}, {1184, R, Drop}, {1927, R, Drop}, {2002, R, Drop}, {2003, R, Drop}, {2006, R, Drop},
    {2013, R, Drop}, {2055, R, Drop}, {2000, R, Drop}, {2999, R, Drop}, {0, R, Drop},
    // the account, at connect
    {1044, R, Drop}, {1045, R, Drop}, {1049, R, Drop}, {1129, R, Drop}, {1130, R, Drop}, {1203, R, Drop},
    {1226, R, Drop}, {1251, R, Drop}, {1862, R, Drop}, {1820, R, Drop},
    // schema and grants
    {1142, R, Keep}, {1143, R, Keep}, {1146, R, Keep}, {1054, R, Keep},
    // failover
    {1290, R, Pool}, {1792, R, Pool}, {1836, R, Pool}, {1047, R, Pool}, {1874, R, Pool},
    // proxies
    {1105, R, Drop}, {9001, R, Drop},
    // data and bugs
    {1048, P, Keep}, {1064, P, Keep}, {1264, P, Keep}, {1265, P, Keep}, {1292, P, Keep}, {1366, P, Keep},
    {1406, P, Keep}, {1451, P, Keep}, {1452, P, Keep}, {3140, P, Keep}, {1193, P, Keep}, {1999, P, Keep},
    {3000, P, Keep}, {-1, P, Keep},
};

TEST(MysqlErrorsTest, TheWholeTableOnBothServers) {
  for (const auto flavor : {ServerFlavor::kMariaDB, ServerFlavor::kMySQL}) {
    for (const Expected& e : kExpected) {
      const Classification c = classify(e.code, flavor);
      EXPECT_EQ(c.kind, e.kind) << e.code;
      EXPECT_EQ(c.action, e.action) << e.code << ": " << to_string(c.action);
      EXPECT_EQ(c.connection_broken, e.action != Keep) << e.code;
    }
  }
}

TEST(MysqlErrorsTest, ConnectionTimeErrorsAreInfrastructureNeverDataErrors) {
  // Password rotation, max_user_connections, a blocked host, the statement
  // limit, a worker before `migrate` or without its grant: waiting fixes all.
  for (int code : {1045, 1203, 1129, 1461, 1146, 1142, 1290, 2002, 2003, 2006, 2013, 1040, 1205, 1213, 1927, 1053}) {
    EXPECT_EQ(classify(code, ServerFlavor::kMariaDB).category(), ErrorCategory::kRetryable) << code;
  }
  EXPECT_EQ(classify(4031, ServerFlavor::kMySQL).category(), ErrorCategory::kRetryable);
}

TEST(MysqlErrorsTest, ReadOnlyAfterASwitchoverDropsThePool) {
  EXPECT_EQ(classify(1290, ServerFlavor::kMariaDB).action, ConnectionAction::kDropPool);
  EXPECT_EQ(classify(1290, ServerFlavor::kMySQL).action, ConnectionAction::kDropPool);
  EXPECT_STREQ(to_string(ConnectionAction::kDropPool), "drop_pool");
}

TEST(MysqlErrorsTest, AnUnknownIsolationVariableFallsBackToTheOtherName) {
  // MariaDB before 11.1 knows only tx_isolation; MySQL 8 only transaction_isolation.
  EXPECT_EQ(Session::next_isolation_variable("transaction_isolation", 1193), "tx_isolation");
  EXPECT_EQ(Session::next_isolation_variable("tx_isolation", 1193), "transaction_isolation");
  // Any other error is not about the name.
  EXPECT_EQ(Session::next_isolation_variable("transaction_isolation", 2013), "");
  EXPECT_EQ(Session::next_isolation_variable("transaction_isolation", 1142), "");
}

}  // namespace
}  // namespace hm::mysql
