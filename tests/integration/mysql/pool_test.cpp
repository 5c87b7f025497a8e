// The bounded pool against a real MariaDB.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "pool/connection_pool.h"
#include "mysql/message_store.h"
#include "support/fakes.h"
#include "support/test_db.h"

namespace hm::mysql {
namespace {

using namespace std::chrono_literals;

PoolOptions pool_options(int size, int overflow, std::chrono::seconds timeout) {
  PoolOptions o;
  o.size = size;
  o.max_overflow = overflow;
  o.timeout = timeout;
  o.recycle = 3600s;
  o.pre_ping = 30s;
  return o;
}

long long server_connections(test::TestDatabase& db) {
  return db.scalar("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = '" + db.name() +
                   "' AND ID <> " + std::to_string(db.admin_connection_id()));
}

TEST(MysqlPoolTest, PooledConnectionIsReadCommitted) {
  test::TestDatabase db("pool_iso");
  SystemClock clock;
  SessionPool pool(pool_options(2, 1, 5s), [&] { return Session::connect(test::driver(), db.options()); }, clock);
  auto lease = pool.checkout();
  EXPECT_EQ(lease->query("SELECT @@SESSION.tx_isolation").at(0).at(0).value_or(""), "READ-COMMITTED");
}

TEST(MysqlPoolTest, ServerNeverSeesMoreThanSizePlusOverflow) {
  test::TestDatabase db("pool_bound");
  SystemClock clock;
  SessionPool pool(pool_options(2, 2, 30s), [&] { return Session::connect(test::driver(), db.options()); }, clock);
  std::atomic<bool> stop{false};
  std::atomic<long long> max_seen{0};
  std::thread sampler([&] {
    Driver::ThreadScope scope(test::driver());
    DbOptions o = db.options();
    o.name = "mysql";
    auto s = Session::connect(test::driver(), o);
    while (!stop) {
      const auto rows = s->query("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = '" + db.name() +
                                 "' AND ID <> " + std::to_string(db.admin_connection_id()));
      const long long n = std::stoll(rows.at(0).at(0).value_or("0"));
      if (n > max_seen) max_seen = n;
      std::this_thread::sleep_for(2ms);
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < 10; ++t) {
    workers.emplace_back([&] {
      Driver::ThreadScope scope(test::driver());
      for (int i = 0; i < 30; ++i) {
        auto lease = pool.checkout();
        lease->query("SELECT SLEEP(0.005)");
      }
    });
  }
  for (auto& w : workers) w.join();
  stop = true;
  sampler.join();
  EXPECT_GT(max_seen.load(), 0);
  EXPECT_LE(max_seen.load(), 4);
  EXPECT_LE(pool.stats().peak_open, 4);
  // Overflow connections were closed on return; the pool keeps at most `size`.
  EXPECT_LE(server_connections(db), 2);
}

TEST(MysqlPoolTest, ExhaustedPoolFailsAfterTheTimeout) {
  test::TestDatabase db("pool_exhaust");
  SystemClock clock;
  SessionPool pool(pool_options(1, 1, 1s), [&] { return Session::connect(test::driver(), db.options()); }, clock);
  auto a = pool.checkout();
  auto b = pool.checkout();
  const auto started = std::chrono::steady_clock::now();
  try {
    pool.checkout();
    FAIL();
  } catch (const DbError& e) {
    EXPECT_EQ(e.kind(), DbErrorKind::kPoolExhausted);
    EXPECT_NE(std::string(e.what()).find("pool exhausted"), std::string::npos);
  }
  EXPECT_GE(std::chrono::steady_clock::now() - started, 900ms);
  EXPECT_EQ(server_connections(db), 2);
}

TEST(MysqlPoolTest, OldConnectionsAreRecycled) {
  test::TestDatabase db("pool_recycle");
  test::FakeClock clock;
  auto o = pool_options(1, 0, 5s);
  o.recycle = 60s;
  SessionPool pool(o, [&] { return Session::connect(test::driver(), db.options()); }, clock);
  std::uint64_t first = 0;
  {
    auto lease = pool.checkout();
    first = lease->connection_id();
  }
  clock.advance(61s);
  auto lease = pool.checkout();
  EXPECT_NE(lease->connection_id(), first);
  EXPECT_EQ(pool.stats().recycled, 1u);
  EXPECT_EQ(server_connections(db), 1);  // the old one was closed
}

TEST(MysqlPoolTest, DeadIdleConnectionIsReplacedNotHandedOut) {
  test::TestDatabase db("pool_dead");
  test::FakeClock clock;
  auto o = pool_options(1, 0, 5s);
  o.pre_ping = 10s;
  SessionPool pool(o, [&] { return Session::connect(test::driver(), db.options()); }, clock);
  std::uint64_t first = 0;
  {
    auto lease = pool.checkout();
    first = lease->connection_id();
  }
  db.execute("KILL " + std::to_string(first));
  clock.advance(11s);
  auto lease = pool.checkout();
  EXPECT_NE(lease->connection_id(), first);
  EXPECT_EQ(lease->query("SELECT 1").at(0).at(0).value_or(""), "1");
}

TEST(MysqlPoolTest, BrokenConnectionFromAStoreCallIsDiscarded) {
  test::TestDatabase db("pool_broken");
  SystemClock clock;
  SessionPool pool(pool_options(1, 0, 5s), [&] { return Session::connect(test::driver(), db.options()); }, clock);
  std::uint64_t first = 0;
  {
    auto lease = pool.checkout();
    first = lease->connection_id();
  }
  db.execute("KILL " + std::to_string(first));
  // Not idle long enough to be pinged: the store meets the dead connection.
  MysqlMessageStore store(pool);
  NewMessage m;
  m.mid = "mid-broken-1";
  m.account_id = "1";
  m.sender_id = "2";
  m.recipient_id = "1";
  m.text = "hello";
  m.timestamp_ms = 1768396566941;
  const auto r1 = store.store(m);
  EXPECT_EQ(r1.status, StoreStatus::kRetryable) << r1.error;
  EXPECT_EQ(pool.stats().open, 0);  // discarded, not returned
  const auto r2 = store.store(m);
  EXPECT_EQ(r2.status, StoreStatus::kInserted) << r2.error;
}

}  // namespace
}  // namespace hm::mysql
