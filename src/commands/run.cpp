// hm-worker run --role ROLE [--source SRC]: the daemon that consumes the
// role's stream until SIGTERM, or a file run (run_file.cpp).
#include "commands/run.h"

#include <spdlog/spdlog.h>

#include <iostream>

#include "commands/readiness.h"
#include "commands/role_factory.h"
#include "commands/signal_watcher.h"
#include "commands/worker_group.h"
#include "hm/version.h"
#include "http/server.h"
#include "mysql/session.h"
#include "ops/metrics.h"
#include "ops/probes.h"
#include "commands/queue_options.h"
#include "redis/stream_admin.h"
#include "redis/stream_queue.h"
#include "worker/worker_loop.h"

namespace hm::commands {
namespace {

// Role prerequisites are configuration: a ConfigError (exit 2) before anything starts.
ReplyRules load_rules(const Config& cfg) {
  ReplyRules rules;
  if (!cfg.roles.reply_rules_path.empty()) rules = ReplyRules::load(cfg.roles.reply_rules_path);
  if (cfg.role == Role::kReply && cfg.roles.reply_rules_path.empty())
    throw ConfigError("REPLY_RULES_PATH", "is empty: the reply role needs a rule file");
  if (cfg.role == Role::kReply && cfg.roles.graph_token.empty())
    throw ConfigError("GRAPH_ACCESS_TOKEN", "is empty: the reply role needs a token to send (or GRAPH_ACCESS_TOKEN_FILE)");
  return rules;
}

void log_queue(const Config& cfg) {
  redis::StreamAdmin admin(redis_options(cfg),
                           {cfg.queue.stream, cfg.queue.group, cfg.queue.dead_letter_stream, cfg.queue.prefix});
  spdlog::info("consuming {} as group {} ({} entries, {} pending), {} threads, reads of {}, batches of {}",
               cfg.queue.stream, cfg.queue.group, admin.length(), admin.pending(), cfg.worker.concurrency,
               cfg.ingest.read_count, cfg.ingest.per_transaction);
}

// The breaker's probe: one pooled connection that answers.
Status probe_database_once(mysql::SessionPool& pool) {
  try {
    auto lease = pool.checkout();
    if (lease->ping()) return Status::Ok();
    lease.discard();
    return Status::Retryable("database does not answer");
  } catch (const DbError& e) {
    return Status::Retryable(e.what(), e.code());
  }
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

std::unique_ptr<HttpServer> serve_status(const Config& cfg, StatusEndpoints& endpoints, mysql::Driver& driver) {
  if (cfg.worker.metrics_port <= 0) return nullptr;
  auto http = std::make_unique<HttpServer>(
      cfg.worker.metrics_bind, cfg.worker.metrics_port, [&](const std::string& path) { return endpoints.handle(path); },
      [&driver] { return std::make_shared<mysql::Driver::ThreadScope>(driver); });
  spdlog::info("serving /metrics, /healthz and /readyz on {}:{}", cfg.worker.metrics_bind, http->port());
  return http;
}

}  // namespace

int run_stream(const Config& cfg) {
  ReplyRules rules;
  try {
    rules = load_rules(cfg);
  } catch (const ConfigError& e) {
    std::cerr << "hm-worker: configuration error: " << e.what() << "\n";
    return kExitUsage;
  }
  StopSignal stop;
  SignalWatcher signals(stop);
  Database db;
  SystemClock clock;
  PrometheusMetrics metrics(to_string(cfg.role), kVersion);
  mysql::SessionPool pool(
      cfg.pool, [&] { return mysql::Session::connect(db.driver, cfg.db); }, clock,
      [&metrics](Clock::duration waited, bool timed_out) {
        metrics.pool_checkout(std::chrono::duration<double>(waited).count(), timed_out);
      });
  probe_database(pool, cfg);
  log_queue(cfg);
  const auto role_handler = make_role_handler(cfg.role, {cfg, pool, clock, stop, metrics, rules});
  WorkerTotals totals;
  WorkerHeartbeats heartbeats(cfg.worker.concurrency);

  ReadinessChecks checks(db.driver, cfg.db, redis_options(cfg),
                         {cfg.queue.stream, cfg.queue.group, cfg.queue.dead_letter_stream}, pool, metrics);
  // A batch may legitimately take up to the visibility timeout; longer is stuck.
  StatusEndpoints endpoints(heartbeats, std::chrono::duration_cast<std::chrono::milliseconds>(cfg.queue.visibility_timeout),
                            stop, {[&] { return checks.database(); }, [&] { return checks.queue(); }, [&] { return checks.pool(); }},
                            [&] { return checks.metrics(); },
                            [&db] { return std::make_shared<mysql::Driver::ThreadScope>(db.driver); });
  auto http = serve_status(cfg, endpoints, db.driver);

  WorkerGroup group(
      cfg.worker.concurrency, stop,
      [&](int i) {
        work({cfg, db.driver, pool, stop, clock, role_handler->handler(), totals, heartbeats, metrics}, i);
      },
      [&heartbeats](int i) { heartbeats.finished(i); });
  if (!group.wait(cfg.worker.shutdown_timeout)) {
    spdlog::error("{} worker threads still busy after SHUTDOWN_TIMEOUT={} s; exiting, their entries will be "
                  "delivered again",
                  group.running(), cfg.worker.shutdown_timeout.count());
    spdlog::default_logger()->flush();
    std::cout << totals.snapshot().summary() << std::endl;
    std::_Exit(kExitFailure);
  }
  const bool crashed = group.crashed();
  http.reset();
  pool.close();
  const IngestCounts counts = totals.snapshot();
  spdlog::info("stopped: applied={} retries={}", counts.applied, counts.retries);
  std::cout << counts.summary() << std::endl;
  return crashed ? kExitFailure : kExitOk;
}

int run_run(const Invocation& in) {
  const Config& cfg = in.cfg;
  const std::string source_spec = in.args.count("source") ? in.args["source"].as<std::string>() : "redis";
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
