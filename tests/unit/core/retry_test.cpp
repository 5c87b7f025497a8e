#include "core/retry.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "support/fakes.h"

namespace hm {
namespace {

using namespace std::chrono_literals;

TEST(BackoffTest, ExponentialCeilingsCappedAtMax) {
  test::FakeClock clock;
  RetryOptions o;
  o.base_delay = 100ms;
  o.max_delay = 1000ms;
  Backoff b(o, clock, [] { return 0.5; });
  EXPECT_EQ(b.ceiling(1), 100ms);
  EXPECT_EQ(b.ceiling(2), 200ms);
  EXPECT_EQ(b.ceiling(3), 400ms);
  EXPECT_EQ(b.ceiling(4), 800ms);
  EXPECT_EQ(b.ceiling(5), 1000ms);
  EXPECT_EQ(b.ceiling(60), 1000ms);
}

TEST(BackoffTest, FullJitterSleepsAFractionOfTheCeiling) {
  test::FakeClock clock;
  RetryOptions o;
  o.max_attempts = 4;
  o.base_delay = 100ms;
  o.max_delay = 10000ms;
  Backoff b(o, clock, [] { return 0.25; });
  EXPECT_TRUE(b.wait_before_retry());
  EXPECT_TRUE(b.wait_before_retry());
  EXPECT_TRUE(b.wait_before_retry());
  EXPECT_FALSE(b.wait_before_retry());  // 4 attempts made
  EXPECT_EQ(b.attempts(), 4);
  const auto sleeps = clock.sleeps();
  ASSERT_EQ(sleeps.size(), 3u);
  EXPECT_EQ(sleeps[0], 25ms);
  EXPECT_EQ(sleeps[1], 50ms);
  EXPECT_EQ(sleeps[2], 100ms);
}

TEST(BackoffTest, StopsWhenTheTimeBudgetIsSpent) {
  test::FakeClock clock;
  RetryOptions o;
  o.max_attempts = 100;
  o.base_delay = 1000ms;
  o.max_delay = 1000ms;
  o.max_total = 2500ms;
  Backoff b(o, clock, [] { return 0.999; });
  int retries = 0;
  while (b.wait_before_retry()) ++retries;
  EXPECT_EQ(retries, 3);  // 999 + 999 + 502 (clamped to the budget)
  EXPECT_LE(clock.now() - (Clock::time_point{} + std::chrono::hours(1)), 2500ms);
}

TEST(BackoffTest, SingleAttemptNeverRetries) {
  test::FakeClock clock;
  RetryOptions o;
  o.max_attempts = 1;
  Backoff b(o, clock);
  EXPECT_FALSE(b.wait_before_retry());
  EXPECT_TRUE(clock.sleeps().empty());
}

TEST(BackoffTest, AStopRequestedBeforeTheSleepEndsTheRetriesWithoutSleeping) {
  test::FakeClock clock;
  StopSignal stop;
  RetryOptions o;
  o.max_attempts = 10;
  // The stop comes while the delay is drawn, i.e. just before the sleep.
  Backoff b(o, clock, [&stop] { stop.request(); return 0.5; }, &stop);
  EXPECT_FALSE(b.wait_before_retry());
  EXPECT_TRUE(clock.sleeps().empty());
  EXPECT_EQ(b.attempts(), 1);
}

TEST(BackoffTest, AStopCutsARealSleepShort) {
  SystemClock clock;
  StopSignal stop;
  RetryOptions o;
  o.max_attempts = 10;
  o.base_delay = std::chrono::hours(1);
  o.max_delay = std::chrono::hours(1);
  o.max_total = std::chrono::hours(2);
  Backoff b(o, clock, [] { return 0.999; }, &stop);  // a sleep of almost an hour
  auto retried = std::async(std::launch::async, [&] { return b.wait_before_retry(); });
  std::this_thread::sleep_for(50ms);
  stop.request();
  // A hang detector, not a speed claim: without the stop the sleep lasts an hour.
  ASSERT_EQ(retried.wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(retried.get());
}

}  // namespace
}  // namespace hm
