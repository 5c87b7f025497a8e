#include "mysql/errors.h"

#include <gtest/gtest.h>

namespace hm::mysql {
namespace {

TEST(MysqlErrorsTest, ClassifiesOnce) {
  EXPECT_EQ(classify(1062, ServerFlavor::kMariaDB).kind, DbErrorKind::kDuplicate);
  for (int code : {1205, 1213, 1040}) {
    const auto c = classify(code, ServerFlavor::kMariaDB);
    EXPECT_EQ(c.kind, DbErrorKind::kRetryable) << code;
    EXPECT_FALSE(c.connection_broken) << code;
  }
  for (int code : {2006, 2013, 1927, 1053}) {
    const auto c = classify(code, ServerFlavor::kMariaDB);
    EXPECT_EQ(c.kind, DbErrorKind::kRetryable) << code;
    EXPECT_TRUE(c.connection_broken) << code;
  }
  for (int code : {1366, 1406, 1265, 1048, 1064, 1146}) {
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

}  // namespace
}  // namespace hm::mysql
