// Pool logic with a fake connection; the real MySQL pool is covered by
// integration/mysql/pool_test.cpp.
#include "pool/connection_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "support/fakes.h"

namespace hm {
namespace {

using namespace std::chrono_literals;

struct FakeConn {
  static std::atomic<int> alive;
  static std::atomic<int> peak;
  int id;
  bool healthy = true;
  bool resettable = true;
  explicit FakeConn(int i) : id(i) {
    const int now = ++alive;
    int p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {
    }
  }
  ~FakeConn() { --alive; }
  bool ping() { return healthy; }
  bool reset_for_reuse() { return resettable; }
};
std::atomic<int> FakeConn::alive{0};
std::atomic<int> FakeConn::peak{0};

class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeConn::alive = 0;
    FakeConn::peak = 0;
    opened = 0;
  }
  PoolOptions options(int size, int overflow, std::chrono::seconds timeout = 1s) {
    PoolOptions o;
    o.size = size;
    o.max_overflow = overflow;
    o.timeout = timeout;
    o.recycle = 3600s;
    o.pre_ping = 30s;
    return o;
  }
  ConnectionPool<FakeConn>::Factory factory() {
    return [this] { return std::make_unique<FakeConn>(++opened); };
  }
  test::FakeClock clock;
  std::atomic<int> opened{0};
};

TEST_F(PoolTest, ReusesIdleConnections) {
  ConnectionPool<FakeConn> pool(options(2, 1), factory(), clock);
  int first = 0;
  {
    auto a = pool.checkout();
    first = a->id;
  }
  auto b = pool.checkout();
  EXPECT_EQ(b->id, first);
  EXPECT_EQ(opened, 1);
}

TEST_F(PoolTest, OverflowConnectionsCloseOnReturn) {
  ConnectionPool<FakeConn> pool(options(2, 2), factory(), clock);
  {
    auto a = pool.checkout();
    auto b = pool.checkout();
    auto c = pool.checkout();
    auto d = pool.checkout();
    EXPECT_EQ(pool.stats().open, 4);
  }
  const auto s = pool.stats();
  EXPECT_EQ(s.open, 2);
  EXPECT_EQ(s.idle, 2);
  EXPECT_EQ(FakeConn::alive, 2);
  EXPECT_EQ(s.peak_open, 4);
}

TEST_F(PoolTest, ExhaustedPoolFailsAfterTheTimeout) {
  ConnectionPool<FakeConn> pool(options(1, 1, 1s), factory(), clock);
  auto a = pool.checkout();
  auto b = pool.checkout();
  const auto started = std::chrono::steady_clock::now();
  try {
    pool.checkout();
    FAIL() << "checkout beyond size + overflow succeeded";
  } catch (const DbError& e) {
    EXPECT_EQ(e.kind(), DbErrorKind::kPoolExhausted);
    EXPECT_NE(std::string(e.what()).find("pool exhausted"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("DB_POOL_TIMEOUT"), std::string::npos);
  }
  EXPECT_GE(std::chrono::steady_clock::now() - started, 900ms);
  EXPECT_EQ(pool.stats().checkout_timeouts, 1u);
}

TEST_F(PoolTest, ZeroTimeoutFailsAtOnce) {
  ConnectionPool<FakeConn> pool(options(1, 0, 0s), factory(), clock);
  auto a = pool.checkout();
  EXPECT_THROW(pool.checkout(), DbError);
}

TEST_F(PoolTest, WaiterGetsAConnectionWhenOneIsReturned) {
  ConnectionPool<FakeConn> pool(options(1, 0, 10s), factory(), clock);
  auto a = std::make_unique<ConnectionPool<FakeConn>::Lease>(pool.checkout());
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    auto b = pool.checkout();
    got = true;
  });
  while (pool.stats().waiting == 0) std::this_thread::yield();
  EXPECT_FALSE(got);
  a.reset();
  waiter.join();
  EXPECT_TRUE(got);
  EXPECT_EQ(opened, 1);
}

TEST_F(PoolTest, ReturnedOverflowConnectionGoesToAWaiterInsteadOfClosing) {
  ConnectionPool<FakeConn> pool(options(1, 1, 10s), factory(), clock);
  auto a = pool.checkout();
  auto b = std::make_unique<ConnectionPool<FakeConn>::Lease>(pool.checkout());
  std::thread waiter([&] { auto c = pool.checkout(); });
  while (pool.stats().waiting == 0) std::this_thread::yield();
  b.reset();
  waiter.join();
  EXPECT_EQ(opened, 2);  // no close-and-reopen churn
  EXPECT_EQ(pool.stats().open, 1);  // with no one waiting, the overflow one closed
}

TEST_F(PoolTest, NeverMoreThanSizePlusOverflowUnderContention) {
  ConnectionPool<FakeConn> pool(options(3, 2, 30s), factory(), clock);
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        auto lease = pool.checkout();
        std::this_thread::yield();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(FakeConn::peak.load(), 5);
  EXPECT_LE(pool.stats().peak_open, 5);
  EXPECT_EQ(pool.stats().in_use, 0);
}

TEST_F(PoolTest, OldConnectionsAreRecycledAtCheckout) {
  auto o = options(1, 0);
  o.recycle = 60s;
  ConnectionPool<FakeConn> pool(o, factory(), clock);
  int first = 0;
  {
    auto a = pool.checkout();
    first = a->id;
  }
  clock.advance(61s);
  auto b = pool.checkout();
  EXPECT_NE(b->id, first);
  EXPECT_EQ(pool.stats().recycled, 1u);
  EXPECT_EQ(FakeConn::alive, 1);
}

TEST_F(PoolTest, IdleConnectionsArePingedAndDeadOnesReplaced) {
  auto o = options(1, 0);
  o.pre_ping = 10s;
  ConnectionPool<FakeConn> pool(o, factory(), clock);
  FakeConn* raw = nullptr;
  int first = 0;
  {
    auto a = pool.checkout();
    raw = &*a;
    first = a->id;
  }
  raw->healthy = false;
  clock.advance(5s);  // not idle long enough: not pinged, handed out as is
  {
    auto b = pool.checkout();
    EXPECT_EQ(b->id, first);
  }
  clock.advance(11s);
  auto c = pool.checkout();
  EXPECT_NE(c->id, first);
  EXPECT_EQ(pool.stats().invalidated, 1u);
}

TEST_F(PoolTest, DiscardedAndUnresettableConnectionsAreClosed) {
  ConnectionPool<FakeConn> pool(options(2, 0), factory(), clock);
  {
    auto a = pool.checkout();
    a.discard();
  }
  EXPECT_EQ(pool.stats().open, 0);
  {
    auto b = pool.checkout();
    b->resettable = false;
  }
  EXPECT_EQ(pool.stats().open, 0);
  EXPECT_EQ(FakeConn::alive, 0);
}

TEST_F(PoolTest, FactoryFailureReleasesTheSlot) {
  int calls = 0;
  ConnectionPool<FakeConn> pool(options(1, 0, 0s),
                                [&]() -> std::unique_ptr<FakeConn> {
                                  if (++calls == 1) throw DbError(DbErrorKind::kRetryable, 2003, "cannot connect");
                                  return std::make_unique<FakeConn>(calls);
                                },
                                clock);
  EXPECT_THROW(pool.checkout(), DbError);
  EXPECT_EQ(pool.stats().open, 0);
  auto a = pool.checkout();  // the slot is free again
  EXPECT_EQ(a->id, 2);
}

TEST_F(PoolTest, CloseRefusesCheckoutsAndClosesReturnedLeases) {
  ConnectionPool<FakeConn> pool(options(2, 0), factory(), clock);
  auto a = pool.checkout();
  { auto b = pool.checkout(); }
  pool.close();
  EXPECT_EQ(FakeConn::alive, 1);
  EXPECT_THROW(pool.checkout(), DbError);
  a = ConnectionPool<FakeConn>::Lease();
  EXPECT_EQ(FakeConn::alive, 0);
}

TEST_F(PoolTest, DiscardAllClosesIdleConnectionsAndThoseOutWhenTheyComeBack) {
  ConnectionPool<FakeConn> pool(options(3, 0), factory(), clock);
  auto out = pool.checkout();  // opened before the failover
  {
    auto a = pool.checkout();
    auto b = pool.checkout();
  }
  ASSERT_EQ(pool.stats().idle, 2);
  pool.discard_all();  // healthy (their ping succeeds) but on the demoted server
  EXPECT_EQ(pool.stats().idle, 0);
  EXPECT_EQ(pool.stats().open, 1);
  EXPECT_EQ(FakeConn::alive, 1);
  out = ConnectionPool<FakeConn>::Lease();  // returned healthy: closed all the same
  EXPECT_EQ(FakeConn::alive, 0);
  EXPECT_EQ(pool.stats().open, 0);
  EXPECT_EQ(pool.stats().discards, 1u);
  EXPECT_EQ(pool.stats().generation_closed, 3u);
  {
    auto fresh = pool.checkout();
    EXPECT_EQ(fresh->id, 4);  // a new connection
  }
  auto again = pool.checkout();  // and connections opened after it are kept
  EXPECT_EQ(again->id, 4);
  EXPECT_EQ(pool.stats().generation_closed, 3u);
}

TEST_F(PoolTest, LeaseDiscardAllDropsItselfAndThePool) {
  ConnectionPool<FakeConn> pool(options(2, 0), factory(), clock);
  { auto idle = pool.checkout(); }
  auto a = pool.checkout();
  auto b = pool.checkout();
  b.discard_all();
  EXPECT_TRUE(b.discarded());
  a = ConnectionPool<FakeConn>::Lease();
  b = ConnectionPool<FakeConn>::Lease();
  EXPECT_EQ(FakeConn::alive, 0);
  EXPECT_EQ(pool.stats().open, 0);
}

TEST_F(PoolTest, DiscardAllWakesAWaiterToOpenANewConnection) {
  ConnectionPool<FakeConn> pool(options(1, 0, 5s), factory(), clock);
  auto held = pool.checkout();
  std::atomic<int> got{0};
  std::thread waiter([&] {
    auto l = pool.checkout();
    got = l->id;
  });
  while (pool.stats().waiting == 0) std::this_thread::yield();
  pool.discard_all();
  held = ConnectionPool<FakeConn>::Lease();  // out of date: closed, the slot freed
  waiter.join();
  EXPECT_EQ(got, 2);
  EXPECT_EQ(pool.stats().checkout_timeouts, 0u);
}

}  // namespace
}  // namespace hm
