#include "hm/ingest_service.h"

#include <gtest/gtest.h>

#include "support/fakes.h"

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
  IngestService svc(store, clock, retries(3));
  const auto out = svc.ingest(fixture_line("multi_entry.json"));
  EXPECT_EQ(out.verdict, Verdict::kDone);
  EXPECT_EQ(out.counts.inserted, 4);  // 3 messages + 1 echo
  EXPECT_EQ(out.counts.applied, 2);   // read + reaction
  EXPECT_EQ(store.calls(), 6);
}

TEST(IngestServiceTest, BadPayloadIsDeadLetteredWithoutTouchingTheStore) {
  test::FakeStore store;
  test::FakeClock clock;
  IngestService svc(store, clock, retries(3));
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
  IngestService svc(store, clock, retries(5));
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
  IngestService svc(store, clock, retries(3));
  const auto out = svc.ingest(fixture_line("text.json"));
  EXPECT_EQ(out.verdict, Verdict::kRetryLater);
  EXPECT_NE(out.reason.find("after 3 attempts"), std::string::npos) << out.reason;
  EXPECT_EQ(store.calls(), 3);
}

TEST(IngestServiceTest, APermanentFailureDoesNotStopTheOtherEvents) {
  test::FakeStore store;
  test::FakeClock clock;
  store.script({result(StoreStatus::kInserted), result(StoreStatus::kPermanent, "warning 1366: Incorrect string value", 1366)});
  IngestService svc(store, clock, retries(3));
  const auto out = svc.ingest(fixture_line("multi_entry.json"));
  EXPECT_EQ(out.verdict, Verdict::kDeadLetter);
  EXPECT_NE(out.reason.find("event 1"), std::string::npos) << out.reason;
  EXPECT_NE(out.reason.find("1366"), std::string::npos) << out.reason;
  EXPECT_EQ(store.calls(), 6);  // all events were tried
  EXPECT_EQ(out.counts.inserted, 3);
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
