// The circuit breaker, and what it changes for the worker and ingest: an
// unreachable database costs one retry budget per batch and then a wait for
// one probe, never a timeout per unit or a busy loop.
#include "worker/breaker.h"

#include <gtest/gtest.h>

#include "ingest/ingest_service.h"
#include "support/fake_queue.h"
#include "support/fakes.h"
#include "worker/worker_loop.h"

namespace hm {
namespace {

using namespace std::chrono_literals;

StoreResult unreachable() {
  StoreResult r;
  r.status = StoreStatus::kRetryable;
  r.error_code = 2013;
  r.error = "Lost connection to server during query";
  return r;
}

std::string reads(int n) {
  std::string messaging;
  for (int i = 0; i < n; ++i) {
    if (i) messaging += ",";
    messaging += R"({"sender":{"id":"1284930675412097"},"recipient":{"id":"17841405309211844"},)"
                  R"("timestamp":1768397441384,"read":{"mid":"mid.)" +
                  std::to_string(i) + R"("}})";
  }
  return R"({"object":"instagram","entry":[{"id":"17841405309211844","time":1768397441384,"messaging":[)" +
         messaging + "]}]}";
}

TEST(BreakerTest, OpensOnAFailureAndClosesWhenAProbeSucceeds) {
  test::FakeClock clock;
  StopSignal stop;
  int probes = 0, beats = 0;
  CircuitBreaker breaker(
      {}, [&] { return ++probes < 4 ? Status::Retryable("refused") : Status::Ok(); }, clock, stop, no_telemetry(),
      [&] { ++beats; });
  EXPECT_FALSE(breaker.open());
  breaker.failed("lost connection");
  EXPECT_TRUE(breaker.open());
  EXPECT_TRUE(breaker.wait_until_closed());
  EXPECT_FALSE(breaker.open());
  EXPECT_EQ(probes, 4);
  EXPECT_EQ(beats, 4);  // the liveness heartbeat keeps turning while it waits
  // Backoff between probes: 4 waits of at least half their ceiling (125+250+500+1000 ms / 2).
  Clock::duration slept{0};
  for (auto d : clock.sleeps()) slept += d;
  EXPECT_GE(slept, 937ms);
}

TEST(BreakerTest, AStopEndsTheWait) {
  test::FakeClock clock;
  StopSignal stop;
  int probes = 0;
  CircuitBreaker breaker({}, [&] {
    if (++probes == 3) stop.request();
    return Status::Retryable("refused");
  }, clock, stop);
  breaker.failed("lost connection");
  EXPECT_FALSE(breaker.wait_until_closed());
  EXPECT_EQ(probes, 3);
}

TEST(BreakerTest, OneUnreachableServerCostsOneRetryBudgetPerBatchNotOnePerEvent) {
  test::FakeStore store;
  test::FakeClock clock;
  store.on_store = [](const Event&) { return unreachable(); };
  RetryOptions retry;
  retry.max_attempts = 3;
  IngestService service(store, clock, {retry, 0, {}});
  const std::string payload = reads(100);
  const auto out = service.ingest(payload);
  EXPECT_EQ(out.verdict, Verdict::kRetryLater);
  EXPECT_EQ(out.unavailable, "database");
  EXPECT_EQ(store.calls(), 3);  // the first read receipt's budget; the other 99 untried
}

TEST(BreakerTest, ALockConflictDoesNotCountAsUnreachable) {
  test::FakeStore store;
  test::FakeClock clock;
  store.on_store = [](const Event&) {
    StoreResult r = unreachable();
    r.error_code = 1205;
    r.lock_conflict = true;
    return r;
  };
  RetryOptions retry;
  retry.max_attempts = 2;
  IngestService service(store, clock, {retry, 0, {}});
  const auto out = service.ingest(reads(3));
  EXPECT_EQ(out.verdict, Verdict::kRetryLater);
  EXPECT_TRUE(out.unavailable.empty());
  EXPECT_EQ(store.calls(), 6);  // each read receipt its own budget
}

TEST(BreakerTest, TheWorkerStopsReadingWhileTheDatabaseIsUnreachable) {
  test::FakeStore store;
  test::FakeClock clock;
  StopSignal stop;
  bool down = true;
  store.on_store = [&](const Event&) {
    StoreResult r;
    r.status = StoreStatus::kApplied;
    return down ? unreachable() : r;
  };
  RetryOptions retry;
  retry.max_attempts = 1;
  IngestService service(store, clock, {retry, 0, {}});
  test::FakeQueue queue({.per_read = 1});  // one entry a read
  for (int i = 0; i < 3; ++i) queue.push({std::to_string(i) + "-0", reads(1), 0, 1, ""});
  int probes = 0;
  CircuitBreaker breaker({}, [&] {
    // While it probes, no read is made; the third probe finds it back.
    EXPECT_EQ(queue.reads_made(), 1);
    if (++probes == 3) down = false;
    return down ? Status::Retryable("refused") : Status::Ok();
  }, clock, stop);
  WorkerTotals totals;
  StreamWorkerOptions options;
  options.read_count = 1;
  options.breaker = &breaker;
  options.on_loop = [&] {
    if (queue.reads_made() >= 3) stop.request();
  };
  StreamWorker worker(queue, service, options, stop, totals);
  worker.run();
  EXPECT_EQ(probes, 3);
  EXPECT_EQ(queue.acked(), (std::vector<std::string>{"1-0", "2-0"}));  // 0-0 stays pending for redelivery
}

}  // namespace
}  // namespace hm
