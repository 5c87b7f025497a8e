#include <gtest/gtest.h>

#include "ingest/ingest_service.h"
#include "worker/worker_loop.h"
#include "support/fake_queue.h"
#include "support/fakes.h"
#include "support/process.h"

namespace hm {
namespace {

QueueEntry entry(const std::string& id, const std::string& payload, int deliveries = 1) {
  QueueEntry e;
  e.id = id;
  e.payload = payload;
  e.deliveries = deliveries;
  return e;
}

class StreamWorkerTest : public ::testing::Test {
 protected:
  test::FakeStore store;
  test::FakeClock clock;
  StopSignal stop;
  WorkerTotals totals;
  test::FakeQueue queue;
  StreamWorkerOptions options() {
    StreamWorkerOptions o;
    o.read_count = 10;
    o.max_deliveries = 3;
    o.max_delivery_bytes = 4096;
    return o;
  }
};

TEST_F(StreamWorkerTest, AcksStoredEntriesAndDeadLettersBadOnes) {
  RetryOptions r;
  IngestService svc(store, clock, {r, 0, {}});
  StreamWorker w(queue, svc, options(), stop, totals);
  const auto counts = w.process({entry("1-0", test::text_delivery("m1", "hi")), entry("2-0", "{not json"),
                                 entry("3-0", test::text_delivery("m2", "hey"))});
  EXPECT_EQ(queue.acked(), (std::vector<std::string>{"1-0", "3-0"}));
  ASSERT_EQ(queue.dead().size(), 1u);
  EXPECT_EQ(queue.dead()[0].id, "2-0");
  EXPECT_NE(queue.dead()[0].reason.find("invalid JSON"), std::string::npos);
  EXPECT_EQ(counts.deliveries, 3);
  EXPECT_EQ(counts.inserted, 2);
  EXPECT_EQ(counts.dead_lettered, 1);
}

TEST_F(StreamWorkerTest, EntriesOverTheDeliveryCapAreDeadLetteredUnprocessed) {
  IngestService svc(store, clock, {RetryOptions{}, 0, {}});
  StreamWorker w(queue, svc, options(), stop, totals);
  w.process({entry("1-0", test::text_delivery("m1", "hi"), 4), entry("2-0", test::text_delivery("m2", "x"), 3)});
  ASSERT_EQ(queue.dead().size(), 1u);
  EXPECT_EQ(queue.dead()[0].id, "1-0");
  EXPECT_EQ(queue.dead()[0].attempts, 4);
  EXPECT_NE(queue.dead()[0].reason.find("QUEUE_MAX_DELIVERIES=3"), std::string::npos);
  EXPECT_EQ(queue.acked(), std::vector<std::string>{"2-0"});
  EXPECT_EQ(store.seen_mids(), std::vector<std::string>{"m2"});
}

// An entry that waits for something outside it (an enrich job whose
// account's token was refused) is left pending without counting the delivery,
// so a long wait never makes it a dead letter; an ordinary retry still counts.
TEST_F(StreamWorkerTest, AWaitingEntryIsLeftPendingWithoutCountingTheDelivery) {
  struct WaitingHandler final : BatchHandler {
    std::vector<DeliveryOutcome> handle(const std::vector<std::string_view>& payloads) const override {
      std::vector<DeliveryOutcome> out;
      for (auto p : payloads) {
        DeliveryOutcome o;
        if (p != "done") {
          o.verdict = Verdict::kRetryLater;
          o.reason = std::string(p);
          o.counts_as_delivery = p != "waits";
        }
        out.push_back(o);
      }
      return out;
    }
  } handler;
  StreamWorker w(queue, handler, options(), stop, totals);
  w.process({entry("1-0", "waits", 3), entry("2-0", "retry", 3), entry("3-0", "done")});
  EXPECT_EQ(queue.uncounted(), std::vector<std::string>{"1-0"});
  EXPECT_EQ(queue.acked(), std::vector<std::string>{"3-0"});
  EXPECT_TRUE(queue.dead().empty());
}

TEST_F(StreamWorkerTest, RetryableFailuresAreLeftUnacknowledged) {
  store.on_store = [](const Event& e) {
    if (event_mid(e) != "stuck") return test::result(StoreStatus::kInserted);
    StoreResult locked = test::result(StoreStatus::kRetryable, "Lock wait timeout exceeded", 1205);
    locked.lock_conflict = true;  // as the MySQL store reports it: other rows go ahead
    return locked;
  };
  RetryOptions r;
  r.max_attempts = 2;
  IngestService svc(store, clock, {r, 0, {}});
  StreamWorker w(queue, svc, options(), stop, totals);
  w.process({entry("1-0", test::text_delivery("stuck", "a")), entry("2-0", test::text_delivery("fine", "b"))});
  EXPECT_EQ(queue.acked(), std::vector<std::string>{"2-0"});
  EXPECT_TRUE(queue.dead().empty());
}

TEST_F(StreamWorkerTest, MalformedAndOversizedEntriesAreDeadLettered) {
  IngestService svc(store, clock, {RetryOptions{}, 0, {}});
  StreamWorker w(queue, svc, options(), stop, totals);
  QueueEntry bad = entry("1-0", "");
  bad.problem = "no payload field (fields: body)";
  w.process({bad, entry("2-0", std::string(5000, 'x'))});
  ASSERT_EQ(queue.dead().size(), 2u);
  EXPECT_NE(queue.dead()[0].reason.find("no payload field"), std::string::npos);
  EXPECT_NE(queue.dead()[1].reason.find("MAX_DELIVERY_BYTES"), std::string::npos);
  EXPECT_EQ(store.calls(), 0);
}

TEST_F(StreamWorkerTest, RunDrainsUntilStopped) {
  IngestService svc(store, clock, {RetryOptions{}, 0, {}});
  for (int i = 0; i < 25; ++i) queue.push(entry(std::to_string(i) + "-0", test::text_delivery("m" + std::to_string(i), "t")));
  StreamWorker w(queue, svc, options(), stop, totals);
  std::thread t([&] { w.run(); });
  ASSERT_TRUE(test::eventually([&] { return queue.acked_count() == 25; }, std::chrono::seconds(5)));
  stop.request();
  t.join();
  EXPECT_EQ(totals.snapshot().inserted, 25);
}

TEST(IngestBatchTest, DuplicatesInsideOneBatchAreStoredOnce) {
  test::FakeStore store;
  test::FakeClock clock;
  IngestService svc(store, clock, {RetryOptions{}, 0, {}});
  const std::string a = test::text_delivery("same", "one");
  const std::string b = test::text_delivery("same", "two");
  const std::string c = test::text_delivery("other", "three");
  const auto out = svc.ingest_batch({a, b, c});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].counts.inserted, 1);
  EXPECT_EQ(out[1].counts.duplicates, 1);
  EXPECT_EQ(out[1].counts.inserted, 0);
  EXPECT_EQ(out[2].counts.inserted, 1);
  EXPECT_EQ(store.calls(), 2);  // "same" once, "other" once
}

TEST(IngestBatchTest, OnePoisonedDeliveryDoesNotFailTheOthers) {
  test::FakeStore store;
  test::FakeClock clock;
  store.on_store = [](const Event& e) {
    if (event_mid(e) == "poison") return test::result(StoreStatus::kPermanent, "warning 1406: Data too long", 1406);
    return test::result(StoreStatus::kInserted);
  };
  IngestService svc(store, clock, {RetryOptions{}, 0, {}});
  const auto out = svc.ingest_batch(
      {test::text_delivery("a", "x"), test::text_delivery("poison", "y"), test::text_delivery("b", "z")});
  EXPECT_EQ(out[0].verdict, Verdict::kDone);
  EXPECT_EQ(out[1].verdict, Verdict::kDeadLetter);
  EXPECT_NE(out[1].reason.find("1406"), std::string::npos);
  EXPECT_EQ(out[2].verdict, Verdict::kDone);
}

TEST(IngestBatchTest, RetriesOnlyTheMessagesThatFailedRetryably) {
  test::FakeStore store;
  test::FakeClock clock;
  int tries = 0;
  store.on_store = [&](const Event& e) {
    if (event_mid(e) == "slow" && ++tries < 3) return test::result(StoreStatus::kRetryable, "Deadlock found", 1213);
    return test::result(StoreStatus::kInserted);
  };
  IngestService svc(store, clock, {RetryOptions{}, 0, {}});
  const auto out = svc.ingest_batch({test::text_delivery("fast", "x"), test::text_delivery("slow", "y")});
  EXPECT_EQ(out[0].verdict, Verdict::kDone);
  EXPECT_EQ(out[1].verdict, Verdict::kDone);
  EXPECT_EQ(out[1].attempts, 3);
  EXPECT_EQ(out[1].counts.retries, 2);
  const auto mids = store.seen_mids();
  EXPECT_EQ(std::count(mids.begin(), mids.end(), "fast"), 1);
  EXPECT_EQ(std::count(mids.begin(), mids.end(), "slow"), 3);
}

TEST(IngestBatchTest, AStopCutsRetriesShort) {
  test::FakeStore store;
  test::FakeClock clock;
  StopSignal stop;
  stop.request();
  store.on_store = [](const Event&) { return test::result(StoreStatus::kRetryable, "Lock wait timeout", 1205); };
  IngestService svc(store, clock, {RetryOptions{}, 0, {}}, &stop);
  const auto out = svc.ingest(test::text_delivery("m", "x"));
  EXPECT_EQ(out.verdict, Verdict::kRetryLater);
  EXPECT_EQ(store.calls(), 1);
}

}  // namespace
}  // namespace hm
