#include "commands/cli.h"

#include <cxxopts.hpp>
#include <spdlog/spdlog.h>

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "config/config.h"
#include "hm/dead_letter.h"
#include "hm/delivery_source.h"
#include "ingest/ingest_service.h"
#include "ops/logging.h"
#include "http/server.h"
#include "ops/metrics.h"
#include "mysql/doctor.h"
#include "mysql/driver.h"
#include "ops/probes.h"
#include "mysql/message_store.h"
#include "mysql/schema.h"
#include "mysql/role_store.h"
#include "http/curl_client.h"
#include "mysql/session.h"
#include "redis/stream_queue.h"
#include "roles/enrich.h"
#include "roles/media.h"
#include "roles/reply.h"
#include "hm/stop_signal.h"
#include "hm/version.h"
#include "worker/worker_loop.h"

namespace hm {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

const char* kCommands =
    "Commands:\n"
    "  migrate [--verify]            create or update the schema (idempotent); --verify only checks that\n"
    "                                message.ig_message_id has a case-sensitive UNIQUE index\n"
    "  run --role ROLE [--source SRC] consume deliveries until SIGTERM; SRC is redis (the default: the\n"
    "                                role's stream), or file:PATH or - (stdin, JSONL: runs to the end)\n"
    "  enqueue --role ROLE FILE|-    add JSONL deliveries to the role's stream (replays, backfills)\n"
    "  dead-letters list|replay|purge [--id ID]... [--count N]\n"
    "                                show dead letters, move them back to the stream, or delete them\n"
    "  doctor [--json] [--replicas ingest=N,reply=N,enrich=N,media=N] [--long-query-seconds N]\n"
    "                                check the live database: lock waits, long statements, connections\n"
    "                                against the fleet's budget, a worker session's settings, the index;\n"
    "                                exits 3 when something needs attention\n"
    "  config                        print the effective configuration (secrets redacted)\n"
    "\n"
    "Every variable can be set as a flag (below), in the environment, or in a --config file\n"
    "of KEY=VALUE lines; that is also the order of precedence. Secrets (DB_PASSWORD,\n"
    "DATABASE_URL) are not accepted as flags: use the environment, DB_PASSWORD_FILE or the file.\n"
    "\n"
    "Exit codes: 0 done, 1 runtime failure, 2 usage or configuration error, 3 doctor found a problem.\n";

cxxopts::Options build_options() {
  cxxopts::Options options("hm-worker", "hm-worker " + std::string(kVersion) +
                                            ": stores Instagram direct-message webhooks in MySQL/MariaDB");
  options.custom_help("COMMAND [OPTIONS]");
  options.positional_help("");
  options.add_options()("h,help", "print this help and exit")("version", "print the version and exit")(
      "config", "read KEY=VALUE settings from FILE", cxxopts::value<std::string>(), "FILE")(
      "verify", "migrate: only verify the UNIQUE index on message.ig_message_id")(
      "role", "run: the worker role (same as --worker-role)", cxxopts::value<std::string>(), "ROLE")(
      "source", "run: redis (default), file:PATH or - for stdin", cxxopts::value<std::string>(), "SRC")(
      "id", "dead-letters: only this dead-letter entry id (repeatable)", cxxopts::value<std::vector<std::string>>(), "ID")(
      "count", "dead-letters: at most N entries (default 100)", cxxopts::value<std::size_t>(), "N")(
      "json", "doctor: print the report as JSON")(
      "replicas", "doctor: replicas per role, e.g. ingest=3,reply=2 (default 1 each)", cxxopts::value<std::string>(),
      "LIST")("long-query-seconds", "doctor: list statements running longer than this (default 5)",
              cxxopts::value<int>(), "N")(
      "command", "", cxxopts::value<std::string>())("extra", "", cxxopts::value<std::vector<std::string>>());
  for (const auto& v : known_variables()) {
    if (v.secret) continue;
    std::string help = v.help + " [" + v.name;
    if (!v.default_value.empty()) help += ", default " + v.default_value;
    help += "]";
    options.add_options("Configuration")(flag_name(v.name), help, cxxopts::value<std::string>(), "VALUE");
  }
  options.parse_positional({"command", "extra"});
  return options;
}

std::string help_text(cxxopts::Options& options) {
  return options.help({"", "Configuration"}) + "\n" + kCommands;
}

// Composition root for commands that need the database.
struct Database {
  mysql::Driver driver;  // get_driver_instance() once, before any thread starts
  mysql::Driver::ThreadScope scope{driver};
};

int cmd_config(const RawConfig& raw) {
  parse_config(raw);  // validate first: a bad value is exit 2
  for (const auto& line : describe_config(raw)) std::cout << line << "\n";
  return kExitOk;
}

// Fails fast (DbError) when the database cannot be reached at start-up.
void probe_database(mysql::SessionPool& pool, const Config& cfg) {
  auto probe = pool.checkout();
  spdlog::info("connected to {} (connection {}), pool size {} + overflow {}", probe->server_version(),
               probe->connection_id(), cfg.pool.size, cfg.pool.max_overflow);
}

constexpr int kExitAttention = 3;

int cmd_doctor(const Config& cfg, const mysql::DoctorOptions& options, bool as_json) {
  Database db;
  auto session = mysql::Session::connect(db.driver, cfg.db);
  const mysql::DoctorReport r = mysql::run_doctor(*session, cfg, options);
  if (as_json) {
    nlohmann::ordered_json j;
    j["server"] = r.server_version;
    j["attention"] = r.attention();
    j["findings"] = nlohmann::ordered_json::array();
    for (const auto& f : r.findings) j["findings"].push_back({{"check", f.check}, {"attention", f.attention}, {"detail", f.detail}});
    j["lock_wait_source"] = r.lock_wait_source;
    j["lock_waits"] = nlohmann::ordered_json::array();
    for (const auto& w : r.lock_waits) {
      j["lock_waits"].push_back({{"waiting_thread", w.waiting_thread},
                                 {"waiting_query", w.waiting_query},
                                 {"blocking_thread", w.blocking_thread},
                                 {"blocking_query", w.blocking_query},
                                 {"wait_seconds", w.wait_seconds}});
    }
    j["long_queries"] = nlohmann::ordered_json::array();
    for (const auto& q : r.long_queries) {
      j["long_queries"].push_back({{"id", q.id}, {"user", q.user}, {"db", q.db}, {"command", q.command},
                                   {"seconds", q.seconds}, {"state", q.state}, {"query", q.info}});
    }
    j["connections"] = {{"threads_connected", r.threads_connected},
                        {"max_used_connections", r.max_used_connections},
                        {"max_connections", r.max_connections},
                        {"fleet_budget", r.fleet_budget}};
    j["session"] = {{"isolation", r.session.isolation},
                    {"innodb_lock_wait_timeout", r.session.lock_wait_timeout},
                    {"read_timeout", r.session.read_timeout_s},
                    {"write_timeout", r.session.write_timeout_s},
                    {"max_statement_time", r.session.max_statement_time_s},
                    {"character_set", r.session.character_set},
                    {"time_zone", r.session.time_zone}};
    std::cout << j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << std::endl;
  } else {
    std::cout << "server " << r.server_version << "\n\n";
    for (const auto& f : r.findings) {
      std::cout << (f.attention ? "ATTENTION  " : "ok         ") << f.check;
      std::cout << std::string(f.check.size() < 14 ? 14 - f.check.size() : 1, ' ') << f.detail << "\n";
    }
    if (!r.lock_waits.empty()) {
      std::cout << "\nlock waits (" << r.lock_wait_source << "):\n";
      for (const auto& w : r.lock_waits) {
        std::cout << "  thread " << w.waiting_thread << " waits " << w.wait_seconds << " s: " << w.waiting_query.substr(0, 120)
                  << "\n    blocked by thread " << w.blocking_thread << ": "
                  << (w.blocking_query.empty() ? "(idle in transaction)" : w.blocking_query.substr(0, 120)) << "\n";
      }
    }
    if (!r.long_queries.empty()) {
      std::cout << "\nlong statements:\n";
      for (const auto& q : r.long_queries) {
        std::cout << "  thread " << q.id << " " << q.user << "@" << q.db << " " << q.seconds << " s " << q.command << " "
                  << q.state << ": " << q.info.substr(0, 120) << "\n";
      }
    }
  }
  return r.attention() ? kExitAttention : kExitOk;
}

int cmd_migrate(const Config& cfg, bool verify_only) {
  Database db;
  auto session = mysql::Session::connect(db.driver, cfg.db);
  if (!verify_only) {
    const auto result = mysql::migrate(*session);
    std::string applied;
    for (int v : result.applied) applied += (applied.empty() ? "" : ",") + std::to_string(v);
    std::cout << "schema at version " << result.current_version
              << (applied.empty() ? " (nothing to apply)" : " (applied " + applied + ")") << "\n";
  }
  const auto check = mysql::verify_message_index(*session);
  if (!check.ok) {
    for (const auto& p : check.problems) std::cerr << "index verification failed: " << p << "\n";
    return kExitFailure;
  }
  std::cout << "index ok: message." << "ig_message_id has UNIQUE index " << check.index_name << " with collation "
            << (check.collation.empty() ? "binary" : check.collation) << "\n";
  return kExitOk;
}

int cmd_run_file(const Config& cfg, const std::string& source_spec) {
  std::unique_ptr<std::ifstream> file;
  std::istream* in = nullptr;
  std::string name;
  if (source_spec == "-") {
    in = &std::cin;
    name = "stdin";
  } else {
    name = source_spec.substr(5);
    file = std::make_unique<std::ifstream>(name, std::ios::binary);
    if (!*file) {
      std::cerr << "hm-worker: --source " << source_spec << ": cannot open '" << name << "'\n";
      return kExitUsage;
    }
    in = file.get();
  }

  Database db;
  SystemClock clock;
  mysql::SessionPool pool(
      cfg.pool, [&] { return mysql::Session::connect(db.driver, cfg.db); }, clock);
  probe_database(pool, cfg);
  mysql::MysqlMessageStore store(pool);
  IngestService service(store, clock, cfg.retry);
  service.set_store_batch(cfg.ingest.batch_size);
  FileDeadLetterSink dead_letters(cfg.ingest.dead_letter_path);
  LineSource source(*in, "file:" + name, cfg.ingest.max_delivery_bytes);
  const IngestCounts counts =
      drain_source(source, service, dead_letters, clock, cfg.ingest.max_delivery_bytes, cfg.ingest.read_count);
  const PoolStats ps = pool.stats();
  spdlog::info("done: applied={} retries={} pool peak_open={} connects={}", counts.applied, counts.retries,
               ps.peak_open, ps.connects);
  if (counts.dead_lettered > 0) spdlog::warn("{} deliveries written to {}", counts.dead_lettered, dead_letters.path());
  std::cout << counts.summary() << std::endl;
  return kExitOk;
}

// SIGTERM/SIGINT handling for the daemon: the first signal asks the workers to
// stop (they finish and acknowledge the batch in flight); a second one exits
// at once. Signals are blocked in every thread and taken by this one.
class SignalWatcher {
 public:
  explicit SignalWatcher(StopSignal& stop) : stop_(stop) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);  // before any other thread starts
    thread_ = std::thread([this] { watch(); });
  }
  ~SignalWatcher() {
    done_ = true;
    thread_.join();
  }
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  void watch() {
    int seen = 0;
    while (!done_) {
      timespec wait{0, 200L * 1000 * 1000};
      const int sig = sigtimedwait(&set_, nullptr, &wait);
      if (sig <= 0) continue;
      if (++seen == 1) {
        spdlog::info("{} received: finishing the batches in flight, then exiting", strsignal(sig));
        stop_.request();
      } else {
        spdlog::warn("second signal: exiting now; unacknowledged entries will be delivered again");
        spdlog::default_logger()->flush();
        std::_Exit(kExitFailure);
      }
    }
  }
  StopSignal& stop_;
  sigset_t set_{};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// The daemon's /readyz checks (run by StatusEndpoints' own thread) and queue
// gauges (refreshed for /metrics on the HTTP thread), with connections of their
// own (not the pool's: a busy pool must not make the database look down).
// Thread-safe: each connection behind its own mutex.
class ReadinessChecks {
 public:
  ReadinessChecks(mysql::Driver& driver, const Config& cfg, const mysql::SessionPool& pool, PrometheusMetrics& metrics)
      : driver_(driver), cfg_(cfg), pool_(pool), metrics_(metrics) {}

  std::string database() {
    std::lock_guard<std::mutex> lock(db_mutex_);
    try {
      if (!db_ || db_->broken()) db_ = mysql::Session::connect(driver_, cfg_.db);
      if (!db_->ping()) {
        db_.reset();
        return "database does not answer";
      }
      return "";
    } catch (const DbError& e) {
      db_.reset();
      return std::string("database: ") + e.what();
    }
  }

  std::string queue() {
    std::lock_guard<std::mutex> lock(admin_mutex_);
    return queue_locked();
  }

  std::string queue_locked() {
    try {
      if (!admin_) {
        admin_ = std::make_unique<redis::StreamAdmin>(
            redis::redis_options(cfg_), redis::StreamNames{cfg_.queue.stream, cfg_.queue.group, cfg_.queue.dead_letter_stream});
      }
      admin_->connection().command({"PING"});
      return "";
    } catch (const redis::RedisError& e) {
      admin_.reset();
      return std::string("redis: ") + e.what();
    }
  }

  std::string pool() const {
    const PoolStats s = pool_.stats();
    if (s.waiting > 0 && s.in_use >= s.size + s.max_overflow) {
      return "pool exhausted: " + std::to_string(s.in_use) + " connections in use, " + std::to_string(s.waiting) +
             " threads waiting";
    }
    return "";
  }

  // Metrics text, with the pool and (at most every 5 s) the queue gauges refreshed.
  std::string metrics() {
    metrics_.set_pool(pool_.stats());
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> lock(admin_mutex_);
    if (now - queue_read_ >= std::chrono::seconds(5) && queue_locked().empty()) {
      queue_read_ = now;
      try {
        metrics_.set_queue({admin_->pending(), admin_->lag(), admin_->dead_length()});
      } catch (const redis::RedisError&) {
        admin_.reset();
      }
    }
    return metrics_.serialize();
  }

 private:
  mysql::Driver& driver_;
  const Config& cfg_;
  const mysql::SessionPool& pool_;
  PrometheusMetrics& metrics_;
  std::mutex db_mutex_;
  std::unique_ptr<mysql::Session> db_;  // guarded by db_mutex_
  std::mutex admin_mutex_;
  std::unique_ptr<redis::StreamAdmin> admin_;  // guarded by admin_mutex_
  std::chrono::steady_clock::time_point queue_read_{};  // guarded by admin_mutex_
};

int cmd_run_stream(const Config& cfg) {
  // Role prerequisites are configuration: exit 2 before anything starts.
  ReplyRules rules;
  try {
    if (!cfg.roles.reply_rules_path.empty()) rules = ReplyRules::load(cfg.roles.reply_rules_path);
    if (cfg.role == "reply" && cfg.roles.reply_rules_path.empty())
      throw ConfigError("REPLY_RULES_PATH", "is empty: the reply role needs a rule file");
    if (cfg.role == "reply" && cfg.roles.graph_token.empty())
      throw ConfigError("GRAPH_ACCESS_TOKEN", "is empty: the reply role needs a token to send (or GRAPH_ACCESS_TOKEN_FILE)");
  } catch (const ConfigError& e) {
    std::cerr << "hm-worker: configuration error: " << e.what() << "\n";
    return kExitUsage;
  }
  StopSignal stop;
  SignalWatcher signals(stop);
  Database db;
  SystemClock clock;
  PrometheusMetrics metrics(cfg.role, kVersion);
  mysql::SessionPool pool(
      cfg.pool, [&] { return mysql::Session::connect(db.driver, cfg.db); }, clock);
  pool.set_wait_observer([&metrics](Clock::duration waited, bool timed_out) {
    metrics.pool_checkout(std::chrono::duration<double>(waited).count(), timed_out);
  });
  probe_database(pool, cfg);
  {
    redis::StreamAdmin admin(redis::redis_options(cfg),
                             {cfg.queue.stream, cfg.queue.group, cfg.queue.dead_letter_stream, cfg.queue.prefix});
    spdlog::info("consuming {} as group {} ({} entries, {} pending), {} threads, reads of {}, batches of {}",
                 cfg.queue.stream, cfg.queue.group, admin.length(), admin.pending(), cfg.worker.concurrency,
                 cfg.ingest.read_count, cfg.ingest.batch_size);
  }
  mysql::MysqlMessageStore store(pool);
  mysql::MysqlRoleStore role_store(pool);
  CurlHttpClient http_client;
  GraphOptions graph_options;
  graph_options.base = cfg.roles.graph_base;
  graph_options.token = cfg.roles.graph_token;
  graph_options.timeout = cfg.roles.graph_timeout;
  graph_options.retry.max_attempts = cfg.roles.graph_attempts;
  GraphApi graph(http_client, graph_options, clock, &stop);
  MediaOptions media;
  media.dir = cfg.roles.media_dir;
  media.max_bytes = cfg.roles.media_max_bytes;
  media.connect_timeout = cfg.roles.media_connect_timeout;
  media.timeout = cfg.roles.media_timeout;
  media.max_redirects = cfg.roles.media_max_redirects;
  media.retry.max_attempts = cfg.roles.graph_attempts;

  IngestService ingest(store, clock, cfg.retry, &stop, &metrics);
  ingest.set_fan_out({true, rules.empty() ? nullptr : &rules});
  ingest.set_store_batch(cfg.ingest.batch_size);
  EnrichService enrich(role_store, cfg.roles.graph_token.empty() ? nullptr : &graph,
                       EnrichOptions{cfg.roles.profile_ttl});
  MediaService media_service(role_store, http_client, media, clock, &stop);
  ReplyService reply(role_store, graph, rules, clock);
  const BatchHandler& service = cfg.role == "ingest"   ? static_cast<const BatchHandler&>(ingest)
                                : cfg.role == "enrich" ? static_cast<const BatchHandler&>(enrich)
                                : cfg.role == "media"  ? static_cast<const BatchHandler&>(media_service)
                                                       : static_cast<const BatchHandler&>(reply);
  if (cfg.role == "enrich" && cfg.roles.graph_token.empty())
    spdlog::warn("GRAPH_ACCESS_TOKEN is not set: contacts and conversations are kept, profiles are not fetched");
  WorkerTotals totals;
  WorkerHeartbeats heartbeats(cfg.worker.concurrency);

  ReadinessChecks checks(db.driver, cfg, pool, metrics);
  // A batch may legitimately take up to the visibility timeout; longer is stuck.
  StatusEndpoints endpoints(heartbeats, std::chrono::duration_cast<std::chrono::milliseconds>(cfg.queue.visibility_timeout),
                            stop, {[&] { return checks.database(); }, [&] { return checks.queue(); }, [&] { return checks.pool(); }},
                            [&] { return checks.metrics(); },
                            [&db] { return std::make_shared<mysql::Driver::ThreadScope>(db.driver); });
  std::unique_ptr<HttpServer> http;
  if (cfg.worker.metrics_port > 0) {
    http = std::make_unique<HttpServer>(
        cfg.worker.metrics_bind, cfg.worker.metrics_port, [&](const std::string& path) { return endpoints.handle(path); },
        [&db] { return std::make_shared<mysql::Driver::ThreadScope>(db.driver); });
    spdlog::info("serving /metrics, /healthz and /readyz on {}:{}", cfg.worker.metrics_bind, http->port());
  }

  std::mutex done_mutex;
  std::condition_variable done_cv;
  int running = cfg.worker.concurrency;
  bool crashed = false;
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(cfg.worker.concurrency));
  for (int i = 0; i < cfg.worker.concurrency; ++i) {
    threads.emplace_back([&, i] {
      try {
        mysql::Driver::ThreadScope scope(db.driver);
        redis::RedisStreamQueue queue(redis::stream_queue_options(cfg, i), stop);
        StreamWorkerOptions wopts;
        wopts.batch_size = cfg.ingest.read_count;
        wopts.max_deliveries = cfg.queue.max_deliveries;
        wopts.max_delivery_bytes = cfg.ingest.max_delivery_bytes;
        wopts.on_loop = [&heartbeats, i] { heartbeats.beat(i); };
        StreamWorker worker(queue, service, wopts, stop, totals, metrics);
        worker.run();
      } catch (const std::exception& e) {
        spdlog::critical("worker thread {} failed: {}", i, e.what());
        std::lock_guard<std::mutex> lock(done_mutex);
        crashed = true;
        stop.request();
      }
      heartbeats.finished(i);
      std::lock_guard<std::mutex> lock(done_mutex);
      --running;
      done_cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(done_mutex);
    while (running > 0) {
      done_cv.wait_for(lock, std::chrono::milliseconds(200));
      if (!stop.requested()) continue;
      // Stop requested: the in-flight batches get SHUTDOWN_TIMEOUT to finish.
      const bool finished = done_cv.wait_for(lock, cfg.worker.shutdown_timeout, [&] { return running == 0; });
      if (!finished) {
        spdlog::error("{} worker threads still busy after SHUTDOWN_TIMEOUT={} s; exiting, their entries will be "
                      "delivered again",
                      running, cfg.worker.shutdown_timeout.count());
        spdlog::default_logger()->flush();
        std::cout << totals.snapshot().summary() << std::endl;
        std::_Exit(kExitFailure);
      }
    }
  }
  for (auto& t : threads) t.join();
  http.reset();
  pool.close();
  const IngestCounts counts = totals.snapshot();
  spdlog::info("stopped: applied={} retries={}", counts.applied, counts.retries);
  std::cout << counts.summary() << std::endl;
  return crashed ? kExitFailure : kExitOk;
}

int cmd_run(const Config& cfg, const std::string& source_spec) {
  if (source_spec == "redis") return cmd_run_stream(cfg);
  if (cfg.role != "ingest") {
    std::cerr << "hm-worker: --role " << cfg.role << ": a file source feeds the ingest role only; the "
              << cfg.role << " role consumes its stream (--source redis)\n";
    return kExitUsage;
  }
  if (source_spec == "-" || (source_spec.rfind("file:", 0) == 0 && source_spec.size() > 5))
    return cmd_run_file(cfg, source_spec);
  std::cerr << "hm-worker: --source '" << source_spec << "': expected redis, file:PATH or -\n";
  return kExitUsage;
}

int cmd_enqueue(const Config& cfg, const std::string& input) {
  std::unique_ptr<std::ifstream> file;
  std::istream* in = &std::cin;
  if (input != "-") {
    file = std::make_unique<std::ifstream>(input, std::ios::binary);
    if (!*file) {
      std::cerr << "hm-worker: enqueue: cannot open '" << input << "'\n";
      return kExitUsage;
    }
    in = file.get();
  }
  SystemClock clock;
  redis::StreamAdmin admin(redis::redis_options(cfg), {cfg.queue.stream, cfg.queue.group, cfg.queue.dead_letter_stream});
  LineSource source(*in, input == "-" ? "stdin" : input, cfg.ingest.max_delivery_bytes);
  const std::size_t n = admin.enqueue(source, clock);
  std::cout << "enqueued=" << n << " stream=" << cfg.queue.stream << std::endl;
  return kExitOk;
}

int cmd_dead_letters(const Config& cfg, const std::string& action, const std::vector<std::string>& ids,
                     std::size_t count) {
  redis::StreamAdmin admin(redis::redis_options(cfg), {cfg.queue.stream, cfg.queue.group, cfg.queue.dead_letter_stream});
  if (action == "list") {
    for (const auto& d : admin.dead_letters(count)) {
      if (!ids.empty() && std::find(ids.begin(), ids.end(), d.id) == ids.end()) continue;
      nlohmann::ordered_json j;
      j["id"] = d.id;
      j["time"] = d.time_ms.empty() ? "" : format_utc_ms(std::stoll(d.time_ms));
      j["reason"] = d.reason;
      j["attempts"] = d.attempts;
      j["entry_id"] = d.entry_id;
      if (is_valid_utf8(d.payload)) {
        j["payload"] = d.payload;
      } else {
        j["payload_base64"] = base64_encode(d.payload);
      }
      std::cout << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
    }
    std::cerr << "dead letters in " << cfg.queue.dead_letter_stream << ": " << admin.dead_length() << "\n";
    return kExitOk;
  }
  if (action == "replay") {
    const std::size_t n = admin.replay(ids, count);
    std::cout << "replayed=" << n << " to=" << cfg.queue.stream << std::endl;
    return kExitOk;
  }
  if (action == "purge") {
    const std::size_t n = admin.purge(ids);
    std::cout << "purged=" << n << " from=" << cfg.queue.dead_letter_stream << std::endl;
    return kExitOk;
  }
  std::cerr << "hm-worker: dead-letters: unknown action '" << action << "' (list, replay, purge)\n";
  return kExitUsage;
}

}  // namespace

int run_cli(int argc, char** argv) {
  auto options = build_options();
  cxxopts::ParseResult args;
  try {
    args = options.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    std::cerr << "hm-worker: " << e.what() << "\n(see hm-worker --help)\n";
    return kExitUsage;
  }
  if (args.count("help")) {
    std::cout << help_text(options);
    return kExitOk;
  }
  if (args.count("version")) {
    std::cout << "hm-worker " << kVersion << "\n";
    return kExitOk;
  }
  if (!args.count("command")) {
    std::cerr << "hm-worker: no command given\n\n" << help_text(options);
    return kExitUsage;
  }
  const std::string command = args["command"].as<std::string>();
  std::vector<std::string> extra;
  if (args.count("extra")) extra = args["extra"].as<std::vector<std::string>>();
  const bool takes_argument = command == "enqueue" || command == "dead-letters";
  if (extra.size() > (takes_argument ? 1u : 0u)) {
    std::cerr << "hm-worker: unexpected argument '" << extra.back() << "'\n";
    return kExitUsage;
  }
  if (takes_argument && extra.empty()) {
    std::cerr << "hm-worker: " << command << " needs "
              << (command == "enqueue" ? "a FILE (or - for stdin)" : "an action: list, replay or purge") << "\n";
    return kExitUsage;
  }
  if (command != "migrate" && command != "run" && command != "config" && command != "doctor" && !takes_argument) {
    std::cerr << "hm-worker: unknown command '" << command << "' (migrate, run, enqueue, dead-letters, doctor, config)\n";
    return kExitUsage;
  }

  std::map<std::string, std::string> flags;
  for (const auto& v : known_variables()) {
    if (!v.secret && args.count(flag_name(v.name))) flags[v.name] = args[flag_name(v.name)].as<std::string>();
  }
  if (args.count("role")) flags["WORKER_ROLE"] = args["role"].as<std::string>();

  RawConfig raw;
  Config cfg;
  try {
    raw = layer_config(args.count("config") ? args["config"].as<std::string>() : "", process_env, flags);
    if (command == "config") return cmd_config(raw);
    cfg = parse_config(raw);
  } catch (const ConfigError& e) {
    std::cerr << "hm-worker: configuration error: " << e.what() << "\n";
    return kExitUsage;
  }
  const bool daemon = command == "run" && (!args.count("source") || args["source"].as<std::string>() == "redis");
  setup_logging(cfg.log, cfg.role, daemon);

  try {
    if (command == "migrate") return cmd_migrate(cfg, args.count("verify") > 0);
    if (command == "enqueue") return cmd_enqueue(cfg, extra.front());
    if (command == "doctor") {
      mysql::DoctorOptions doctor;
      try {
        if (args.count("replicas")) {
          // Roles not named keep one replica.
          for (const auto& [role, n] : mysql::parse_replicas(args["replicas"].as<std::string>())) doctor.replicas[role] = n;
        }
      } catch (const ConfigError& e) {
        std::cerr << "hm-worker: " << e.what() << "\n";
        return kExitUsage;
      }
      if (args.count("long-query-seconds")) doctor.long_query_seconds = args["long-query-seconds"].as<int>();
      return cmd_doctor(cfg, doctor, args.count("json") > 0);
    }
    if (command == "dead-letters") {
      const auto ids = args.count("id") ? args["id"].as<std::vector<std::string>>() : std::vector<std::string>{};
      const std::size_t count = args.count("count") ? args["count"].as<std::size_t>() : 100;
      return cmd_dead_letters(cfg, extra.front(), ids, count);
    }
    return cmd_run(cfg, args.count("source") ? args["source"].as<std::string>() : "redis");
  } catch (const redis::RedisError& e) {
    spdlog::critical("{}", e.what());
    std::cerr << "hm-worker: redis error: " << e.what() << "\n";
    return kExitFailure;
  } catch (const DbError& e) {
    spdlog::critical("{}", e.what());
    std::cerr << "hm-worker: database error: " << e.what() << "\n";
    return kExitFailure;
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    std::cerr << "hm-worker: " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace hm
