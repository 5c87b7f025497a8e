// The ingest logic over an in-memory store with the real idempotency: what
// redeliveries, reordering and retries leave behind, without a database.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ingest/ingest_service.h"
#include "support/fakes.h"
#include "support/memory_store.h"

namespace hm {
namespace {

constexpr long long kTime = 1768397441384LL;

std::string delivery(const nlohmann::json& messaging) {
  return nlohmann::json{{"object", "instagram"},
                        {"entry", {{{"id", "17841405309211844"}, {"time", kTime}, {"messaging", {messaging}}}}}}
      .dump();
}

std::string text(const std::string& mid, const std::string& body) {
  return delivery({{"sender", {{"id", "1284930675412097"}}},
                   {"recipient", {{"id", "17841405309211844"}}},
                   {"timestamp", kTime},
                   {"message", {{"mid", mid}, {"text", body}}}});
}

std::string deletion(const std::string& mid) {
  return delivery({{"sender", {{"id", "1284930675412097"}}},
                   {"recipient", {{"id", "17841405309211844"}}},
                   {"timestamp", kTime + 1},
                   {"message", {{"mid", mid}, {"is_deleted", true}}}});
}

class IngestIdempotencyTest : public ::testing::Test {
 protected:
  test::MemoryMessageStore store;
  test::FakeClock clock;
  IngestService service{store, clock, {RetryOptions{}, 0, {}}};
};

TEST_F(IngestIdempotencyTest, RedeliveriesInOneBatchAndAcrossBatchesLeaveOneRowPerMid) {
  const std::vector<std::string> owned = {text("mid.A", "one"), text("mid.A", "one"), text("mid.B", "two")};
  std::vector<std::string_view> batch(owned.begin(), owned.end());
  const auto a = service.ingest_batch(batch);
  const auto b = service.ingest_batch(batch);
  EXPECT_EQ(store.rows(), 2u);
  long long inserted = 0, duplicates = 0;
  for (const auto* outcomes : {&a, &b}) {
    for (const auto& o : *outcomes) {
      EXPECT_EQ(o.verdict, Verdict::kDone) << o.reason;
      inserted += o.counts.inserted;
      duplicates += o.counts.duplicates;
    }
  }
  EXPECT_EQ(inserted, 2);
  EXPECT_EQ(duplicates, 4);
  EXPECT_EQ(store.row("mid.A")->message.text, "one");
}

TEST_F(IngestIdempotencyTest, MidsThatDifferOnlyInCaseAreTwoMessagesEvenInOneBatch) {
  const std::vector<std::string> owned = {text("mid.abc", "x"), text("mid.ABC", "y"), text("mid.abc", "x")};
  const std::vector<std::string_view> batch(owned.begin(), owned.end());
  const auto out = service.ingest_batch(batch);
  EXPECT_EQ(out[0].counts.inserted, 1);
  EXPECT_EQ(out[1].counts.inserted, 1);  // not folded into mid.abc by the in-batch dedupe
  EXPECT_EQ(out[2].counts.duplicates, 1);
  EXPECT_EQ(store.rows(), 2u);
  EXPECT_EQ(store.row("mid.ABC")->message.text, "y");
}

TEST_F(IngestIdempotencyTest, ADeletionBeforeItsMessageStillDeletesIt) {
  EXPECT_EQ(service.ingest(deletion("mid.late")).verdict, Verdict::kDone);
  EXPECT_EQ(store.rows(), 0u);
  EXPECT_EQ(service.ingest(text("mid.late", "gone")).counts.inserted, 1);
  ASSERT_TRUE(store.row("mid.late"));
  EXPECT_TRUE(store.row("mid.late")->deleted);
  // The deletion again, and the message again: nothing changes.
  service.ingest(deletion("mid.late"));
  EXPECT_EQ(service.ingest(text("mid.late", "gone")).counts.duplicates, 1);
  EXPECT_EQ(store.rows(), 1u);
}

TEST_F(IngestIdempotencyTest, ARetryAfterALockConflictStoresTheMessageOnce) {
  StoreResult conflict;
  conflict.status = StoreStatus::kRetryable;
  conflict.error_code = 1205;
  conflict.lock_conflict = true;
  store.fail_next({conflict, conflict});
  const auto out = service.ingest(text("mid.retry", "hello"));
  EXPECT_EQ(out.verdict, Verdict::kDone) << out.reason;
  EXPECT_EQ(out.attempts, 3);
  EXPECT_EQ(store.rows(), 1u);
  EXPECT_EQ(service.ingest(text("mid.retry", "hello")).counts.duplicates, 1);
}

}  // namespace
}  // namespace hm
