// Concurrent multi-row batches against a real MariaDB: the store sorts the
// mids of a batch, so every transaction takes its unique-key locks in the
// same order and none waits in a cycle (no deadlock, MySQL error 1213).
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <atomic>
#include <barrier>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "mysql/message_store.h"
#include "support/fakes.h"
#include "support/test_db.h"

namespace hm::mysql {
namespace {

using namespace std::chrono_literals;

NewMessage message(const std::string& mid) {
  NewMessage m;
  m.mid = mid;
  m.account_id = "17841405309211844";
  m.sender_id = "1284930675412097";
  m.recipient_id = "17841405309211844";
  m.text = "text of " + mid;
  m.timestamp_ms = 1768396566941;
  return m;
}

// The server's deadlock counter (all databases; the stack runs one test at a time).
long long server_deadlocks(test::TestDatabase& db) {
  const auto rows = db.query("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'");
  return rows.empty() ? -1 : std::stoll(rows.at(0).at(1).value_or("-1"));
}

// Each round, every thread stores an overlapping random subset of the same
// new mids, shuffled, as one multi-row batch, all starting together; retryable
// results are retried and counted by error code.
TEST(BatchLocksTest, ConcurrentBatchesOfOverlappingMidsInDifferentOrdersNeverDeadlock) {
  test::TestDatabase db("batch_locks");
  SystemClock clock;
  PoolOptions po;
  constexpr int kThreads = 6;
  po.size = kThreads;
  po.timeout = 30s;
  const DbOptions opts = db.options();
  SessionPool pool(po, [opts] { return Session::connect(test::driver(), opts); }, clock);
  MysqlMessageStore store(pool);
  constexpr int kRounds = 30;
  constexpr int kMidsPerRound = 40;
  constexpr int kPerBatch = 30;
  const long long deadlocks_before = server_deadlocks(db);
  ASSERT_GE(deadlocks_before, 0);

  std::mutex mutex;
  std::map<int, int> retries_by_code;  // guarded by mutex
  std::map<std::string, int> inserts;  // guarded by mutex: kInserted results per mid
  std::atomic<int> gave_up{0};
  std::barrier start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Driver::ThreadScope scope(test::driver());
      std::mt19937 rng(1000 + t);
      for (int round = 0; round < kRounds; ++round) {
        std::vector<NewMessage> batch;
        for (int i = 0; i < kMidsPerRound; ++i)
          batch.push_back(message("lock-" + std::to_string(round) + "-" + std::to_string(i)));
        std::shuffle(batch.begin(), batch.end(), rng);
        batch.resize(kPerBatch);
        start.arrive_and_wait();
        std::vector<StoreResult> rs;
        for (int attempt = 0; attempt < 20; ++attempt) {
          rs = store.store_messages(batch, 0);
          const auto failed = std::find_if(rs.begin(), rs.end(), [](const StoreResult& r) { return !r.ok(); });
          if (failed == rs.end()) break;
          std::lock_guard<std::mutex> lock(mutex);
          ++retries_by_code[failed->error_code];
        }
        std::lock_guard<std::mutex> lock(mutex);
        for (std::size_t i = 0; i < rs.size(); ++i) {
          if (rs[i].status == StoreStatus::kInserted) ++inserts[batch[i].mid];
          if (!rs[i].ok()) ++gave_up;
        }
      }
    });
  }
  for (auto& th : threads) th.join();

  EXPECT_EQ(retries_by_code[1213], 0) << "deadlocks met by the batches";
  EXPECT_EQ(server_deadlocks(db) - deadlocks_before, 0) << "Innodb_deadlocks moved";
  for (const auto& [code, n] : retries_by_code) {
    if (n > 0) std::cout << "retried " << n << " batches on error " << code << "\n";  // waits are not deadlocks
  }
  EXPECT_EQ(gave_up.load(), 0);
  // Every mid stored was inserted by exactly one batch, with its own text.
  std::set<std::string> stored;
  for (const auto& row : db.query("SELECT ig_message_id, text FROM message")) {
    const std::string mid = row.at(0).value_or("");
    stored.insert(mid);
    EXPECT_EQ(row.at(1).value_or(""), "text of " + mid);
    EXPECT_EQ(inserts[mid], 1) << mid;
  }
  EXPECT_EQ(stored.size(), inserts.size());
  EXPECT_GE(stored.size(), static_cast<std::size_t>(kRounds * kPerBatch));
}

}  // namespace
}  // namespace hm::mysql
