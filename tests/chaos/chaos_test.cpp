// Fault injection: tens of thousands of deliveries (redeliveries and bad ones
// mixed in) through several workers while they are SIGKILLed and restarted,
// MariaDB and Redis are restarted, a worker's database session is killed, and
// row locks are held past the lock wait timeout. When the stream is drained:
// every unique valid mid is stored exactly once with its text intact, every
// bad delivery is in the dead-letter stream with a reason, nothing is pending,
// and no pool went above its bound. ctest label `chaos`.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "redis/stream_admin.h"
#include "support/process.h"
#include "support/test_db.h"

namespace hm {
namespace {

using namespace std::chrono_literals;
using test::ChildProcess;

constexpr int kUnique = 20000;
constexpr int kRedeliveries = 6000;
constexpr int kBad = 300;
constexpr int kWorkers = 3;
constexpr int kPoolSize = 2;
constexpr int kPoolOverflow = 1;

std::string text_for(int i) {
  static const char* texts[] = {"Merhaba! Yarın akşam 19:30 için masa 🙏", "شكراً جزيلاً ❤️ الخدمة ممتازة",
                                "İade süreci nasıl işliyor? 😕", "Do you ship to Germany? 🇩🇪", "👍"};
  return std::string(texts[i % 5]) + " #" + std::to_string(i);
}

class Chaos {
 public:
  Chaos() : db_("chaos") {
    stream_ = "hm:chaos:" + std::to_string(::getpid());
    redis_ = redis::parse_redis_url(test::stack_redis_url());
    names_ = {stream_, "hm-worker", stream_ + ":dead", stream_ + ":"};
  }
  ~Chaos() {
    workers_.clear();
    try {
      for (const char* s : {"", ":dead", ":enrich", ":media", ":reply"}) admin().connection().command({"DEL", stream_ + s});
    } catch (...) {
    }
  }

  redis::StreamAdmin& admin() {
    for (int attempt = 0;; ++attempt) {
      try {
        if (!admin_) admin_ = std::make_unique<redis::StreamAdmin>(redis_, names_);
        admin_->connection().command({"PING"});
        return *admin_;
      } catch (const redis::RedisError&) {
        admin_.reset();
        if (attempt > 100) throw;
        std::this_thread::sleep_for(200ms);
      }
    }
  }

  ChildProcess* start(int index) {
    auto env = test::worker_env_map(db_.options());
    env["QUEUE_STREAM"] = stream_;
    env["QUEUE_STREAM_PREFIX"] = stream_ + ":";
    env["CONSUMER_NAME"] = "chaos-" + std::to_string(index);
    env["WORKER_CONCURRENCY"] = "2";
    env["DB_POOL_SIZE"] = std::to_string(kPoolSize);
    env["DB_MAX_OVERFLOW"] = std::to_string(kPoolOverflow);
    env["INGEST_BATCH_SIZE"] = "50";
    env["DB_LOCK_WAIT_TIMEOUT"] = "2";
    env["DB_QUERY_TIMEOUT"] = "5";
    env["DB_RETRY_ATTEMPTS"] = "50";
    env["DB_RETRY_MAX_MS"] = "1000";
    env["DB_RETRY_MAX_TOTAL_MS"] = "20000";
    env["QUEUE_VISIBILITY_TIMEOUT"] = "30";
    env["QUEUE_MAX_DELIVERIES"] = "1000";
    ports_[index] = test::free_port();
    env["METRICS_PORT"] = std::to_string(ports_[index]);
    env["METRICS_BIND"] = "127.0.0.1";
    env["LOG_LEVEL"] = "warn";
    workers_[index] = std::make_unique<ChildProcess>(HM_WORKER_BINARY, std::vector<std::string>{"run", "--role", "ingest"},
                                                     env, "chaos-" + std::to_string(index));
    return workers_[index].get();
  }

  // The pool's high-water mark, read from a live worker's metrics.
  void sample_pool_peak(int index) {
    const auto m = test::http_get(ports_[index], "/metrics");
    std::istringstream in(m.body);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("hm_worker_db_pool_peak_open{", 0) == 0)
        peak_open_ = std::max(peak_open_, std::stoi(line.substr(line.rfind(' ') + 1)));
    }
  }

  test::TestDatabase db_;
  std::string stream_;
  redis::RedisOptions redis_;
  redis::StreamNames names_;
  std::unique_ptr<redis::StreamAdmin> admin_;
  std::map<int, std::unique_ptr<ChildProcess>> workers_;
  std::map<int, int> ports_;  // each worker's METRICS_PORT, from the kernel
  int peak_open_ = 0;
};

TEST(ChaosTest, NothingLostNothingTwiceNothingAlteredUnderFaults) {
  Chaos c;
  std::mt19937 rng(20261126);
  std::map<std::string, std::string> valid;  // mid -> text
  std::vector<std::string> lines;
  for (int i = 0; i < kUnique; ++i) {
    const std::string mid = "aWdfChaos" + std::to_string(i) + (i % 2 ? "xY" : "Xy");
    valid[mid] = text_for(i);
    lines.push_back(test::text_delivery(mid, valid[mid], 1768396566941LL + i));
  }
  for (int k = 0; k < kRedeliveries; ++k) lines.push_back(lines[rng() % kUnique]);
  std::set<std::string> bad_payloads;
  for (int b = 0; b < kBad; ++b) {
    std::string bad = b % 3 == 0   ? "{\"object\":\"instagram\",\"entry\":[]}"
                      : b % 3 == 1 ? test::text_delivery("bad-" + std::to_string(b), std::string(70000, 'z'))
                                   : "{not json " + std::to_string(b);
    bad_payloads.insert(bad);
    lines.push_back(bad);
  }
  std::shuffle(lines.begin(), lines.end(), rng);
  {
    std::vector<std::vector<std::string>> chunk;
    for (const auto& l : lines) {
      chunk.push_back({"XADD", c.stream_, "*", "payload", l, "enqueued_at", "1"});
      if (chunk.size() == 500) {
        c.admin().connection().pipeline(chunk);
        chunk.clear();
      }
    }
    if (!chunk.empty()) c.admin().connection().pipeline(chunk);
  }
  for (int w = 0; w < kWorkers; ++w) c.start(w);
  std::map<std::string, int> faults;
  auto stored = [&] { return c.db_.scalar("SELECT COUNT(*) FROM message"); };
  auto progress_to = [&](long long rows) { test::eventually([&] { return stored() >= rows; }, 120s); };

  // A session that holds row locks on upcoming mids past the lock wait timeout.
  std::atomic<bool> stop_locks{false};
  std::thread locker([&] {
    mysql::Driver::ThreadScope scope(test::driver());
    std::mt19937 r(7);
    while (!stop_locks) {
      try {
        auto s = c.db_.connect();
        s->begin();
        for (int k = 0; k < 3; ++k) {
          const int i = static_cast<int>(r() % kUnique);
          s->execute("INSERT IGNORE INTO message (ig_message_id, account_id, sender_id, recipient_id, customer_id, "
                     "direction, event_time) VALUES ('aWdfChaos" + std::to_string(i) + (i % 2 ? "xY" : "Xy") +
                     "', 'x', 'x', 'x', 'x', 'inbound', NOW(3))");
        }
        std::this_thread::sleep_for(3s);  // past DB_LOCK_WAIT_TIMEOUT=2
        s->rollback();
        ++faults["row locks held 3 s"];
      } catch (const DbError&) {
        std::this_thread::sleep_for(200ms);
      }
      std::this_thread::sleep_for(500ms);
    }
  });

  for (int round = 0; round < 3; ++round) {
    progress_to(kUnique / 12 * (round + 1));
    const int w = static_cast<int>(rng() % kWorkers);
    c.sample_pool_peak(w);
    c.workers_[w]->signal(SIGKILL);
    c.workers_[w]->wait(10s);
    ++faults["worker SIGKILLed and restarted"];
    c.start(w);
  }
  progress_to(kUnique / 3);
  // Kill a worker's database session from another connection.
  for (const auto& row : c.db_.query("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '" + c.db_.name() +
                                     "' AND ID <> CONNECTION_ID() AND COMMAND <> 'Sleep' LIMIT 1")) {
    c.db_.execute("KILL " + row[0].value_or("0"));
    ++faults["worker database session killed"];
  }
  progress_to(kUnique / 2);
  for (int w = 0; w < kWorkers; ++w) c.sample_pool_peak(w);
  ASSERT_EQ(test::run_command(test::source_dir() + "/scripts/stack restart db").exit_code, 0);
  ++faults["MariaDB restarted"];
  progress_to(kUnique * 2 / 3);
  for (int w = 0; w < kWorkers; ++w) c.sample_pool_peak(w);
  ASSERT_EQ(test::run_command(test::source_dir() + "/scripts/stack restart redis").exit_code, 0);
  ++faults["Redis restarted"];
  progress_to(kUnique * 5 / 6);
  stop_locks = true;
  locker.join();

  ASSERT_TRUE(test::eventually([&] { return c.admin().lag() == 0 && c.admin().pending() == 0; }, 300s))
      << "lag " << c.admin().lag() << " pending " << c.admin().pending() << [&] {
           std::string logs;
           for (auto& [i, w] : c.workers_)
             logs += "\n--- worker " + std::to_string(i) + (w->running() ? " (running)" : " (exited)") + ":\n" +
                     w->out().substr(w->out().size() > 3000 ? w->out().size() - 3000 : 0) + w->err();
           return logs;
         }();
  for (int w = 0; w < kWorkers; ++w) c.sample_pool_peak(w);

  // Every unique valid mid exactly once, text intact.
  std::map<std::string, std::string> got;
  long long rows = 0;
  for (const auto& row : c.db_.query("SELECT ig_message_id, text FROM message")) {
    ++rows;
    got[row[0].value_or("")] = row[1].value_or("");
  }
  int missing = 0, altered = 0, extra = 0;
  for (const auto& [mid, text] : valid) {
    auto it = got.find(mid);
    if (it == got.end()) {
      ++missing;
    } else if (it->second != text) {
      ++altered;
    }
  }
  for (const auto& [mid, text] : got)
    if (!valid.count(mid)) ++extra;
  // Every bad delivery dead-lettered with a reason.
  std::map<std::string, int> dead_by_payload;
  int no_reason = 0;
  for (const auto& d : c.admin().dead_letters(100000)) {
    ++dead_by_payload[d.payload];
    if (d.reason.empty()) ++no_reason;
  }
  int bad_not_dead = 0;
  for (const auto& b : bad_payloads)
    if (!dead_by_payload.count(b)) ++bad_not_dead;
  int good_dead = 0;
  for (const auto& [payload, n] : dead_by_payload)
    if (!bad_payloads.count(payload)) good_dead += n;

  std::printf("chaos: %zu deliveries (%d unique, %d redeliveries, %d bad), %d workers x 2 threads\n", lines.size(),
              kUnique, kRedeliveries, kBad, kWorkers);
  for (const auto& [fault, n] : faults) std::printf("chaos: fault injected %dx: %s\n", n, fault.c_str());
  std::printf("chaos: rows=%lld missing=%d altered=%d extra=%d twice=%lld bad_not_dead_lettered=%d good_dead_lettered=%d "
              "dead_without_reason=%d pending=%lld pool_peak_open=%d (bound %d)\n",
              rows, missing, altered, extra, rows - static_cast<long long>(got.size()), bad_not_dead, good_dead,
              no_reason, c.admin().pending(), c.peak_open_, kPoolSize + kPoolOverflow);
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(altered, 0);
  EXPECT_EQ(extra, 0);
  EXPECT_EQ(rows, kUnique);
  EXPECT_EQ(bad_not_dead, 0);
  EXPECT_EQ(good_dead, 0);
  EXPECT_EQ(no_reason, 0);
  EXPECT_EQ(c.admin().pending(), 0);
  EXPECT_GT(c.peak_open_, 0);
  EXPECT_LE(c.peak_open_, kPoolSize + kPoolOverflow);
  EXPECT_GE(faults["worker SIGKILLed and restarted"], 3);
  EXPECT_EQ(faults["MariaDB restarted"], 1);
  EXPECT_EQ(faults["Redis restarted"], 1);
  for (auto& [i, w] : c.workers_) {
    w->signal(SIGTERM);
    EXPECT_EQ(w->wait(30s), 0) << w->out();
  }
}

}  // namespace
}  // namespace hm
