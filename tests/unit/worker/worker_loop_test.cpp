#include "ingest/ingest_service.h"
#include "worker/worker_loop.h"

#include <gtest/gtest.h>

#include "support/fakes.h"

namespace hm {
namespace {

using test::fixture_line;

SourcedDelivery delivery(std::string payload, std::string origin) {
  SourcedDelivery d;
  d.size = payload.size();
  d.payload = std::move(payload);
  d.origin = std::move(origin);
  return d;
}

TEST(WorkerLoopTest, BadDeliveryIsDeadLetteredAndTheNextIsStored) {
  test::FakeStore store;
  test::FakeClock clock;
  IngestService svc(store, clock, {RetryOptions{}, 0, {}});
  test::VectorSource source({delivery("{broken", "t:1"), delivery(fixture_line("text.json"), "t:2")});
  test::RecordingSink sink;
  const auto counts = drain_source(source, svc, sink, clock, 1 << 20).counts;
  EXPECT_EQ(counts.summary(), "deliveries=2 inserted=1 duplicates=0 skipped=0 dead_lettered=1");
  ASSERT_EQ(sink.letters.size(), 1u);
  EXPECT_EQ(sink.letters[0].payload, "{broken");
  EXPECT_EQ(sink.letters[0].origin, "t:1");
  EXPECT_NE(sink.letters[0].reason.find("invalid JSON"), std::string::npos);
  EXPECT_GT(sink.letters[0].time_ms, 0);
}

TEST(WorkerLoopTest, OversizedDeliveryIsDeadLetteredUnparsed) {
  test::FakeStore store;
  test::FakeClock clock;
  IngestService svc(store, clock, {RetryOptions{}, 0, {}});
  SourcedDelivery big = delivery(std::string(64, 'x'), "t:1");
  big.size = 5000;
  big.oversized = true;
  test::VectorSource source({big});
  test::RecordingSink sink;
  const auto counts = drain_source(source, svc, sink, clock, 64).counts;
  EXPECT_EQ(counts.dead_lettered, 1);
  ASSERT_EQ(sink.letters.size(), 1u);
  EXPECT_TRUE(sink.letters[0].truncated);
  EXPECT_EQ(sink.letters[0].size, 5000u);
  EXPECT_NE(sink.letters[0].reason.find("MAX_DELIVERY_BYTES"), std::string::npos);
  EXPECT_EQ(store.calls(), 0);
}

TEST(WorkerLoopTest, ExhaustedRetriesAreDeadLetteredForAFileSource) {
  test::FakeStore store;
  test::FakeClock clock;
  store.on_store = [](const Event&) { return test::result(StoreStatus::kRetryable, "deadlock", 1213); };
  RetryOptions r;
  r.max_attempts = 2;
  IngestService svc(store, clock, {r, 0, {}});
  test::VectorSource source({delivery(fixture_line("text.json"), "t:1")});
  test::RecordingSink sink;
  drain_source(source, svc, sink, clock, 1 << 20);
  ASSERT_EQ(sink.letters.size(), 1u);
  EXPECT_NE(sink.letters[0].reason.find("retries exhausted"), std::string::npos);
  EXPECT_EQ(sink.letters[0].attempts, 2);
}

// A refused dead letter does not stop the run: the good deliveries after it
// are stored, the refusal is reported for the caller to fail (exit 1).
TEST(WorkerLoopTest, AFailingDeadLetterSinkIsReportedAndTheGoodDeliveriesAreStillStored) {
  test::FakeStore store;
  test::FakeClock clock;
  IngestService svc(store, clock, {RetryOptions{}, 0, {}});
  test::VectorSource source({delivery("{broken", "t:1"), delivery(fixture_line("text.json"), "t:2"),
                             delivery("{broken too", "t:3"), delivery(fixture_line("echo.json"), "t:4")});
  test::RecordingSink sink;
  sink.fail = true;
  const DrainResult r = drain_source(source, svc, sink, clock, 1 << 20);
  EXPECT_EQ(r.refused, 2);
  EXPECT_FALSE(r.first_refusal.ok());
  EXPECT_EQ(r.counts.summary(), "deliveries=4 inserted=2 duplicates=0 skipped=0 dead_lettered=0");
  EXPECT_EQ(store.calls(), 2);
}

// A source that fails to read ends the drain with its status (the caller
// fails, exit 1); what was read before is stored. Never an exception.
TEST(WorkerLoopTest, AReadErrorEndsTheDrainWithItsStatusAfterStoringWhatWasRead) {
  class FailingSource final : public DeliverySource {
   public:
    std::optional<SourcedDelivery> next() override {
      if (served_++ == 0) return delivery(fixture_line("text.json"), "t:1");
      return std::nullopt;
    }
    Status status() const override { return Status::Retryable("reading t failed after line 1"); }

   private:
    int served_ = 0;
  };
  test::FakeStore store;
  test::FakeClock clock;
  IngestService svc(store, clock, {RetryOptions{}, 0, {}});
  FailingSource source;
  test::RecordingSink sink;
  const DrainResult r = drain_source(source, svc, sink, clock, 1 << 20);
  EXPECT_EQ(r.counts.summary(), "deliveries=1 inserted=1 duplicates=0 skipped=0 dead_lettered=0");
  EXPECT_FALSE(r.read.ok());
  EXPECT_EQ(r.read.message, "reading t failed after line 1");
}

}  // namespace
}  // namespace hm
