// Fault injection: tens of thousands of deliveries (redeliveries and bad ones
// mixed in) through several workers while they are SIGKILLed and restarted,
// MariaDB and Redis are restarted, a worker's database session is killed, and
// row locks are held past the lock wait timeout. When the stream is drained:
// every unique valid mid is stored exactly once with its text intact, every
// bad delivery is in the dead-letter stream exactly once with a reason,
// nothing is pending, and no worker held more database sessions than its pool
// bound (counted by the server: each worker has a database user of its own).
// Each fault is asserted to have happened, with work pending when it began.
// ctest label `chaos`.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
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
    for (int w = 0; w < kWorkers; ++w) {
      const std::string u = user(w);
      db_.execute("DROP USER IF EXISTS '" + u + "'@'127.0.0.1'");
      db_.execute("CREATE USER '" + u + "'@'127.0.0.1' IDENTIFIED BY 'chaos-local'");
      db_.execute("GRANT ALL PRIVILEGES ON `" + db_.name() + "`.* TO '" + u + "'@'127.0.0.1'");
    }
  }
  ~Chaos() {
    workers_.clear();
    try {
      for (int w = 0; w < kWorkers; ++w) db_.execute("DROP USER IF EXISTS '" + user(w) + "'@'127.0.0.1'");
    } catch (...) {
    }
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

  // The database user of worker `index`, so that the server can count its sessions.
  static std::string user(int index) { return "hm_chaos_" + std::to_string(::getpid()) + "_" + std::to_string(index); }
  // A fresh port at each start: a fixed one can be taken by another test meanwhile.
  int metrics_port(int index) const { return ports_.at(index); }

  ChildProcess* start(int index) {
    auto env = test::worker_env_map(db_.options());
    env["DB_HOST"] = "127.0.0.1";
    env["DB_USER"] = user(index);
    env["DB_PASSWORD"] = "chaos-local";
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
    env["METRICS_PORT"] = std::to_string(metrics_port(index));
    env["METRICS_BIND"] = "127.0.0.1";
    env["LOG_LEVEL"] = "warn";
    workers_[index] = std::make_unique<ChildProcess>(HM_WORKER_BINARY, std::vector<std::string>{"run", "--role", "ingest"},
                                                     env, "chaos-" + std::to_string(index));
    return workers_[index].get();
  }

  // Sum of a metric family's samples over the running workers.
  double metric_sum(const std::string& family) {
    double sum = 0;
    for (auto& [i, w] : workers_) {
      if (!w->running()) continue;
      std::istringstream in(test::http_get(metrics_port(i), "/metrics").body);
      for (std::string line; std::getline(in, line);)
        if (line.rfind(family + "{", 0) == 0 || line.rfind(family + " ", 0) == 0)
          sum += std::stod(line.substr(line.rfind(' ') + 1));
    }
    return sum;
  }

  // Sessions of worker `index` open on the server now.
  long long sessions_of(int index) {
    return db_.scalar("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '" + user(index) + "'");
  }

  test::TestDatabase db_;
  std::string stream_;
  redis::RedisOptions redis_;
  redis::StreamNames names_;
  std::unique_ptr<redis::StreamAdmin> admin_;
  std::map<int, std::unique_ptr<ChildProcess>> workers_;
  std::map<int, int> ports_;
};

// Polls the server's PROCESSLIST every 100 ms from a connection of its own:
// the most sessions any one worker (database user) held at once.
class SessionPeakPoller {
 public:
  explicit SessionPeakPoller(test::TestDatabase& db) : options_(db.options()) {
    thread_ = std::thread([this] { run(); });
  }
  ~SessionPeakPoller() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int peak() const { return peak_; }
  int samples() const { return samples_; }

 private:
  void run() {
    mysql::Driver::ThreadScope scope(test::driver());
    std::unique_ptr<mysql::Session> s;
    while (!stop_) {
      try {
        if (!s || s->broken()) s = mysql::Session::connect(test::driver(), options_);
        for (const auto& row : s->query("SELECT USER, COUNT(*) FROM information_schema.PROCESSLIST WHERE USER LIKE "
                                        "'hm\\_chaos\\_%' GROUP BY USER")) {
          peak_ = std::max(peak_.load(), std::stoi(row[1].value_or("0")));
        }
        ++samples_;
      } catch (const DbError&) {
        s.reset();  // e.g. while MariaDB restarts
      }
      std::this_thread::sleep_for(100ms);
    }
  }
  DbOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<int> peak_{0};
  std::atomic<int> samples_{0};
  std::thread thread_;
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
  std::set<std::string> bad_payloads;  // each one distinct: one dead letter per bad delivery
  for (int b = 0; b < kBad; ++b) {
    std::string bad = b % 3 == 0   ? "{\"object\":\"instagram\"," + std::string(static_cast<std::size_t>(b), ' ') +
                                       "\"entry\":[]}"
                      : b % 3 == 1 ? test::text_delivery("bad-" + std::to_string(b), std::string(70000, 'z'))
                                   : "{not json " + std::to_string(b);
    bad_payloads.insert(bad);
    lines.push_back(bad);
  }
  ASSERT_EQ(bad_payloads.size(), static_cast<std::size_t>(kBad));
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
  SessionPeakPoller sessions(c.db_);
  for (int w = 0; w < kWorkers; ++w) c.start(w);
  std::map<std::string, int> faults;
  std::atomic<int> locks_held{0};
  auto stored = [&] { return c.db_.scalar("SELECT COUNT(*) FROM message"); };
  // True once `rows` are stored, with work still left (so that the next fault
  // meets pending work).
  auto progress_to = [&](long long rows) {
    return test::eventually([&] { return stored() >= rows; }, 120s) && stored() < kUnique;
  };
  auto row_lock_waits = [&] { return c.db_.scalar("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
                                                  "WHERE VARIABLE_NAME = 'INNODB_ROW_LOCK_WAITS'"); };
  const long long lock_waits_before = row_lock_waits();

  // A session that holds row locks on mids not stored yet past the lock wait timeout.
  std::atomic<bool> stop_locks{false};
  std::thread locker([&] {
    mysql::Driver::ThreadScope scope(test::driver());
    std::mt19937 r(7);
    while (!stop_locks) {
      try {
        auto s = c.db_.connect();
        s->begin();
        for (int k = 0; k < 30; ++k) {
          const int i = static_cast<int>(r() % kUnique);
          s->execute("INSERT IGNORE INTO message (ig_message_id, account_id, sender_id, recipient_id, customer_id, "
                     "direction, event_time) VALUES ('aWdfChaos" + std::to_string(i) + (i % 2 ? "xY" : "Xy") +
                     "', 'x', 'x', 'x', 'x', 'inbound', NOW(3))");
        }
        std::this_thread::sleep_for(3s);  // past DB_LOCK_WAIT_TIMEOUT=2
        s->rollback();
        ++locks_held;
      } catch (const DbError&) {
        std::this_thread::sleep_for(200ms);
      }
      std::this_thread::sleep_for(500ms);
    }
  });

  auto stalled = [&] { return " (stalled at " + std::to_string(stored()) + " rows)"; };
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(progress_to(kUnique / 12 * (round + 1))) << "before SIGKILL " << round << stalled();
    const int w = static_cast<int>(rng() % kWorkers);
    c.workers_[w]->signal(SIGKILL);
    ASSERT_TRUE(c.workers_[w]->wait(10s).has_value());
    // As a pod restart does: the server has seen the old sessions go before the new process starts.
    ASSERT_TRUE(test::eventually([&] { return c.sessions_of(w) == 0; }, 15s)) << "sessions of a killed worker stay";
    ++faults["worker SIGKILLed and restarted"];
    c.start(w);
  }
  ASSERT_TRUE(progress_to(kUnique / 3)) << "before the session kill" << stalled();
  // Kill a worker's busy database session from another connection; retried.
  const double retries_before_kill = c.metric_sum("hm_worker_db_retries_total");
  ASSERT_TRUE(test::eventually(
      [&] {
        for (const auto& row : c.db_.query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER LIKE "
                                           "'hm\\_chaos\\_%' AND COMMAND <> 'Sleep' LIMIT 1")) {
          c.db_.execute("KILL " + row[0].value_or("0"));
          ++faults["worker database session killed"];
          return true;
        }
        return false;
      },
      10s))
      << "no busy worker session to kill";
  ASSERT_TRUE(progress_to(kUnique / 2)) << "after the session kill" << stalled();
  const double retries_before_restart = c.metric_sum("hm_worker_db_retries_total");
  // The server's counter starts again from 0 when it restarts: count both halves.
  const long long lock_waits_before_restart = row_lock_waits() - lock_waits_before;
  ASSERT_EQ(test::run_command(test::source_dir() + "/scripts/stack restart db").exit_code, 0);
  ++faults["MariaDB restarted"];
  ASSERT_TRUE(progress_to(kUnique * 2 / 3)) << "after the MariaDB restart" << stalled();
  const double retries_after_restart = c.metric_sum("hm_worker_db_retries_total");
  ASSERT_EQ(test::run_command(test::source_dir() + "/scripts/stack restart redis").exit_code, 0);
  ++faults["Redis restarted"];
  ASSERT_TRUE(progress_to(kUnique * 5 / 6)) << "after the Redis restart" << stalled();
  stop_locks = true;
  locker.join();
  faults["row locks held 3 s"] = locks_held;
  const long long lock_waits = lock_waits_before_restart + row_lock_waits();

  ASSERT_TRUE(test::eventually([&] { return c.admin().lag() == 0 && c.admin().pending() == 0; }, 300s))
      << "lag " << c.admin().lag() << " pending " << c.admin().pending() << [&] {
           std::string logs;
           for (auto& [i, w] : c.workers_)
             logs += "\n--- worker " + std::to_string(i) + (w->running() ? " (running)" : " (exited)") + ":\n" +
                     w->out().substr(w->out().size() > 3000 ? w->out().size() - 3000 : 0) + w->err();
           return logs;
         }();
  sessions.stop();

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
  int bad_not_dead = 0, bad_dead_twice = 0;
  for (const auto& b : bad_payloads) {
    if (!dead_by_payload.count(b)) ++bad_not_dead;
    if (dead_by_payload.count(b) && dead_by_payload[b] > 1) ++bad_dead_twice;
  }
  int good_dead = 0;
  for (const auto& [payload, n] : dead_by_payload)
    if (!bad_payloads.count(payload)) good_dead += n;

  std::printf("chaos: %zu deliveries (%d unique, %d redeliveries, %d bad), %d workers x 2 threads\n", lines.size(),
              kUnique, kRedeliveries, kBad, kWorkers);
  for (const auto& [fault, n] : faults) std::printf("chaos: fault injected %dx: %s\n", n, fault.c_str());
  std::printf("chaos: rows=%lld missing=%d altered=%d extra=%d twice=%lld bad_not_dead_lettered=%d "
              "bad_dead_lettered_twice=%d good_dead_lettered=%d dead_without_reason=%d pending=%lld "
              "server_session_peak=%d (bound %d, %d samples) row_lock_waits=%lld db_retries(kill)=%.0f "
              "db_retries(restart)=%.0f\n",
              rows, missing, altered, extra, rows - static_cast<long long>(got.size()), bad_not_dead, bad_dead_twice,
              good_dead, no_reason, c.admin().pending(), sessions.peak(), kPoolSize + kPoolOverflow,
              sessions.samples(), lock_waits, retries_before_restart - retries_before_kill,
              retries_after_restart - retries_before_restart);
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(altered, 0);
  EXPECT_EQ(extra, 0);
  EXPECT_EQ(rows, kUnique);
  EXPECT_EQ(bad_not_dead, 0);
  EXPECT_EQ(bad_dead_twice, 0);
  EXPECT_EQ(c.admin().dead_length(), kBad);  // one dead letter per bad delivery
  EXPECT_EQ(good_dead, 0);
  EXPECT_EQ(no_reason, 0);
  EXPECT_EQ(c.admin().pending(), 0);
  EXPECT_GT(sessions.samples(), 0);
  EXPECT_GT(sessions.peak(), 0);
  EXPECT_LE(sessions.peak(), kPoolSize + kPoolOverflow);
  EXPECT_GE(faults["worker SIGKILLed and restarted"], 3);
  EXPECT_EQ(faults["worker database session killed"], 1);
  EXPECT_GT(retries_before_restart, retries_before_kill) << "the killed session was not retried";
  EXPECT_GT(retries_after_restart, retries_before_restart) << "no retry across the MariaDB restart";
  EXPECT_GE(faults["row locks held 3 s"], 1);
  EXPECT_GT(lock_waits, 0) << "no worker ever waited on a held row lock";
  EXPECT_EQ(faults["MariaDB restarted"], 1);
  EXPECT_EQ(faults["Redis restarted"], 1);
  for (auto& [i, w] : c.workers_) {
    w->signal(SIGTERM);
    EXPECT_EQ(w->wait(30s), 0) << w->out();
  }
}

}  // namespace
}  // namespace hm
