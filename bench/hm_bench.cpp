// hm-bench: how fast the real hm-worker processes store webhook deliveries
// from Redis into MariaDB, against the database's own limits on the same
// server and table. Run it through scripts/bench, which starts the stack.
//
//   hm-bench --scenario seed|per-message|batched|contention [--messages N]
//            [--redeliveries 0.3] [--workers W] [--threads T] [--batch B]
//            [--read R]   (QUEUE_READ_COUNT; per-message defaults to 50)
//
// "seed" is INGEST_BATCH_SIZE=1 with every other setting at its default (what
// a user copying the seed's settings gets); "per-message" the same with
// QUEUE_READ_COUNT=50 set explicitly.
//
// Reports deliveries/s, messages stored/s, CPU microseconds per delivery of
// the workers, Redis and MariaDB, enqueue-to-commit latency
// percentiles (a paced run), retries, lock wait timeouts, deadlocks, dead
// letters, peak RSS per worker, and the check that the table holds exactly
// the unique messages. Never part of ctest: speed is measured, not asserted.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cpu.h"
#include "hm/clock.h"
#include "config/config.h"
#include "mysql/message_store.h"
#include "ingest/payload.h"
#include "mysql/schema.h"
#include "mysql/session.h"
#include "redis/stream_admin.h"
#include "support/process.h"
#include "support/test_db.h"

namespace {

using namespace std::chrono_literals;

// QUEUE_READ_COUNT when it is not set (src/config/config.cpp).
int hm_default_read(int batch) { return std::max(50, batch); }
using Clock = std::chrono::steady_clock;
using hm::test::ChildProcess;

struct Options {
  std::string scenario = "batched";
  int messages = 20000;
  double redeliveries = 0.3;
  int workers = 2;
  int threads = 2;
  int batch = 100;
  int read = 0;  // QUEUE_READ_COUNT; 0 = the batch size, -1 = not set (the default)
  int runs = 3;  // runs of each limit and of store only; the best counts
  std::string worker_binary;
  std::string run_dir = ".run/bench";
};

long long wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const std::vector<std::string> kTexts = {
    "Merhaba! Yarın akşam 19:30 için 2 kişilik masa ayırtabilir miyim? 🙏",
    "Siparişim ne zaman gelir? 📦 Kargo takip numarası alabilir miyim?",
    "شكراً جزيلاً ❤️ الخدمة ممتازة",
    "هل لديكم مقاس M من الفستان الأزرق؟ 👗",
    "İade süreci nasıl işliyor? Ürün küçük geldi 😕",
    "Do you ship to Germany? 🇩🇪 And how long does it take?",
    "Fiyat bilgisi alabilir miyim? Çok güzel görünüyor 😍😍",
    "مرحبا، متى تفتحون غداً؟ 🕘",
    "👍",
    "Kapıda ödeme var mı? 💳 Bir de hediye paketi yapıyor musunuz? 🎁",
};

std::string delivery(const std::string& mid, int i, long long ts) {
  nlohmann::json msg = {{"mid", mid}};
  if (i % 10 == 3) {
    msg["attachments"] = {{{"type", "image"},
                           {"payload", {{"url", "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=" +
                                                    std::to_string(18000000000000000LL + i) + "&signature=Ab" + mid}}}}};
  } else {
    msg["text"] = kTexts[static_cast<std::size_t>(i) % kTexts.size()];
  }
  const std::string account = i % 3 ? "17841405309211844" : "17841463007281952";
  const std::string sender = std::to_string(1284930675412097LL + i % 997);
  nlohmann::json d = {{"object", "instagram"},
                      {"entry",
                       {{{"time", ts + 300},
                         {"id", account},
                         {"messaging",
                          {{{"sender", {{"id", sender}}},
                            {"recipient", {{"id", account}}},
                            {"timestamp", ts},
                            {"message", msg}}}}}}}};
  return d.dump();
}

std::string mid_of(int run, int i) {
  // base64-looking, case-sensitive ids like Instagram's
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string s = "aWdfZAG1faXRlbToxOk" + std::to_string(run) + "_";
  unsigned long long x = 0x9E3779B97F4A7C15ULL * static_cast<unsigned long long>(i + 1);
  for (int k = 0; k < 24; ++k) {
    s.push_back(tbl[x & 63]);
    x = (x >> 6) | (x << 58);
  }
  return s + std::to_string(i);
}

// Unique deliveries plus redeliveries placed a few entries later, so that the
// copies are read by other workers at about the same moment.
std::vector<std::pair<std::string, std::string>> workload(int run, int n, double redeliveries, int spread) {
  std::vector<std::pair<std::string, std::string>> out;  // (mid, payload)
  std::mt19937 rng(run);
  const long long ts = wall_ms() - 60000;
  for (int i = 0; i < n; ++i) out.emplace_back(mid_of(run, i), delivery(mid_of(run, i), i, ts + i));
  const int copies = static_cast<int>(n * redeliveries);
  for (int k = 0; k < copies; ++k) {
    const int src = static_cast<int>(rng() % static_cast<unsigned>(n));
    const auto pos = std::min<std::size_t>(out.size(), static_cast<std::size_t>(src) + 1 + rng() % static_cast<unsigned>(spread));
    out.insert(out.begin() + static_cast<long>(pos), out[static_cast<std::size_t>(src)]);
  }
  return out;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

long long vm_hwm_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  }
  return 0;
}

double metric_sum(const std::string& text, const std::string& name) {
  double sum = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name, 0) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : ' ';
    if (next != '{' && next != ' ') continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

struct Run {
  double seconds = 0;
  int deliveries = 0;
  long long rows = 0;
  int unique = 0;
  double retries = 0, lock_waits = 0, deadlocks = 0, dead = 0;
  long long peak_rss_kb = 0;
  std::vector<double> latencies_ms;
  // CPU seconds over the drain (from every worker's ready to drained).
  double worker_cpu_s = 0, redis_cpu_s = 0, redis_children_cpu_s = 0, db_cpu_s = 0;
  double aof_bytes = -1;  // growth of Redis's AOF over the drain; -1 when a rewrite ran meanwhile
};

// CPU counters of the shared servers at one moment.
struct ServerCpu {
  double redis = 0, redis_children = 0, db = 0;
  double aof_bytes = 0, aof_rewrites = 0;  // Redis's append-only file: its size, rewrites done
};

class Bench {
 public:
  explicit Bench(Options o) : o_(std::move(o)), db_("bench", true) {
    redis_ = hm::redis::parse_redis_url(hm::test::stack_redis_url());
    std::filesystem::create_directories(o_.run_dir);
  }

  std::map<std::string, std::string> worker_env(int index) {
    auto env = hm::test::worker_env_map(db_.options());
    env["QUEUE_STREAM_PREFIX"] = "hm:bench:";
    env["QUEUE_STREAM"] = stream_;
    env["CONSUMER_NAME"] = "bench-" + std::to_string(index);
    env["METRICS_PORT"] = std::to_string(29400 + index);
    env["METRICS_BIND"] = "127.0.0.1";
    env["LOG_LEVEL"] = "warn";
    if (o_.scenario == "seed") {  // the seed's one setting; everything else at its default
      env["INGEST_BATCH_SIZE"] = "1";
      return env;
    }
    env["WORKER_CONCURRENCY"] = std::to_string(o_.threads);
    env["INGEST_BATCH_SIZE"] = std::to_string(o_.batch);
    if (o_.read >= 0) env["QUEUE_READ_COUNT"] = std::to_string(std::max(o_.read, o_.batch));
    env["INGEST_BATCH_LINGER_MS"] = "5";
    env["DB_POOL_SIZE"] = std::to_string(std::max(2, o_.threads));
    env["DB_MAX_OVERFLOW"] = "1";
    if (o_.scenario == "contention") {
      env["DB_LOCK_WAIT_TIMEOUT"] = "2";
      env["DB_RETRY_ATTEMPTS"] = "30";
      env["DB_RETRY_MAX_TOTAL_MS"] = "60000";
      env["QUEUE_VISIBILITY_TIMEOUT"] = "120";
    }
    return env;
  }

  void reset(const std::string& stream) {
    stream_ = stream;
    admin_ = std::make_unique<hm::redis::StreamAdmin>(redis_, hm::redis::StreamNames{stream_, "hm-worker", stream_ + ":dead", "hm:bench:"});
    admin_->connection().command({"DEL", stream_, stream_ + ":dead", "hm:bench:enrich", "hm:bench:media", "hm:bench:reply"});
    admin_ = std::make_unique<hm::redis::StreamAdmin>(redis_, hm::redis::StreamNames{stream_, "hm-worker", stream_ + ":dead", "hm:bench:"});
    for (const char* t : {"message", "message_edit", "message_deletion", "message_reaction", "message_read"})
      db_.execute(std::string("TRUNCATE ") + t);
  }

  // XADDs the entries; returns each mid's enqueue time (first copy).
  std::map<std::string, long long> enqueue(const std::vector<std::pair<std::string, std::string>>& items,
                                           double per_second = 0) {
    std::map<std::string, long long> first;
    std::vector<std::vector<std::string>> chunk;
    const auto start = Clock::now();
    const std::size_t step = per_second > 0 ? 20 : 1000;
    for (std::size_t i = 0; i < items.size(); i += step) {
      if (per_second > 0) {
        const auto due = start + std::chrono::duration<double>(static_cast<double>(i) / per_second);
        std::this_thread::sleep_until(due);
      }
      chunk.clear();
      const long long now = wall_ms();
      for (std::size_t k = i; k < std::min(items.size(), i + step); ++k) {
        chunk.push_back({"XADD", stream_, "*", "payload", items[k].second, "enqueued_at", std::to_string(now)});
        first.emplace(items[k].first, now);
      }
      admin_->connection().pipeline(chunk);
    }
    return first;
  }

  bool drained() { return admin_->lag() == 0 && admin_->pending() == 0; }

  ServerCpu server_cpu() {
    ServerCpu c;
    const std::string info = admin_->connection().command({"INFO", "cpu"}).view().str();
    c.redis = hm::bench::info_field(info, "used_cpu_user") + hm::bench::info_field(info, "used_cpu_sys");
    c.redis_children =
        hm::bench::info_field(info, "used_cpu_user_children") + hm::bench::info_field(info, "used_cpu_sys_children");
    const std::string persistence = admin_->connection().command({"INFO", "persistence"}).view().str();
    c.aof_bytes = hm::bench::info_field(persistence, "aof_current_size");
    c.aof_rewrites = hm::bench::info_field(persistence, "aof_rewrites");
    if (db_pid_ == 0) db_pid_ = hm::bench::pid_from_file(db_.query("SELECT @@pid_file").at(0).at(0).value_or(""));
    if (db_pid_ > 0) c.db = hm::bench::process_cpu_seconds(db_pid_);
    return c;
  }

  Run run_workers(const std::vector<std::pair<std::string, std::string>>& items, bool paced, double rate,
                  const std::function<void(const std::atomic<bool>&)>& during = {}) {
    Run r;
    r.deliveries = static_cast<int>(items.size());
    std::set<std::string> unique;
    for (const auto& it : items) unique.insert(it.first);
    r.unique = static_cast<int>(unique.size());
    std::map<std::string, long long> enqueued;
    if (!paced) enqueued = enqueue(items);
    std::vector<std::unique_ptr<ChildProcess>> workers;
    for (int w = 0; w < o_.workers; ++w) {
      workers.push_back(std::make_unique<ChildProcess>(o_.worker_binary, std::vector<std::string>{"run", "--role", "ingest"},
                                                       worker_env(w), "bench-" + std::to_string(w)));
    }
    // Wait until every worker serves its metrics (it is connected and reading).
    for (int w = 0; w < o_.workers; ++w)
      hm::test::eventually([&] { return hm::test::http_get(29400 + w, "/readyz").status == 200; }, 30s);
    std::atomic<bool> stop_during{false};
    std::thread side;
    if (during) side = std::thread([&] { during(stop_during); });
    auto workers_cpu = [&] {
      double sum = 0;
      for (const auto& w : workers) sum += hm::bench::process_cpu_seconds(w->pid());
      return sum;
    };
    // No AOF rewrite during the drain, so that the file's growth is what the
    // drain wrote (restored after).
    auto& redis = admin_->connection();
    const std::string rewrite = redis.command({"CONFIG", "GET", "auto-aof-rewrite-percentage"}).view().at(1).str();
    redis.command({"CONFIG", "SET", "auto-aof-rewrite-percentage", "0"});
    const double cpu0 = workers_cpu();
    const ServerCpu servers0 = server_cpu();
    const auto start = Clock::now();
    if (paced) enqueued = enqueue(items, rate);
    hm::test::eventually([&] { return drained(); }, 600s);
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    r.worker_cpu_s = workers_cpu() - cpu0;
    const ServerCpu servers1 = server_cpu();
    r.redis_cpu_s = servers1.redis - servers0.redis;
    r.redis_children_cpu_s = servers1.redis_children - servers0.redis_children;
    r.db_cpu_s = servers1.db - servers0.db;
    if (servers1.aof_rewrites == servers0.aof_rewrites) r.aof_bytes = servers1.aof_bytes - servers0.aof_bytes;
    redis.command({"CONFIG", "SET", "auto-aof-rewrite-percentage", rewrite});
    stop_during = true;
    if (side.joinable()) side.join();
    for (int w = 0; w < o_.workers; ++w) {
      const std::string m = hm::test::http_get(29400 + w, "/metrics").body;
      r.retries += metric_sum(m, "hm_worker_db_retries_total");
      r.lock_waits += metric_sum(m, "hm_worker_db_lock_wait_timeouts_total");
      r.deadlocks += metric_sum(m, "hm_worker_db_deadlocks_total");
      r.dead += metric_sum(m, "hm_worker_dead_letters_total");
      r.peak_rss_kb = std::max(r.peak_rss_kb, vm_hwm_kb(workers[static_cast<std::size_t>(w)]->pid()));
    }
    for (auto& w : workers) w->signal(SIGTERM);
    for (auto& w : workers) w->wait(30s);
    r.rows = db_.scalar("SELECT COUNT(*) FROM message");
    if (paced) {
      for (const auto& row : db_.query("SELECT ig_message_id, CAST(UNIX_TIMESTAMP(created_at) * 1000 AS SIGNED) FROM message")) {
        auto it = enqueued.find(row[0].value_or(""));
        if (it != enqueued.end()) r.latencies_ms.push_back(static_cast<double>(std::stoll(row[1].value_or("0")) - it->second));
      }
    }
    return r;
  }

  // The database's own limits, measured with the mariadb client on the same
  // server and table, over TCP as the worker's user (the workers' transport):
  // C clients of single-row autocommit INSERT IGNOREs, and of multi-row
  // INSERT IGNOREs of `rows_per_statement` rows, each unique message once.
  // The best of `runs` runs: a limit measured low flatters every ratio.
  // db_cpu_us_per_row: MariaDB's CPU per row in the best run.
  double client_limit(const std::vector<std::pair<std::string, std::string>>& items, int clients, int rows_per_statement,
                      int runs, double* db_cpu_us_per_row) {
    double best = 0;
    for (int i = 0; i < runs; ++i) {
      double cpu = 0;
      const double rate = client_limit_once(items, clients, rows_per_statement, &cpu);
      if (rate > best) {
        best = rate;
        *db_cpu_us_per_row = cpu;
      }
    }
    return best;
  }

  double client_limit_once(const std::vector<std::pair<std::string, std::string>>& all, int clients,
                           int rows_per_statement, double* db_cpu_us_per_row) {
    std::vector<std::pair<std::string, std::string>> items;
    std::set<std::string> seen;
    for (const auto& it : all)
      if (seen.insert(it.first).second) items.push_back(it);
    db_.execute("TRUNCATE message");
    std::vector<std::string> files;
    for (int c = 0; c < clients; ++c) files.push_back(o_.run_dir + "/limit-" + std::to_string(c) + ".sql");
    std::vector<std::ofstream> outs;
    for (const auto& f : files) outs.emplace_back(f);
    for (auto& out : outs) out << "SET NAMES utf8mb4;\n";
    int n = 0;
    std::vector<int> in_statement(static_cast<std::size_t>(clients), 0);
    // Sorted by mid, as hm-worker sorts its batches: unsorted multi-row
    // inserts from several clients deadlock each other.
    auto sorted = items;
    std::sort(sorted.begin(), sorted.end());
    for (const auto& [mid, payload] : sorted) {
      const auto j = nlohmann::json::parse(payload);
      const auto& ev = j["entry"][0]["messaging"][0];
      const std::string text = ev["message"].value("text", "");
      auto q = [](const std::string& s) {
        std::string o = "'";
        for (char ch : s) {
          if (ch == '\'' || ch == '\\') o.push_back('\\');
          o.push_back(ch);
        }
        return o + "'";
      };
      const std::string row = "(" + q(mid) + ", " + q(j["entry"][0]["id"].get<std::string>()) + ", " +
                              q(ev["sender"]["id"].get<std::string>()) + ", " + q(ev["recipient"]["id"].get<std::string>()) +
                              ", " + q(ev["sender"]["id"].get<std::string>()) + ", 'inbound', 'message', " + q(text) +
                              ", NOW(3))";
      const std::size_t c = static_cast<std::size_t>(n++ % clients);
      auto& out = outs[c];
      if (in_statement[c] == 0) {
        out << "INSERT IGNORE INTO message (ig_message_id, account_id, sender_id, recipient_id, customer_id, direction, "
               "kind, text, event_time) VALUES ";
      } else {
        out << ", ";
      }
      out << row;
      if (++in_statement[c] == rows_per_statement) {
        out << ";\n";
        in_statement[c] = 0;
      }
    }
    for (std::size_t c = 0; c < outs.size(); ++c) {
      if (in_statement[c]) outs[c] << ";\n";
      outs[c].close();
    }
    const auto& d = db_.options();
    const double cpu0 = server_cpu().db;
    const auto start = Clock::now();
    std::vector<pid_t> pids;
    for (const auto& f : files) {
      const std::string cmd = "mariadb --no-defaults --force --protocol=TCP -h" + d.host + " -P" + std::to_string(d.port) + " -u" +
                              d.user + " -p" + d.password + " " + d.name + " < " + f + " > " + f + ".log 2>&1";
      pid_t pid = fork();
      if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
        _exit(127);
      }
      pids.push_back(pid);
    }
    for (pid_t p : pids) waitpid(p, nullptr, 0);
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    const double cpu = server_cpu().db - cpu0;
    const long long rows = db_.scalar("SELECT COUNT(*) FROM message");
    *db_cpu_us_per_row = rows > 0 ? cpu * 1e6 / static_cast<double>(rows) : 0;
    return static_cast<double>(rows) / secs;
  }

  // hm-worker's own statements without the queue: `clients` threads call the
  // real MysqlMessageStore with the messages already parsed, `read` entries
  // at a time (duplicates within a read dropped, as the ingest service does),
  // stored `batch` to a transaction. Messages stored per second.
  double store_only(const std::vector<std::pair<std::string, std::string>>& items, int clients, int batch, int read,
                    int runs = 3) {
    double best = 0;
    for (int i = 0; i < runs; ++i) best = std::max(best, store_only_once(items, clients, batch, read));
    return best;
  }

  double store_only_once(const std::vector<std::pair<std::string, std::string>>& items, int clients, int batch, int read) {
    db_.execute("TRUNCATE message");
    std::vector<hm::NewMessage> all;
    all.reserve(items.size());
    for (const auto& it : items) {
      const auto parsed = hm::parse_delivery(it.second);
      for (const auto& ev : parsed.delivery.events)
        if (const auto* m = std::get_if<hm::NewMessage>(&ev)) all.push_back(*m);
    }
    // Reads handed out in stream order, round robin, as the workers take them.
    std::vector<std::vector<std::vector<hm::NewMessage>>> reads(static_cast<std::size_t>(clients));
    for (std::size_t from = 0, n = 0; from < all.size(); from += static_cast<std::size_t>(read), ++n) {
      std::vector<hm::NewMessage> chunk;
      std::set<std::string> seen;
      for (std::size_t k = from; k < std::min(all.size(), from + static_cast<std::size_t>(read)); ++k)
        if (seen.insert(all[k].mid).second) chunk.push_back(all[k]);
      reads[n % static_cast<std::size_t>(clients)].push_back(std::move(chunk));
    }
    hm::SystemClock clock;
    hm::PoolOptions po;
    po.size = clients;
    po.max_overflow = 0;
    const hm::DbOptions opts = db_.options();
    hm::mysql::SessionPool pool(po, [opts] { return hm::mysql::Session::connect(hm::test::driver(), opts); }, clock);
    hm::mysql::MysqlMessageStore store(pool);
    std::atomic<int> failures{0};
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        hm::mysql::Driver::ThreadScope scope(hm::test::driver());
        for (const auto& chunk : reads[static_cast<std::size_t>(c)]) {
          for (int attempt = 0; attempt < 20; ++attempt) {
            const auto rs = store.store_messages(chunk, static_cast<std::size_t>(batch));
            if (std::none_of(rs.begin(), rs.end(), [](const hm::StoreResult& r) { return r.status == hm::StoreStatus::kRetryable; }))
              break;
            if (attempt == 19) ++failures;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    if (failures > 0) std::cerr << "hm-bench: store-only run: " << failures << " reads still failing\n";
    return static_cast<double>(db_.scalar("SELECT COUNT(*) FROM message")) / secs;
  }

  // Another session that holds row locks on keys the workers are about to
  // insert, for seconds at a time.
  void hold_locks(const std::vector<std::pair<std::string, std::string>>& items, const std::atomic<bool>& stop) {
    hm::mysql::Driver::ThreadScope scope(hm::test::driver());
    auto s = db_.connect();
    std::mt19937 rng(99);
    while (!stop) {
      try {
        s->begin();
        for (int k = 0; k < 5; ++k) {
          const auto& mid = items[rng() % items.size()].first;
          s->execute("INSERT IGNORE INTO message (ig_message_id, account_id, sender_id, recipient_id, customer_id, "
                     "direction, event_time) VALUES ('" + mid + "', 'x', 'x', 'x', 'x', 'inbound', NOW(3))");
        }
        for (int t = 0; t < 30 && !stop; ++t) std::this_thread::sleep_for(100ms);  // ~3 s held
        s->rollback();
        ++lock_holds_;
      } catch (const hm::DbError&) {
        s = db_.connect();
      }
      for (int t = 0; t < 5 && !stop; ++t) std::this_thread::sleep_for(100ms);
    }
    s->rollback();
  }

  int lock_holds() const { return lock_holds_; }
  hm::test::TestDatabase& db() { return db_; }

 private:
  Options o_;
  hm::test::TestDatabase db_;
  hm::redis::RedisOptions redis_;
  std::unique_ptr<hm::redis::StreamAdmin> admin_;
  std::string stream_;
  int lock_holds_ = 0;
  pid_t db_pid_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  o.worker_binary = HM_WORKER_BINARY;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--scenario") o.scenario = v;
    else if (k == "--messages") o.messages = std::stoi(v);
    else if (k == "--redeliveries") o.redeliveries = std::stod(v);
    else if (k == "--workers") o.workers = std::stoi(v);
    else if (k == "--threads") o.threads = std::stoi(v);
    else if (k == "--batch") o.batch = std::stoi(v);
    else if (k == "--read") o.read = std::stoi(v);
    else if (k == "--runs") o.runs = std::stoi(v);
    else if (k == "--run-dir") o.run_dir = v;
    else {
      std::cerr << "hm-bench: unknown option " << k << "\n";
      return 2;
    }
  }
  if (o.scenario == "per-message") {
    o.batch = 1;
    if (o.read == 0) o.read = 50;
  }
  if (o.scenario == "seed") {  // the defaults: 2 threads a worker, the default read
    o.batch = 1;
    o.threads = 2;
    o.read = -1;
  }
  if (o.scenario == "contention") {
    o.workers = 8;
    o.threads = 1;
  }
  Bench bench(o);
  const int run_id = static_cast<int>(::getpid());
  const auto items = workload(run_id, o.messages, o.redeliveries, std::max(2, o.batch * 2));

  // 1. Throughput: everything enqueued, then drained.
  bench.reset("hm:bench:ingest");
  std::function<void(const std::atomic<bool>&)> during;
  if (o.scenario == "contention") during = [&](const std::atomic<bool>& stop) { bench.hold_locks(items, stop); };
  Run t = bench.run_workers(items, false, 0, during);
  // 2. Latency: a paced run at half the measured rate.
  const auto paced_items = workload(run_id + 1, std::max(2000, o.messages / 4), o.redeliveries, std::max(2, o.batch * 2));
  bench.reset("hm:bench:ingest");
  const double rate = std::max(100.0, 0.5 * t.deliveries / t.seconds);
  Run l = bench.run_workers(paced_items, true, rate, during);
  // 3. The database's own limits, same concurrency.
  const int clients = o.workers * o.threads;
  double single_cpu = 0, multi_cpu = 0;
  const double single = bench.client_limit(items, clients, 1, o.runs, &single_cpu);
  const double multi = bench.client_limit(items, clients, std::max(100, o.batch), o.runs, &multi_cpu);
  // 4. hm-worker's own statements alone (no Redis, no JSON), same concurrency.
  const int read = o.read < 0 ? hm_default_read(o.batch) : std::max(o.read, o.batch);
  const double own = o.scenario == "contention" ? 0 : bench.store_only(items, clients, o.batch, read, o.runs);

  const double stored_per_s = static_cast<double>(t.rows) / t.seconds;
  nlohmann::ordered_json j;
  j["scenario"] = o.scenario;
  j["workers"] = o.workers;
  j["threads_per_worker"] = o.threads;
  j["batch"] = o.batch;
  j["read"] = read;
  j["deliveries"] = t.deliveries;
  j["unique_messages"] = t.unique;
  j["redeliveries"] = o.redeliveries;
  j["seconds"] = t.seconds;
  j["deliveries_per_s"] = t.deliveries / t.seconds;
  j["messages_stored_per_s"] = stored_per_s;
  j["table_exact"] = t.rows == t.unique && l.rows == l.unique;
  j["rows"] = {t.rows, l.rows};
  j["expected_rows"] = {t.unique, l.unique};
  j["latency_paced_rate_per_s"] = rate;
  j["latency_p50_ms"] = percentile(l.latencies_ms, 0.50);
  j["latency_p95_ms"] = percentile(l.latencies_ms, 0.95);
  j["latency_p99_ms"] = percentile(l.latencies_ms, 0.99);
  j["retries"] = t.retries + l.retries;
  j["lock_wait_timeouts"] = t.lock_waits + l.lock_waits;
  j["deadlocks"] = t.deadlocks + l.deadlocks;
  j["dead_letters"] = t.dead + l.dead;
  const double us = 1e6 / t.deliveries;
  j["worker_cpu_us_per_delivery"] = t.worker_cpu_s * us;
  j["redis_cpu_us_per_delivery"] = t.redis_cpu_s * us;
  j["redis_children_cpu_us_per_delivery"] = t.redis_children_cpu_s * us;
  j["db_cpu_us_per_delivery"] = t.db_cpu_s * us;
  j["redis_aof_bytes_per_delivery"] = t.aof_bytes < 0 ? -1.0 : t.aof_bytes / t.deliveries;
  j["peak_rss_mb"] = static_cast<double>(std::max(t.peak_rss_kb, l.peak_rss_kb)) / 1024.0;
  j["limit_single_row_autocommit_per_s"] = single;
  j["limit_multi_row_per_s"] = multi;
  j["limit_single_row_db_cpu_us_per_row"] = single_cpu;
  j["limit_multi_row_db_cpu_us_per_row"] = multi_cpu;
  j["ratio_to_single_row"] = stored_per_s / single;
  j["ratio_to_multi_row"] = stored_per_s / multi;
  if (own > 0) {
    j["store_only_per_s"] = own;
    j["store_only_ratio_to_single_row"] = own / single;
    j["store_only_ratio_to_multi_row"] = own / multi;
    j["ratio_to_store_only"] = stored_per_s / own;
  }
  if (o.scenario == "contention") j["lock_holds"] = bench.lock_holds();
  std::cout << j.dump(2) << std::endl;
  return t.rows == t.unique && l.rows == l.unique ? 0 : 1;
}
