// RedisStreamQueue and StreamAdmin against the stack's real Redis.
#include "redis/stream_admin.h"
#include "redis/stream_queue.h"

#include <gtest/gtest.h>

#include <thread>

#include "support/fakes.h"
#include "support/process.h"
#include "support/test_db.h"

namespace hm::redis {
namespace {

using namespace std::chrono_literals;

class StreamQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    names_ = {"hm:test:" + std::string(info->name()) + ":" + std::to_string(::getpid()), "hm-worker", ""};
    names_.dead_stream = names_.stream + ":dead";
    redis_ = parse_redis_url(test::stack_redis_url());
    admin_ = std::make_unique<StreamAdmin>(redis_, names_);
  }
  void TearDown() override {
    try {
      admin_ = std::make_unique<StreamAdmin>(redis_, names_);
      admin_->connection().command({"DEL", names_.stream, names_.dead_stream});
    } catch (...) {
    }
  }
  StreamQueueOptions options(const std::string& consumer, std::chrono::milliseconds visibility = 60s) {
    StreamQueueOptions o;
    o.redis = redis_;
    o.names = names_;
    o.consumer = consumer;
    o.block = 100ms;
    o.linger = 0ms;
    o.visibility_timeout = visibility;
    return o;
  }
  void enqueue(int n, const std::string& prefix = "m") {
    for (int i = 0; i < n; ++i) admin_->enqueue_one(test::text_delivery(prefix + std::to_string(i), "t"), 1);
  }
  StreamNames names_;
  RedisOptions redis_;
  std::unique_ptr<StreamAdmin> admin_;
  StopSignal stop_;
};

TEST_F(StreamQueueTest, ReadAckAndPending) {
  enqueue(5);
  RedisStreamQueue q(options("c1"), stop_);
  auto batch = q.read(10);
  ASSERT_EQ(batch.size(), 5u);
  EXPECT_EQ(batch[0].deliveries, 1);
  EXPECT_EQ(batch[0].enqueued_ms, 1);
  EXPECT_NE(batch[0].payload.find("\"m0\""), std::string::npos);
  EXPECT_EQ(admin_->pending(), 5);
  EXPECT_EQ(admin_->lag(), 0);
  std::vector<std::string> ids;
  for (const auto& e : batch) ids.push_back(e.id);
  EXPECT_TRUE(q.ack(ids).ok());
  EXPECT_EQ(admin_->pending(), 0);
  EXPECT_TRUE(q.read(10).empty());  // blocks 100 ms, nothing new
}

TEST_F(StreamQueueTest, EntriesEnqueuedBeforeTheGroupExistedAreRead) {
  admin_->connection().command({"DEL", names_.stream});
  admin_->connection().command({"XADD", names_.stream, "*", "payload", "early"});
  RedisStreamQueue q(options("c1"), stop_);
  const auto batch = q.read(10);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].payload, "early");
}

TEST_F(StreamQueueTest, OldestPendingAgeCountsFromTheEntryIdToRedisTime) {
  EXPECT_EQ(admin_->oldest_pending_age_ms(), 0);  // nothing pending
  // An entry with an id from 1000 ms after the epoch: its age is about "now".
  admin_->connection().command({"XADD", names_.stream, "1000-0", "payload", test::text_delivery("old", "t"),
                                "enqueued_at", "1"});
  admin_->enqueue_one(test::text_delivery("new", "t"), 1);
  EXPECT_EQ(admin_->oldest_pending_age_ms(), 0);  // not delivered yet: not pending either
  RedisStreamQueue q(options("c1"), stop_);
  auto batch = q.read(10);
  ASSERT_EQ(batch.size(), 2u);
  Reply time = admin_->connection().command({"TIME"});
  const long long redis_now_ms = std::stoll(time.view().at(0).str()) * 1000;
  const long long age = admin_->oldest_pending_age_ms();
  EXPECT_GE(age, redis_now_ms - 1000 - 1000);
  EXPECT_LE(age, redis_now_ms + 1000);
  EXPECT_TRUE(q.ack({batch[0].id}).ok());  // the old one
  EXPECT_LT(admin_->oldest_pending_age_ms(), 60000);  // the new one, enqueued moments ago
  EXPECT_TRUE(q.ack({batch[1].id}).ok());
  EXPECT_EQ(admin_->oldest_pending_age_ms(), 0);
}

TEST_F(StreamQueueTest, ConsumerTakesBackItsOwnPendingEntriesAfterARestart) {
  enqueue(3);
  {
    RedisStreamQueue crashed(options("pod-a-0"), stop_);
    ASSERT_EQ(crashed.read(10).size(), 3u);  // read, never acknowledged
  }
  enqueue(2, "n");
  RedisStreamQueue again(options("pod-a-0"), stop_);
  const auto first = again.read(10);
  ASSERT_EQ(first.size(), 3u);  // its own pending ones come first
  EXPECT_EQ(first[0].deliveries, 2);
  const auto second = again.read(10);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[0].deliveries, 1);
}

TEST_F(StreamQueueTest, IdleEntriesOfADeadConsumerAreReclaimed) {
  enqueue(4);
  RedisStreamQueue dead(options("dead-0", 300ms), stop_);
  ASSERT_EQ(dead.read(10).size(), 4u);
  RedisStreamQueue alive(options("alive-0", 300ms), stop_);
  std::vector<QueueEntry> got;
  ASSERT_TRUE(test::eventually(
      [&] {
        for (auto& e : alive.read(10)) got.push_back(e);
        return got.size() >= 4;
      },
      5s));
  EXPECT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].deliveries, 2);
}

TEST_F(StreamQueueTest, DeadLetterMovesAndAcknowledgesAtomically) {
  enqueue(1);
  RedisStreamQueue q(options("c1"), stop_);
  auto batch = q.read(10);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_TRUE(q.dead_letter(batch[0], "bad payload: delivery.entry: is empty", 3).ok());
  EXPECT_EQ(admin_->pending(), 0);
  const auto dead = admin_->dead_letters(10);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].reason, "bad payload: delivery.entry: is empty");
  EXPECT_EQ(dead[0].attempts, "3");
  EXPECT_EQ(dead[0].entry_id, batch[0].id);
  EXPECT_EQ(dead[0].payload, batch[0].payload);
  EXPECT_FALSE(dead[0].time_ms.empty());
}

TEST_F(StreamQueueTest, ReplayAndPurgeDeadLetters) {
  enqueue(2);
  RedisStreamQueue q(options("c1"), stop_);
  auto batch = q.read(10);
  ASSERT_EQ(batch.size(), 2u);
  q.dead_letter(batch[0], "r1", 1);
  q.dead_letter(batch[1], "r2", 1);
  const auto dead = admin_->dead_letters(10);
  EXPECT_EQ(admin_->replay({dead[0].id}, 100), 1u);
  EXPECT_EQ(admin_->dead_length(), 1);
  const auto again = q.read(10);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].payload, batch[0].payload);
  EXPECT_EQ(admin_->purge({}), 1u);
  EXPECT_EQ(admin_->dead_length(), 0);
}

TEST_F(StreamQueueTest, EntryWithoutPayloadIsFlagged) {
  admin_->connection().command({"XADD", names_.stream, "*", "body", "x"});
  RedisStreamQueue q(options("c1"), stop_);
  const auto batch = q.read(10);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_NE(batch[0].problem.find("no payload field"), std::string::npos);
}

TEST_F(StreamQueueTest, PendingEntryDeletedFromTheStreamIsAcknowledgedAndSkipped) {
  enqueue(2);
  {
    RedisStreamQueue crashed(options("c1"), stop_);
    ASSERT_EQ(crashed.read(10).size(), 2u);
  }
  const auto all = admin_->connection().command({"XRANGE", names_.stream, "-", "+"});
  admin_->connection().command({"XDEL", names_.stream, all.view().at(0).at(0).str()});
  RedisStreamQueue q(options("c1"), stop_);
  const auto batch = q.read(10);
  ASSERT_EQ(batch.size(), 1u);
  q.ack({batch[0].id});
  EXPECT_EQ(admin_->pending(), 0);
}

TEST_F(StreamQueueTest, ReconnectsAfterRedisRestartsAndLosesNothing) {
  enqueue(3);
  RedisStreamQueue q(options("c1"), stop_);
  auto first = q.read(1);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(q.ack({first[0].id}).ok());
  const auto r = test::run_command(test::source_dir() + "/scripts/stack restart redis");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<QueueEntry> rest;
  ASSERT_TRUE(test::eventually(
      [&] {
        for (auto& e : q.read(10)) rest.push_back(e);
        return rest.size() >= 2;
      },
      20s));
  EXPECT_EQ(rest.size(), 2u);  // append-only file: nothing enqueued was lost
  EXPECT_GE(q.reconnects(), 2);
  std::vector<std::string> ids;
  for (const auto& e : rest) ids.push_back(e.id);
  EXPECT_TRUE(q.ack(ids).ok());
  admin_ = std::make_unique<StreamAdmin>(redis_, names_);
  EXPECT_EQ(admin_->pending(), 0);
}

TEST_F(StreamQueueTest, StopEndsTheReconnectWait) {
  RedisOptions nowhere = redis_;
  nowhere.port = 1;
  auto o = options("c1");
  o.redis = nowhere;
  StopSignal stop;
  RedisStreamQueue q(o, stop);
  std::thread stopper([&] {
    std::this_thread::sleep_for(300ms);
    stop.request();
  });
  EXPECT_TRUE(q.read(10).empty());  // returns once stopped instead of retrying forever
  stopper.join();
}

}  // namespace
}  // namespace hm::redis
