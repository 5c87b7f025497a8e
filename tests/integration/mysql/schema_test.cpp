#include "mysql/schema.h"

#include <gtest/gtest.h>

#include "support/test_db.h"

namespace hm::mysql {
namespace {

TEST(SchemaTest, MigrateIsIdempotentAndVerifies) {
  test::TestDatabase db("schema", false);
  auto s = db.connect();
  const auto first = migrate(*s);
  EXPECT_EQ(first.applied, (std::vector<int>{1, 2, 3, 4}));
  const auto second = migrate(*s);
  EXPECT_TRUE(second.applied.empty());
  EXPECT_EQ(second.current_version, 4);
  EXPECT_EQ(second.current_version, required_schema_version());
  const auto check = verify_message_index(*s);
  EXPECT_TRUE(check.ok);
  EXPECT_EQ(check.index_name, "uq_message_ig_message_id");
  EXPECT_EQ(check.collation, "ascii_bin");
}

// A run stopped after migration 4's statements but before its record: the
// next migrate applies it again without failing on the existing columns.
TEST(SchemaTest, MigrationFourAppliesAgainAfterAnInterruptedRun) {
  test::TestDatabase db("schema4", false);
  auto s = db.connect();
  migrate(*s);
  s->execute("DELETE FROM schema_migration WHERE version = 4");
  const auto again = migrate(*s);
  EXPECT_EQ(again.applied, (std::vector<int>{4}));
  EXPECT_EQ(again.current_version, 4);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                      "AND TABLE_NAME = 'message' AND COLUMN_NAME IN ('reply_to_story_id', 'reply_to_story_url')"),
            2);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                      "AND TABLE_NAME = 'media' AND COLUMN_NAME = 'status' AND COLUMN_TYPE LIKE '%skipped%'"),
            1);
}

TEST(SchemaTest, CaseInsensitiveUniqueIndexIsRejected) {
  test::TestDatabase db("schema_ci", false);
  db.execute(
      "CREATE TABLE message (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
      "ig_message_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL, "
      "UNIQUE KEY uq (ig_message_id))");
  auto s = db.connect();
  const auto check = verify_message_index(*s);
  EXPECT_FALSE(check.ok);
  ASSERT_EQ(check.problems.size(), 1u);
  EXPECT_NE(check.problems[0].find("not case-sensitive"), std::string::npos) << check.problems[0];
}

TEST(SchemaTest, MissingOrPartialUniqueIndexIsRejected) {
  test::TestDatabase db("schema_noidx", false);
  db.execute(
      "CREATE TABLE message (id BIGINT AUTO_INCREMENT PRIMARY KEY, account_id VARCHAR(64), "
      "ig_message_id VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, "
      "KEY ix (ig_message_id), UNIQUE KEY uq_pair (account_id, ig_message_id), UNIQUE KEY uq_prefix (ig_message_id(20)))");
  auto s = db.connect();
  const auto check = verify_message_index(*s);
  EXPECT_FALSE(check.ok);
  ASSERT_EQ(check.problems.size(), 1u);
  EXPECT_NE(check.problems[0].find("no UNIQUE index"), std::string::npos) << check.problems[0];
}

TEST(SchemaTest, MissingTableIsReported) {
  test::TestDatabase db("schema_empty", false);
  auto s = db.connect();
  const auto check = verify_message_index(*s);
  EXPECT_FALSE(check.ok);
  EXPECT_NE(check.problems.at(0).find("hm-worker migrate"), std::string::npos);
}

}  // namespace
}  // namespace hm::mysql
