#include "ingest/ingest_service.h"

#include <gtest/gtest.h>

#include "support/fakes.h"
#include "support/process.h"

namespace hm {
namespace {

using test::fixture_line;
using test::result;

RetryOptions retries(int attempts) {
  RetryOptions o;
  o.max_attempts = attempts;
  o.base_delay = std::chrono::milliseconds(10);
  o.max_delay = std::chrono::milliseconds(100);
  return o;
}

TEST(IngestServiceTest, StoresEveryEventAndCountsOutcomes) {
  test::FakeStore store;
  test::FakeClock clock;
  IngestService svc(store, clock, {retries(3), 0, {}});
  const auto out = svc.ingest(fixture_line("multi_entry.json"));
  EXPECT_EQ(out.verdict, Verdict::kDone);
  EXPECT_EQ(out.counts.inserted, 4);  // 3 messages + 1 echo
  EXPECT_EQ(out.counts.applied, 2);   // read + reaction
  EXPECT_EQ(store.calls(), 6);
}

TEST(IngestServiceTest, BadPayloadIsDeadLetteredWithoutTouchingTheStore) {
  test::FakeStore store;
  test::FakeClock clock;
  IngestService svc(store, clock, {retries(3), 0, {}});
  const auto out = svc.ingest("{not json");
  EXPECT_EQ(out.verdict, Verdict::kDeadLetter);
  EXPECT_NE(out.reason.find("bad payload: invalid JSON"), std::string::npos) << out.reason;
  EXPECT_EQ(store.calls(), 0);
}

TEST(IngestServiceTest, RetryableErrorsAreRetriedWithBackoff) {
  test::FakeStore store;
  test::FakeClock clock;
  store.script({result(StoreStatus::kRetryable, "lock wait timeout", 1205),
                result(StoreStatus::kRetryable, "deadlock", 1213), result(StoreStatus::kInserted)});
  IngestService svc(store, clock, {retries(5), 0, {}});
  const auto out = svc.ingest(fixture_line("text.json"));
  EXPECT_EQ(out.verdict, Verdict::kDone);
  EXPECT_EQ(out.counts.inserted, 1);
  EXPECT_EQ(out.attempts, 3);
  EXPECT_EQ(clock.sleeps().size(), 2u);
}

TEST(IngestServiceTest, ExhaustedRetriesAskForALaterDelivery) {
  test::FakeStore store;
  test::FakeClock clock;
  store.on_store = [](const Event&) { return result(StoreStatus::kRetryable, "lock wait timeout", 1205); };
  IngestService svc(store, clock, {retries(3), 0, {}});
  const auto out = svc.ingest(fixture_line("text.json"));
  EXPECT_EQ(out.verdict, Verdict::kRetryLater);
  EXPECT_NE(out.reason.find("after 3 attempts"), std::string::npos) << out.reason;
  EXPECT_EQ(store.calls(), 3);
}

TEST(IngestServiceTest, APermanentFailureDoesNotStopTheOtherEvents) {
  test::FakeStore store;
  test::FakeClock clock;
  store.script({result(StoreStatus::kInserted), result(StoreStatus::kPermanent, "warning 1366: Incorrect string value", 1366)});
  IngestService svc(store, clock, {retries(3), 0, {}});
  const auto out = svc.ingest(fixture_line("multi_entry.json"));
  EXPECT_EQ(out.verdict, Verdict::kDeadLetter);
  EXPECT_NE(out.reason.find("event 1"), std::string::npos) << out.reason;
  EXPECT_NE(out.reason.find("1366"), std::string::npos) << out.reason;
  EXPECT_EQ(store.calls(), 6);  // all events were tried
  EXPECT_EQ(out.counts.inserted, 3);
}

// Records the mids of every store() and store_messages() call; `answer`
// decides each message's result. store_messages() is the base class's: one
// by one through store().
class RecordingStore final : public MessageStore {
 public:
  StoreResult store(const Event& ev) override {
    const std::string mid = event_mid(ev);
    stored.push_back(mid);
    return answer(mid);
  }
  std::vector<StoreResult> store_messages(const std::vector<NewMessage>& ms, std::size_t per_transaction) override {
    per_transaction_seen.push_back(per_transaction);
    return MessageStore::store_messages(ms, per_transaction);
  }
  // The first store() call gets `r`, every other one kInserted.
  void fail_first_call(StoreResult r) {
    answer = [this, r](const std::string&) { return stored.size() == 1 ? r : result(StoreStatus::kInserted); };
  }
  std::function<StoreResult(const std::string&)> answer = [](const std::string&) {
    return result(StoreStatus::kInserted);
  };
  std::vector<std::string> stored;
  std::vector<std::size_t> per_transaction_seen;
};

std::vector<std::string> deliveries(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(test::text_delivery("mid-" + std::to_string(i), "hello"));
  return out;
}

std::vector<DeliveryOutcome> ingest_all(const IngestService& svc, const std::vector<std::string>& lines) {
  return svc.ingest_batch(std::vector<std::string_view>(lines.begin(), lines.end()));
}

TEST(IngestServiceTest, TheStoreBatchIsPassedToTheStore) {
  RecordingStore store;
  test::FakeClock clock;
  IngestService svc(store, clock, {retries(3), 2, {}});
  const auto out = ingest_all(svc, deliveries(5));
  EXPECT_EQ(store.per_transaction_seen, (std::vector<std::size_t>{2}));
  EXPECT_EQ(store.stored.size(), 5u);
  for (const auto& o : out) EXPECT_EQ(o.verdict, Verdict::kDone);
}

TEST(IngestServiceTest, ALockConflictLetsTheOtherMessagesOfTheReadGoAhead) {
  RecordingStore store;
  test::FakeClock clock;
  StoreResult locked = result(StoreStatus::kRetryable, "lock wait timeout", 1205);
  locked.lock_conflict = true;
  store.fail_first_call(locked);  // mid-0's first try
  IngestService svc(store, clock, {retries(3), 1, {}});
  const auto out = ingest_all(svc, deliveries(3));
  // First attempt: all three tried; then only the locked one again.
  EXPECT_EQ(store.stored, (std::vector<std::string>{"mid-0", "mid-1", "mid-2", "mid-0"}));
  EXPECT_EQ(clock.sleeps().size(), 1u);
  for (const auto& o : out) EXPECT_EQ(o.verdict, Verdict::kDone);
  EXPECT_EQ(out[0].attempts, 2);
  EXPECT_EQ(out[1].attempts, 1);
}

TEST(IngestServiceTest, ALostConnectionLeavesTheRestOfTheReadForTheNextAttempt) {
  RecordingStore store;
  test::FakeClock clock;
  store.fail_first_call(result(StoreStatus::kRetryable, "Lost connection to server during query", 2013));
  IngestService svc(store, clock, {retries(3), 1, {}});
  const auto out = ingest_all(svc, deliveries(3));
  // The first failure is not about one row: the other two are not tried on a
  // connection that would fail them the same slow way, but after the backoff.
  EXPECT_EQ(store.stored, (std::vector<std::string>{"mid-0", "mid-0", "mid-1", "mid-2"}));
  EXPECT_EQ(clock.sleeps().size(), 1u);
  for (const auto& o : out) EXPECT_EQ(o.verdict, Verdict::kDone);
}

TEST(StoreInChunksTest, ChunksInOrderAndTheLastOneShort) {
  std::vector<std::pair<std::size_t, std::size_t>> calls;
  const auto out = store_in_chunks(5, 2, [&](std::size_t from, std::size_t to) {
    calls.emplace_back(from, to);
    return std::vector<StoreResult>(to - from, result(StoreStatus::kInserted));
  });
  EXPECT_EQ(calls, (std::vector<std::pair<std::size_t, std::size_t>>{{0, 2}, {2, 4}, {4, 5}}));
  EXPECT_EQ(out.size(), 5u);
  calls.clear();
  store_in_chunks(5, 0, [&](std::size_t from, std::size_t to) {
    calls.emplace_back(from, to);
    return std::vector<StoreResult>(to - from, result(StoreStatus::kInserted));
  });
  EXPECT_EQ(calls, (std::vector<std::pair<std::size_t, std::size_t>>{{0, 5}}));
}

TEST(StoreInChunksTest, AfterAFailureThatIsNotALockConflictTheRestAreNotTried) {
  int calls = 0;
  const auto out = store_in_chunks(6, 2, [&](std::size_t from, std::size_t to) {
    ++calls;
    std::vector<StoreResult> r(to - from, result(StoreStatus::kInserted));
    if (from == 2) r[1] = result(StoreStatus::kRetryable, "pool exhausted", 0);
    return r;
  });
  EXPECT_EQ(calls, 2);
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(out[2].status, StoreStatus::kInserted);
  for (std::size_t i = 3; i < 6; ++i) {
    EXPECT_EQ(out[i].status, StoreStatus::kRetryable);
    EXPECT_EQ(out[i].error, "pool exhausted");
  }
}

// Lock wait timeouts cost at most two DB_LOCK_WAIT_TIMEOUTs per try of a
// read: after the second the rest is not tried (and is retried with it, as a
// lock conflict); deadlocks come back at once, so the others go ahead.
TEST(StoreInChunksTest, AfterTwoLockWaitTimeoutsTheRestAreNotTriedButAfterDeadlocksTheyAre) {
  auto locked = [](int code) {
    StoreResult r = result(StoreStatus::kRetryable, "lock", code);
    r.lock_conflict = true;
    return r;
  };
  for (const int code : {1205, 1213}) {
    int calls = 0;
    const auto out = store_in_chunks(50, 1, [&](std::size_t from, std::size_t) {
      ++calls;
      return std::vector<StoreResult>{from == 3 || from == 7 ? locked(code) : result(StoreStatus::kInserted)};
    });
    ASSERT_EQ(out.size(), 50u);
    EXPECT_EQ(out[5].status, StoreStatus::kInserted);  // one held row: the others went ahead
    if (code == 1205) {
      EXPECT_EQ(calls, 8);  // two lock waits, not 43 more
      for (std::size_t i = 8; i < 50; ++i) {
        EXPECT_EQ(out[i].status, StoreStatus::kRetryable);
        EXPECT_TRUE(out[i].lock_conflict);  // retried with the read, not "database unavailable"
        EXPECT_NE(out[i].error.find("not tried after two lock wait timeouts"), std::string::npos) << out[i].error;
      }
    } else {
      EXPECT_EQ(calls, 50);
      EXPECT_EQ(out[49].status, StoreStatus::kInserted);
    }
  }
}

TEST(IngestServiceTest, SummaryLineFormat) {
  IngestCounts c;
  c.deliveries = 5;
  c.inserted = 3;
  c.duplicates = 1;
  c.skipped = 2;
  c.dead_lettered = 1;
  EXPECT_EQ(c.summary(), "deliveries=5 inserted=3 duplicates=1 skipped=2 dead_lettered=1");
}

}  // namespace
}  // namespace hm
