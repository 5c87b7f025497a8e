// Retention (redis/stream_retention.h) and the capped publishing of jobs
// (redis/stream_queue.h) against the stack's real Redis.
#include "redis/stream_retention.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>

#include "redis/stream_admin.h"
#include "redis/stream_queue.h"
#include "support/process.h"
#include "support/test_db.h"

namespace hm::redis {
namespace {

using namespace std::chrono_literals;

class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    key_ = "hm:test:retention:" + std::string(info->name()) + ":" + std::to_string(::getpid());
    redis_ = parse_redis_url(test::stack_redis_url());
    c_ = Connection::connect(redis_);
  }
  void TearDown() override {
    for (const char* s : {"", ":enrich", ":media", ":reply", ":dead", ":lease"}) c_->command({"DEL", key_ + s});
  }
  std::vector<std::string> add(int n, const std::string& stream) {
    std::vector<std::vector<std::string>> tx;
    for (int i = 0; i < n; ++i) tx.push_back({"XADD", stream, "*", "payload", std::to_string(i)});
    std::vector<std::string> ids;
    for (const auto& r : c_->pipeline(tx)) ids.push_back(r.view().str());
    return ids;
  }
  // XREADGROUP of up to n new entries by `consumer`; their ids.
  std::vector<std::string> read(const std::string& group, const std::string& consumer, int n) {
    Reply r = c_->command({"XREADGROUP", "GROUP", group, consumer, "COUNT", std::to_string(n), "STREAMS", key_, ">"});
    std::vector<std::string> ids;
    if (r.view().is_nil()) return ids;
    const ReplyView entries = r.view().at(0).at(1);
    for (std::size_t i = 0; i < entries.size(); ++i) ids.push_back(entries.at(i).at(0).str());
    return ids;
  }
  void ack(const std::string& group, const std::vector<std::string>& ids) {
    std::vector<std::string> argv = {"XACK", key_, group};
    argv.insert(argv.end(), ids.begin(), ids.end());
    c_->command(argv);
  }
  long long length(const std::string& stream) { return c_->command({"XLEN", stream}).view().integer(); }
  bool exists(const std::string& stream, const std::string& id) {
    return c_->command({"XRANGE", stream, id, id}).view().size() == 1;
  }
  std::string first_id(const std::string& stream) {
    Reply r = c_->command({"XRANGE", stream, "-", "+", "COUNT", "1"});
    return r.view().size() ? r.view().at(0).at(0).str() : "";
  }

  std::string key_;
  RedisOptions redis_;
  std::unique_ptr<Connection> c_;
};

// Entries pending with one group, or not yet delivered to another (its lag),
// stay; what every group acknowledged goes.
TEST_F(RetentionTest, TrimKeepsPendingAndUndeliveredEntriesAndRemovesAcknowledgedOnes) {
  const auto ids = add(10, key_);
  c_->command({"XGROUP", "CREATE", key_, "a", "0"});
  c_->command({"XGROUP", "CREATE", key_, "b", "0"});
  // a: everything delivered, all acknowledged but the 5th entry.
  auto a = read("a", "a1", 10);
  ASSERT_EQ(a.size(), 10u);
  a.erase(a.begin() + 4);
  ack("a", a);
  // b: the first 7 delivered and acknowledged; 3 never delivered.
  ack("b", read("b", "b1", 7));

  EXPECT_EQ(trim_acknowledged(*c_, key_), 4);  // ids[0..3]: acknowledged by a and by b
  EXPECT_EQ(first_id(key_), ids[4]);           // pending with a
  EXPECT_EQ(length(key_), 6);
  EXPECT_EQ(trim_acknowledged(*c_, key_), 0);  // nothing more until a acknowledges

  ack("a", {ids[4]});
  EXPECT_EQ(trim_acknowledged(*c_, key_), 2);  // ids[4], ids[5]; b's last delivered, ids[6], stays
  EXPECT_EQ(first_id(key_), ids[6]);
  for (int i = 7; i < 10; ++i) EXPECT_TRUE(exists(key_, ids[i])) << "undelivered to b: " << i;

  // A group created now, from the start, holds everything back.
  c_->command({"XGROUP", "CREATE", key_, "late", "0"});
  EXPECT_EQ(trim_acknowledged(*c_, key_), 0);
  EXPECT_EQ(length(key_), 4);
}

TEST_F(RetentionTest, AStreamWithoutGroupsOrWithoutTheKeyIsLeftAlone) {
  add(5, key_);
  EXPECT_EQ(trim_acknowledged(*c_, key_), 0);
  EXPECT_EQ(length(key_), 5);
  EXPECT_EQ(trim_acknowledged(*c_, key_ + ":missing"), 0);
}

// Two trimmers at once, while a consumer reads and acknowledges all but every
// 7th entry: no pending entry and no undelivered entry is ever removed.
TEST_F(RetentionTest, TwoTrimmersAtOnceNeverRemoveAPendingOrUndeliveredEntry) {
  const auto ids = add(1000, key_);
  c_->command({"XGROUP", "CREATE", key_, "g", "0"});
  std::atomic<bool> done{false};
  std::atomic<long long> trimmed{0};
  auto trimmer = [&] {
    auto c = Connection::connect(redis_);
    while (!done) {
      trimmed += trim_acknowledged(*c, key_);
      std::this_thread::sleep_for(1ms);
    }
  };
  std::thread t1(trimmer), t2(trimmer);
  std::vector<std::string> kept_pending;  // in stream order (ids do not sort as strings)
  std::size_t n = 0;  // entries read so far
  for (;;) {
    auto batch = read("g", "c1", 50);
    if (batch.empty()) break;
    std::vector<std::string> acked;
    for (const auto& id : batch) {
      if (n >= 200 && n % 7 == 0) {
        kept_pending.push_back(id);
      } else {
        acked.push_back(id);
      }
      ++n;
    }
    ack("g", acked);
  }
  ASSERT_EQ(n, 1000u);
  done = true;
  t1.join();
  t2.join();
  for (const auto& id : kept_pending) ASSERT_TRUE(exists(key_, id)) << "pending entry " << id << " was trimmed";
  trimmed += trim_acknowledged(*c_, key_);
  // Everything before the oldest pending entry is gone, nothing after it.
  EXPECT_EQ(first_id(key_), kept_pending.front());
  const auto oldest = std::find(ids.begin(), ids.end(), kept_pending.front());
  EXPECT_EQ(trimmed, oldest - ids.begin());
  EXPECT_EQ(length(key_), ids.end() - oldest);
}

TEST_F(RetentionTest, LeaseIsHeldByOneHolderAndOnlyItsHolderGivesItBack) {
  RedisLease first(key_ + ":lease", "one"), second(key_ + ":lease", "two");
  EXPECT_TRUE(first.acquire(*c_, 10s));
  EXPECT_FALSE(second.acquire(*c_, 10s));
  EXPECT_FALSE(second.release(*c_));  // not its lease: left alone
  EXPECT_EQ(c_->command({"GET", key_ + ":lease"}).view().str(), "one");
  EXPECT_TRUE(first.release(*c_));
  EXPECT_TRUE(second.acquire(*c_, 10s));
}

// Two processes' retention at the same moment: one runs, the other sees the lease.
TEST_F(RetentionTest, OnlyOneOfTwoRetentionRunsAtOnceDoesTheWork) {
  add(20, key_);
  c_->command({"XGROUP", "CREATE", key_, "g", "0"});
  ack("g", read("g", "c", 20));
  RetentionOptions o;
  o.redis = redis_;
  o.streams = {key_};
  o.dead_streams = {key_ + ":dead"};
  o.lease_key = key_ + ":lease";
  o.retention_interval = 30s;
  o.lease_token = lease_token("a");
  StreamRetention a(o);
  o.lease_token = lease_token("b");
  StreamRetention b(o);
  StreamRetention::Outcome ra, rb;
  std::thread ta([&] { ra = a.run_once(); }), tb([&] { rb = b.run_once(); });
  ta.join();
  tb.join();
  EXPECT_NE(ra.ran, rb.ran);
  const auto& ran = ra.ran ? ra : rb;
  EXPECT_EQ(ran.trimmed.at(key_), 19);  // the last delivered entry is kept
  EXPECT_FALSE(a.run_once().ran);       // the lease lasts the period

  // Redis unreachable: logged, nothing thrown (the periodic thread goes on).
  o.redis = parse_redis_url("redis://127.0.0.1:1/0");
  StreamRetention unreachable(o);
  EXPECT_FALSE(unreachable.run_once().ran);
}

TEST_F(RetentionTest, DeadLettersAreCappedByAgeAndByCount) {
  const std::string dead = key_ + ":dead";
  for (int i = 1; i <= 3; ++i) c_->command({"XADD", dead, std::to_string(i) + "-0", "payload", "very old"});
  add(5, dead);
  EXPECT_EQ(trim_dead_letters(*c_, dead, 0, std::chrono::hours(1)), 3);
  EXPECT_EQ(length(dead), 5);
  EXPECT_EQ(trim_dead_letters(*c_, dead, 2, std::chrono::hours(1)), 3);
  EXPECT_EQ(length(dead), 2);
  EXPECT_EQ(trim_dead_letters(*c_, dead, 0, 0ms), 0);  // no limits
}

TEST_F(RetentionTest, IdleConsumersWithNothingPendingAreDeletedOthersAreKept) {
  add(3, key_);
  c_->command({"XGROUP", "CREATE", key_, "g", "0"});
  ack("g", read("g", "gone-pod-0", 1));  // nothing pending
  read("g", "busy-pod-0", 1);            // one pending
  ack("g", read("g", "self-0", 1));      // nothing pending, but ours
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(delete_idle_consumers(*c_, key_, 10ms, {"self-0"}), 1);
  Reply r = c_->command({"XINFO", "CONSUMERS", key_, "g"});
  std::set<std::string> names;
  for (std::size_t i = 0; i < r.view().size(); ++i) names.insert(r.view().at(i).at(1).str());
  EXPECT_EQ(names, (std::set<std::string>{"busy-pod-0", "self-0"}));
  EXPECT_EQ(delete_idle_consumers(*c_, key_, 1h, {}), 0);  // not idle long enough
}

// Redis 7.0 does not reset a consumer's idle time on an empty read, so a live
// consumer of a quiet stream may be deleted: its next read recreates it.
TEST_F(RetentionTest, ALiveConsumerDeletedWhileIdleGetsTheNextEntries) {
  StopSignal stop;
  StreamQueueOptions o;
  o.redis = redis_;
  o.names = {key_, "hm-worker", key_ + ":dead", key_ + ":"};
  o.consumer = "live-0";
  o.block = 100ms;
  RedisStreamQueue q(o, stop);
  add(1, key_);
  auto first = q.read(10);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(q.ack({first[0].id}).ok());
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(delete_idle_consumers(*c_, key_, 10ms, {}), 1);
  add(2, key_);
  std::vector<QueueEntry> next;
  test::eventually(
      [&] {
        for (auto& e : q.read(10)) next.push_back(std::move(e));
        return next.size() >= 2;
      },
      5s);
  EXPECT_EQ(next.size(), 2u);
}

// Jobs for a role whose stream has a consumer group all arrive; a stream
// without a group keeps only about the newest `unconsumed_max_entries`, or
// gets none when that is 0.
TEST_F(RetentionTest, JobsToAStreamWithoutGroupAreCappedOthersAreNot) {
  const std::string dead = key_ + ":dead";
  c_->command({"XGROUP", "CREATE", key_ + ":enrich", "hm-worker", "0", "MKSTREAM"});
  StopSignal stop;
  StreamQueueOptions o;
  o.redis = redis_;
  o.names = {key_, "hm-worker", dead, key_ + ":"};
  o.consumer = "c";
  o.unconsumed_max_entries = 10;
  RedisStreamQueue q(o, stop);
  std::vector<OutboundJob> jobs;
  for (int i = 0; i < 1000; ++i) {
    jobs.push_back({Role::kEnrich, "e" + std::to_string(i)});
    jobs.push_back({Role::kMedia, "m" + std::to_string(i)});
  }
  ASSERT_TRUE(q.ack({}, jobs).ok());
  EXPECT_EQ(length(key_ + ":enrich"), 1000);
  const long long media = length(key_ + ":media");
  EXPECT_GE(media, 10);
  EXPECT_LE(media, 10 + 100);  // MAXLEN ~ removes whole nodes (stream-node-max-entries 100)

  o.unconsumed_max_entries = 0;
  RedisStreamQueue none(o, stop);
  ASSERT_TRUE(none.ack({}, {{Role::kReply, "r"}, {Role::kEnrich, "e"}}).ok());
  EXPECT_EQ(c_->command({"EXISTS", key_ + ":reply"}).view().integer(), 0);
  EXPECT_EQ(length(key_ + ":enrich"), 1001);
}

TEST_F(RetentionTest, DeadLetterStreamIsCappedAtEachWrite) {
  const std::string dead = key_ + ":dead";
  add(250, key_);
  StopSignal stop;
  StreamQueueOptions o;
  o.redis = redis_;
  o.names = {key_, "hm-worker", dead, key_ + ":"};
  o.consumer = "c";
  o.block = 100ms;
  o.dead_letter_max_entries = 50;
  RedisStreamQueue q(o, stop);
  int dead_lettered = 0;
  while (dead_lettered < 250) {
    const auto batch = q.read(100);
    ASSERT_FALSE(batch.empty());
    for (const auto& e : batch) {
      ASSERT_TRUE(q.dead_letter(e, "test", 1).ok());
      ++dead_lettered;
    }
  }
  EXPECT_LE(length(dead), 50 + 100);  // MAXLEN ~: whole nodes
  EXPECT_GE(length(dead), 50);
}

}  // namespace
}  // namespace hm::redis
