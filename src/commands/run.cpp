// hm-worker run --role ROLE [--source SRC]: the daemon that consumes the
// role's stream until SIGTERM, or a file run (run_file.cpp).
#include "commands/run.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iostream>

#include "commands/readiness.h"
#include "commands/role_factory.h"
#include "commands/signal_watcher.h"
#include "commands/webhook.h"
#include "commands/worker_group.h"
#include "graph/account_tokens.h"
#include "hm/version.h"
#include "http/server.h"
#include "mysql/schema.h"
#include "mysql/session.h"
#include "ops/metrics.h"
#include "ops/periodic.h"
#include "ops/probes.h"
#include "commands/queue_options.h"
#include "redis/stream_admin.h"
#include "redis/stream_queue.h"
#include "redis/stream_retention.h"
#include "worker/worker_loop.h"

namespace hm::commands {
namespace {

// Role prerequisites are configuration: a ConfigError (exit 2) before anything starts.
ReplyRules load_rules(const Config& cfg) {
  ReplyRules rules;
  if (!cfg.roles.reply_rules_path.empty()) rules = ReplyRules::load(cfg.roles.reply_rules_path);
  if (cfg.role == Role::kReply && cfg.roles.reply_rules_path.empty())
    throw ConfigError("REPLY_RULES_PATH", "is empty: the reply role needs a rule file");
  if (cfg.role == Role::kReply && cfg.roles.graph_token.empty() && cfg.roles.graph_tokens_file.empty())
    throw ConfigError("GRAPH_ACCESS_TOKENS_FILE",
                      "is empty and so is GRAPH_ACCESS_TOKEN: the reply role needs the accounts' tokens to send");
  return rules;
}

// The accounts' Graph tokens (ConfigError when the file is unreadable or bad).
// Only the roles that call the Graph API read them.
std::unique_ptr<AccountTokens> load_tokens(const Config& cfg, Clock& clock) {
  const bool graph_role = cfg.role == Role::kEnrich || cfg.role == Role::kReply;
  auto tokens = std::make_unique<AccountTokens>(
      graph_role ? AccountTokensOptions{cfg.roles.graph_tokens_file, cfg.roles.graph_token} : AccountTokensOptions{},
      clock);
  if (cfg.role == Role::kReply && tokens->empty())
    throw ConfigError("GRAPH_ACCESS_TOKENS_FILE", "holds no token and GRAPH_ACCESS_TOKEN is empty: the reply role cannot send");
  if (graph_role && !cfg.roles.graph_tokens_file.empty() && !cfg.roles.graph_token.empty())
    spdlog::warn("GRAPH_ACCESS_TOKENS_FILE is set: GRAPH_ACCESS_TOKEN is not used (accounts missing from the file have no token)");
  return tokens;
}

// Start-up information only: Redis down at start is an outage like any other
// (the workers wait for it), never a reason to exit into a restart loop.
void log_queue(const Config& cfg) {
  try {
    redis::StreamAdmin admin(redis_options(cfg),
                             {cfg.queue.stream, cfg.queue.group, cfg.queue.dead_letter_stream, cfg.queue.prefix});
    spdlog::info("consuming {} as group {} ({} entries, {} pending), {} threads, reads of {}, batches of {}",
                 cfg.queue.stream, cfg.queue.group, admin.length(), admin.pending(), cfg.worker.concurrency,
                 cfg.ingest.read_count, cfg.ingest.per_transaction);
  } catch (const std::exception& e) {
    spdlog::warn("redis not reachable at start ({}); unready, waiting for it", e.what());
  }
}

// The breaker's probe: one pooled connection that answers.
Status probe_database_once(mysql::SessionPool& pool) {
  try {
    auto lease = pool.checkout();
    if (!lease->ping()) {
      lease.discard();
      return Status::Retryable("database does not answer");
    }
    // A worker started before `migrate` waits here too, until the schema is there.
    return mysql::check_schema(*lease);
  } catch (const DbError& e) {
    return Status::Retryable(e.what(), e.code());
  }
}

// The database at start. Down or refusing: logged, the workers wait for it
// (true). A TLS requirement the server cannot meet (DB_SSL_MODE) is a
// configuration problem waiting cannot fix: false, the caller exits 1.
bool database_at_start(const Config& cfg, mysql::SessionPool& pool) {
  const Status state = probe_database_once(pool);
  if (state.code == mysql::kTlsConnectionError) {
    spdlog::critical("database TLS: {}", state.message);
    std::cerr << "hm-worker: database TLS: " << state.message << "\n";
    return false;
  }
  if (!state.ok()) {
    spdlog::warn("database not ready at start: {}; unready and storing nothing until it is", state.message);
    return true;
  }
  std::string transport;
  try {
    transport = pool.checkout()->transport_description();
  } catch (const DbError& e) {
    transport = "unknown: " + std::string(e.what());
  }
  spdlog::info("database ready ({}, DB_SSL_MODE={}), pool size {} + overflow {}", transport,
               to_string(cfg.db.ssl_mode), cfg.pool.size, cfg.pool.max_overflow);
  return true;
}

// What one worker thread shares with the others.
struct Shared {
  const Config& cfg;
  mysql::Driver& driver;
  mysql::SessionPool& pool;
  StopSignal& stop;
  Clock& clock;
  const BatchHandler& handler;
  WorkerTotals& totals;
  WorkerHeartbeats& heartbeats;
  PrometheusMetrics& metrics;
};

// One worker thread: its own Redis connection and breaker, the shared handler.
void work(const Shared& s, int i) {
  const Config& cfg = s.cfg;
  mysql::Driver::ThreadScope scope(s.driver);
  redis::RedisStreamQueue queue(stream_queue_options(cfg, i), s.stop, s.metrics);
  const auto beat = [&s, i] { s.heartbeats.beat(i); };
  CircuitBreaker breaker({}, [&s] { return probe_database_once(s.pool); }, s.clock, s.stop, s.metrics, beat);
  StreamWorkerOptions options;
  options.read_count = cfg.ingest.read_count;
  options.max_deliveries = cfg.queue.max_deliveries;
  options.max_delivery_bytes = cfg.ingest.max_delivery_bytes;
  options.on_loop = beat;
  options.breaker = &breaker;
  StreamWorker worker(queue, s.handler, options, s.stop, s.totals, s.metrics);
  worker.run();
}

std::unique_ptr<HttpServer> serve_status(const Config& cfg, StatusEndpoints& endpoints) {
  if (cfg.worker.metrics_port <= 0) return nullptr;
  auto http = std::make_unique<HttpServer>(cfg.worker.metrics_bind, cfg.worker.metrics_port,
                                           [&endpoints](const std::string& path) { return endpoints.handle(path); });
  spdlog::info("serving /metrics, /healthz and /readyz on {}:{}", cfg.worker.metrics_bind, http->port());
  return http;
}

// The role's housekeeping (e.g. expiring replies left in `sending`), on a
// thread of its own; none when the role has none.
std::unique_ptr<PeriodicTask> start_housekeeping(const RoleHandler& role, mysql::Driver& driver) {
  if (role.housekeeping_interval().count() <= 0) return nullptr;
  return std::make_unique<PeriodicTask>(
      role.housekeeping_interval(), [&role] { role.housekeeping(); },
      [&driver] { return std::make_shared<mysql::Driver::ThreadScope>(driver); });
}

// Retention of the streams (redis/stream_retention.h), every
// QUEUE_RETENTION_INTERVAL on a thread of its own; one process of the fleet
// does a period's run (a lease in Redis). None when the interval is 0.
std::unique_ptr<PeriodicTask> start_retention(const Config& cfg, Telemetry& telemetry) {
  if (cfg.queue.retention_interval.count() <= 0) return nullptr;
  // Owned by the task (which may outlive this frame when detached at stop).
  auto retention = std::make_shared<redis::StreamRetention>(retention_options(cfg), telemetry);
  return std::make_unique<PeriodicTask>(cfg.queue.retention_interval, [retention] { retention->run_once(); });
}

// The share of SHUTDOWN_TIMEOUT kept for stopping the helper threads (the HTTP
// server, the background checks) once the workers are done: a quarter, at
// most 2 s. The workers get the rest, so the whole stop fits in the timeout.
std::chrono::milliseconds helper_reserve(std::chrono::milliseconds shutdown_timeout) {
  return std::clamp(shutdown_timeout / 4, std::chrono::milliseconds(100), std::chrono::milliseconds(2000));
}

// Ends the process now without destructors (threads that could not be joined
// still use what they would free): logs flushed, the totals printed.
[[noreturn]] void exit_now(const WorkerTotals& totals, int code) {
  spdlog::default_logger()->flush();
  std::cout << totals.snapshot().summary() << std::endl;
  std::_Exit(code);
}

}  // namespace

int run_stream(const Config& cfg) {
  SystemClock clock;
  ReplyRules rules;
  std::unique_ptr<AccountTokens> tokens;
  try {
    rules = load_rules(cfg);
    tokens = load_tokens(cfg, clock);
  } catch (const ConfigError& e) {
    std::cerr << "hm-worker: configuration error: " << e.what() << "\n";
    return kExitUsage;
  }
  StopSignal stop;
  SignalWatcher signals(stop);
  Database db;
  PrometheusMetrics metrics(cfg.role, kVersion);
  mysql::SessionPool pool(
      cfg.pool, [&] { return mysql::Session::connect(db.driver, cfg.db); }, clock,
      [&metrics](Clock::duration waited, bool timed_out) {
        metrics.pool_checkout(std::chrono::duration<double>(waited).count(), timed_out);
      });
  if (!database_at_start(cfg, pool)) return kExitFailure;
  log_queue(cfg);
  const auto role_handler = make_role_handler(cfg.role, {cfg, pool, clock, stop, metrics, rules, *tokens});
  WorkerTotals totals;
  WorkerHeartbeats heartbeats(cfg.worker.concurrency, clock);

  ReadinessChecks checks(db.driver, cfg.db, redis_options(cfg),
                         {cfg.queue.stream, cfg.queue.group, cfg.queue.dead_letter_stream}, pool, metrics);
  std::vector<std::string> measured = retained_streams(cfg);
  for (auto& d : retained_dead_streams(cfg)) measured.push_back(std::move(d));
  checks.measure_streams(std::move(measured));
  StatusEndpoints::Background background;
  background.readiness = {[&] { return checks.database(); }, [&] { return checks.queue(); }, [&] { return checks.pool(); }};
  background.notes = [&role_handler] { return role_handler->readiness_notes(); };
  background.gather = [&checks] { checks.gather_queue_gauges(); };
  background.thread_scope = [&db] { return std::make_shared<mysql::Driver::ThreadScope>(db.driver); };
  // A batch may legitimately take up to the visibility timeout; longer is stuck.
  StatusEndpoints endpoints(heartbeats, std::chrono::duration_cast<std::chrono::milliseconds>(cfg.queue.visibility_timeout),
                            stop, std::move(background), [&checks] { return checks.metrics(); });
  auto http = serve_status(cfg, endpoints);
  auto housekeeping = start_housekeeping(*role_handler, db.driver);
  auto retention = start_retention(cfg, metrics);

  const std::chrono::milliseconds shutdown_timeout = cfg.worker.shutdown_timeout;
  const std::chrono::milliseconds reserve = helper_reserve(shutdown_timeout);
  WorkerGroup group(
      cfg.worker.concurrency, stop,
      [&](int i) {
        work({cfg, db.driver, pool, stop, clock, role_handler->handler(), totals, heartbeats, metrics}, i);
      },
      [&heartbeats](int i) { heartbeats.finished(i); });
  if (!group.wait(shutdown_timeout - reserve)) {
    spdlog::error("{} worker threads still busy after SHUTDOWN_TIMEOUT={} s; exiting 1, their entries were not "
                  "acknowledged and will be delivered again",
                  group.running(), cfg.worker.shutdown_timeout.count());
    exit_now(totals, kExitFailure);
  }
  const int code = group.crashed() ? kExitFailure : kExitOk;
  // Every join below is bounded: a helper stuck in a connect must not hold up the exit.
  const auto helpers_deadline = std::chrono::steady_clock::now() + reserve;
  auto left = [&] {
    return std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                      helpers_deadline - std::chrono::steady_clock::now()));
  };
  const bool http_stopped = !http || http->stop(left());
  const bool housekeeping_stopped = !housekeeping || housekeeping->stop(left());
  const bool retention_stopped = !retention || retention->stop(left());
  if (!http_stopped || !endpoints.stop(left()) || !housekeeping_stopped || !retention_stopped) {
    spdlog::warn("a status thread did not stop within {} ms; exiting without waiting for it", reserve.count());
    exit_now(totals, code);
  }
  http.reset();
  pool.close();
  const IngestCounts counts = totals.snapshot();
  spdlog::info("stopped: applied={} retries={}", counts.applied, counts.retries);
  std::cout << counts.summary() << std::endl;
  return code;
}

int run_run(const Invocation& in) {
  const Config& cfg = in.cfg;
  const std::string source_spec = in.args.count("source") ? in.args["source"].as<std::string>() : "redis";
  if (cfg.webhook.enabled) {
    if (source_spec == "redis") return run_webhook(cfg);
    std::cerr << "hm-worker: --role webhook: takes no --source (it serves HTTP)\n";
    return kExitUsage;
  }
  if (source_spec == "redis") return run_stream(cfg);
  if (cfg.role != Role::kIngest) {
    const char* role = to_string(cfg.role);
    std::cerr << "hm-worker: --role " << role << ": a file source feeds the ingest role only; the " << role
              << " role consumes its stream (--source redis)\n";
    return kExitUsage;
  }
  if (source_spec == "-" || (source_spec.rfind("file:", 0) == 0 && source_spec.size() > 5)) return run_file(cfg, source_spec);
  std::cerr << "hm-worker: --source '" << source_spec << "': expected redis, file:PATH or -\n";
  return kExitUsage;
}

}  // namespace hm::commands
