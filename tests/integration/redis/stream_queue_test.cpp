// RedisStreamQueue and StreamAdmin against the stack's real Redis.
#include "redis/stream_admin.h"
#include "redis/stream_queue.h"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "support/fakes.h"
#include "support/process.h"
#include "support/test_db.h"

namespace hm::redis {
namespace {

using namespace std::chrono_literals;

// Records the kinds passed to Telemetry::redis_error.
class RedisErrorKinds final : public Telemetry {
 public:
  void redis_error(const std::string& kind) override {
    std::lock_guard<std::mutex> lock(mutex_);
    kinds_.push_back(kind);
  }
  void breaker(const std::string& dependency, bool open) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (dependency == "redis") breaker_states_.push_back(open);
  }
  std::vector<bool> breaker_states() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return breaker_states_;
  }
  bool saw(const std::string& kind) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::find(kinds_.begin(), kinds_.end(), kind) != kinds_.end();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> kinds_;
  std::vector<bool> breaker_states_;
};

// Calls read() for about `d` (the length of an outage); returns what it read.
std::vector<QueueEntry> read_for(RedisStreamQueue& q, std::chrono::milliseconds d) {
  std::vector<QueueEntry> got;
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until)
    for (auto& e : q.read(10)) got.push_back(std::move(e));
  return got;
}

std::vector<std::string> ids_of(const std::vector<QueueEntry>& entries) {
  std::vector<std::string> ids;
  for (const auto& e : entries) ids.push_back(e.id);
  return ids;
}

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
    o.batch_linger = 0ms;
    o.visibility_timeout = visibility;
    return o;
  }
  void enqueue(int n, const std::string& prefix = "m") {
    for (int i = 0; i < n; ++i) admin_->enqueue_one(test::text_delivery(prefix + std::to_string(i), "t"), 1);
  }
  // Reads until n entries came (or 10 s passed).
  std::vector<QueueEntry> read_until(RedisStreamQueue& q, std::size_t n) {
    std::vector<QueueEntry> got;
    test::eventually(
        [&] {
          for (auto& e : q.read(10)) got.push_back(std::move(e));
          return got.size() >= n;
        },
        10s);
    return got;
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

// The linger waits for a batch, not for a read: with one message a
// transaction (per_transaction 1) a lone entry is handed over at once, however
// many a read may take; a batch of 3 waits for its third entry.
TEST_F(StreamQueueTest, TheLingerWaitsForABatchNotForAWholeRead) {
  auto o = options("c1");
  o.batch_linger = 10s;
  o.per_transaction = 1;
  enqueue(1);
  RedisStreamQueue q(o, stop_);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(q.read(50).size(), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);  // not the 10 s linger

  o.consumer = "c2";
  o.batch_linger = 5s;  // ends as soon as the batch is full
  o.per_transaction = 3;
  RedisStreamQueue batched(o, stop_);
  enqueue(1, "a");
  std::thread later([&] {
    std::this_thread::sleep_for(50ms);
    enqueue(2, "b");
  });
  const auto lingered = std::chrono::steady_clock::now();
  const auto got = batched.read(50);
  later.join();
  EXPECT_EQ(got.size(), 3u);  // lingered for the batch's other two
  // ...and no longer: a full batch ends the linger (before, it waited out the
  // 5 s for a whole read of 50).
  EXPECT_LT(std::chrono::steady_clock::now() - lingered, 2500ms);
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

// An entry that waits (an enrich job whose account's token was refused) is
// kept uncounted: it comes back after the visibility timeout again and again
// with the same delivery count, so it never reaches QUEUE_MAX_DELIVERIES; an
// entry left the ordinary way counts each delivery.
TEST_F(StreamQueueTest, AnEntryKeptUncountedComesBackWithoutItsDeliveriesGrowing) {
  enqueue(2);
  RedisStreamQueue q(options("c1", 300ms), stop_);
  auto first = q.read(10);
  ASSERT_EQ(first.size(), 2u);
  const std::string waiting = first[0].id, counted = first[1].id;
  for (int round = 0; round < 3; ++round) {
    std::vector<QueueEntry> keep;
    for (const auto& e : first)
      if (e.id == waiting) keep.push_back(e);
    ASSERT_TRUE(q.keep_uncounted(keep).ok());
    const auto again = read_until(q, 2);
    ASSERT_EQ(again.size(), 2u) << "round " << round;
    for (const auto& e : again) EXPECT_EQ(e.deliveries, e.id == waiting ? 1 : round + 2) << "round " << round;
    first = again;
  }
  EXPECT_EQ(admin_->pending(), 2);
  EXPECT_TRUE(q.ack({waiting, counted}).ok());
}

TEST_F(StreamQueueTest, DeadLetterIsWrittenThenAcknowledged) {
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

TEST_F(StreamQueueTest, ADeadLetterRetriedAfterItWasWrittenIsNotWrittenTwice) {
  // A reply lost after the dead letter was written (or a worker killed right
  // after it) makes the caller try again: one copy only.
  enqueue(1);
  RedisStreamQueue q(options("c1"), stop_);
  auto batch = q.read(10);
  ASSERT_EQ(batch.size(), 1u);
  ASSERT_TRUE(q.dead_letter(batch[0], "bad payload: x", 3).ok());
  EXPECT_TRUE(q.dead_letter(batch[0], "bad payload: x", 3).ok());
  EXPECT_EQ(admin_->dead_length(), 1);
  EXPECT_EQ(admin_->pending(), 0);
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
  EXPECT_EQ(admin_->purge({}), 0u);  // no ids: nothing
  EXPECT_EQ(admin_->dead_length(), 1);
  EXPECT_EQ(admin_->purge_all(), 1u);
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

TEST_F(StreamQueueTest, StreamKeyDeletedUnderAReadLoopGetsItsGroupBackAndNewEntriesAreDelivered) {
  RedisErrorKinds telemetry;
  auto o = options("c1");
  o.block = 300ms;
  RedisStreamQueue q(o, stop_, telemetry);
  enqueue(2);
  ASSERT_EQ(q.read(10).size(), 2u);
  std::thread deleter([&] {
    std::this_thread::sleep_for(100ms);  // most likely while the read below blocks
    Connection::connect(redis_)->command({"DEL", names_.stream});
  });
  read_for(q, 600ms);
  deleter.join();
  EXPECT_GE(q.errors(), 1);
  EXPECT_TRUE(telemetry.saw("NOGROUP") || telemetry.saw("UNBLOCKED"));
  enqueue(3, "after");
  const auto got = read_until(q, 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_NE(got[0].payload.find("\"after0\""), std::string::npos);
  EXPECT_TRUE(q.ack(ids_of(got)).ok());
  EXPECT_EQ(admin_->pending(), 0);
}

TEST_F(StreamQueueTest, ErrorRepliesDuringAnOutageBackOffInsteadOfSpinning) {
  RedisErrorKinds telemetry;
  RedisStreamQueue q(options("c1"), stop_, telemetry);
  enqueue(1);
  ASSERT_EQ(q.read(10).size(), 1u);
  // The key turned into something else: every read is answered WRONGTYPE,
  // and the group cannot be recreated, for as long as it lasts.
  admin_->connection().command({"DEL", names_.stream});
  admin_->connection().command({"SET", names_.stream, "not a stream"});
  const long long reads_before = q.reads();
  EXPECT_TRUE(read_for(q, 1000ms).empty());
  const long long reads = q.reads() - reads_before;
  EXPECT_GE(reads, 1);
  EXPECT_LE(reads, 20) << "a spin sends thousands";
  EXPECT_TRUE(telemetry.saw("WRONGTYPE"));
  admin_->connection().command({"DEL", names_.stream});
  enqueue(1, "back");
  const auto got = read_until(q, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(got[0].payload.find("\"back0\""), std::string::npos);
}

// Makes the stack's Redis a replica of a dead primary while it lives: writes
// (XREADGROUP, XGROUP CREATE, XADD) are answered READONLY.
class DemotedRedis {
 public:
  explicit DemotedRedis(const RedisOptions& o) : conn_(Connection::connect(o)) {
    conn_->command({"REPLICAOF", "127.0.0.1", "1"});
  }
  ~DemotedRedis() {
    try {
      conn_->command({"REPLICAOF", "NO", "ONE"});
    } catch (...) {
    }
  }
  DemotedRedis(const DemotedRedis&) = delete;
  DemotedRedis& operator=(const DemotedRedis&) = delete;

 private:
  std::unique_ptr<Connection> conn_;
};

TEST_F(StreamQueueTest, ReadOnlyReplicaMeansReconnectWithBackoffUntilAPrimaryAnswers) {
  RedisErrorKinds telemetry;
  RedisStreamQueue q(options("c1"), stop_, telemetry);
  enqueue(1);
  ASSERT_EQ(q.read(10).size(), 1u);
  const long long reconnects_before = q.reconnects();
  const long long reads_before = q.reads();
  {
    DemotedRedis demoted(redis_);
    EXPECT_TRUE(read_for(q, 1000ms).empty());
  }
  EXPECT_TRUE(telemetry.saw("READONLY"));
  EXPECT_LE(q.reads() - reads_before, 20);
  EXPECT_EQ(telemetry.breaker_states(), std::vector<bool>{true});  // open once, not per error
  enqueue(1, "promoted");
  const auto got = read_until(q, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(telemetry.breaker_states(), (std::vector<bool>{true, false}));
  EXPECT_GT(q.reconnects(), reconnects_before);  // READONLY dropped the connection
}

TEST_F(StreamQueueTest, AckAcknowledgesNothingWhenAJobCannotBePublished) {
  names_.prefix = names_.stream + ":jobs:";
  const std::string job_stream = names_.prefix + "enrich";
  RedisStreamQueue q(options("c1"), stop_);
  enqueue(1);
  const auto batch = q.read(10);
  ASSERT_EQ(batch.size(), 1u);
  admin_->connection().command({"SET", job_stream, "not a stream"});
  const Status failed = q.ack({batch[0].id}, {{Role::kEnrich, "{\"job\":1}"}});
  EXPECT_TRUE(failed.retryable()) << failed.message;
  EXPECT_EQ(admin_->pending(), 1);  // the entry comes back; its job is not lost
  admin_->connection().command({"DEL", job_stream});
  EXPECT_TRUE(q.ack({batch[0].id}, {{Role::kEnrich, "{\"job\":1}"}}).ok());
  EXPECT_EQ(admin_->pending(), 0);
  EXPECT_EQ(admin_->connection().command({"XLEN", job_stream}).view().integer(), 1);
  admin_->connection().command({"DEL", job_stream});
}

TEST_F(StreamQueueTest, DeadLetterStaysPendingWhenTheDeadLetterCannotBeWritten) {
  RedisStreamQueue q(options("c1"), stop_);
  enqueue(1);
  const auto batch = q.read(10);
  ASSERT_EQ(batch.size(), 1u);
  admin_->connection().command({"SET", names_.dead_stream, "not a stream"});
  EXPECT_TRUE(q.dead_letter(batch[0], "bad payload: x", 1).retryable());
  EXPECT_EQ(admin_->pending(), 1);
  admin_->connection().command({"DEL", names_.dead_stream});
  EXPECT_TRUE(q.dead_letter(batch[0], "bad payload: x", 1).ok());
  EXPECT_EQ(admin_->pending(), 0);
  EXPECT_EQ(admin_->dead_length(), 1);
}

TEST_F(StreamQueueTest, ReplayKeepsTheDeadLettersItCouldNotReplay) {
  RedisStreamQueue q(options("c1"), stop_);
  enqueue(2);
  const auto batch = q.read(10);
  ASSERT_EQ(batch.size(), 2u);
  ASSERT_TRUE(q.dead_letter(batch[0], "r1", 1).ok());
  ASSERT_TRUE(q.dead_letter(batch[1], "r2", 1).ok());
  admin_->connection().command({"DEL", names_.stream});
  admin_->connection().command({"SET", names_.stream, "not a stream"});
  EXPECT_THROW(admin_->replay({}, 100), RedisError);
  EXPECT_EQ(admin_->dead_length(), 2);  // not deleted: the XADD failed
  admin_->connection().command({"DEL", names_.stream});
  EXPECT_EQ(admin_->replay({}, 100), 2u);
  EXPECT_EQ(admin_->dead_length(), 0);
  EXPECT_EQ(admin_->length(), 2);
}

TEST_F(StreamQueueTest, DeliveryCountsAreExactWhateverIsPendingBetweenTheBatchIds) {
  // A and B pending with a dead consumer, idle for long; between them, 100
  // entries pending with the live consumer (more than 4n+16 for a batch of 2).
  Connection& c = admin_->connection();
  auto read_as = [&](const std::string& consumer, int count) {
    c.command({"XREADGROUP", "GROUP", names_.group, consumer, "COUNT", std::to_string(count), "STREAMS",
               names_.stream, ">"});
  };
  const std::string a = admin_->enqueue_one("a", 1);
  read_as("dead-0", 1);
  enqueue(100);
  read_as("alive-0", 100);
  const std::string b = admin_->enqueue_one("b", 1);
  read_as("dead-0", 1);
  c.command({"XCLAIM", names_.stream, names_.group, "dead-0", "0", a, b, "IDLE", "1000000", "JUSTID"});
  RedisStreamQueue alive(options("alive-0", 60s), stop_);
  ASSERT_EQ(alive.read(100).size(), 100u);  // its own pending entries first
  const auto reclaimed = alive.read(20);    // then A and B, reclaimed
  ASSERT_EQ(reclaimed.size(), 2u);
  EXPECT_EQ(reclaimed[0].id, a);
  EXPECT_EQ(reclaimed[1].id, b);
  EXPECT_EQ(reclaimed[0].deliveries, 2);
  EXPECT_EQ(reclaimed[1].deliveries, 2);
}

}  // namespace
}  // namespace hm::redis
