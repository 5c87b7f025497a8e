// hm-worker run --role webhook: the HTTPS callback receiver (TLS ends at the
// ingress). Meta's deliveries, signature-checked, go unchanged onto the
// ingest stream; 200 only once Redis acknowledged them. /metrics, /healthz
// and /readyz stay on METRICS_PORT like every other role's.
#include "commands/webhook.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>

#include "commands/queue_options.h"
#include "commands/signal_watcher.h"
#include "hm/version.h"
#include "http/server.h"
#include "http/webhook_server.h"
#include "ops/metrics.h"
#include "ops/probes.h"
#include "redis/stream_admin.h"
#include "redis/stream_appender.h"
#include "webhook/receiver.h"
#include "webhook/signature.h"
#include "webhook/webhook_metrics.h"

namespace hm::commands {
namespace {

// The ingest stream's backlog (entries not yet delivered to the group plus
// those delivered and not acknowledged), read on the status thread every
// second; -1 while Redis cannot be read.
class BacklogWatch {
 public:
  BacklogWatch(redis::RedisOptions redis, redis::StreamNames names, webhook::WebhookMetrics& metrics)
      : redis_(std::move(redis)), names_(std::move(names)), metrics_(metrics) {}

  long long last() const { return backlog_.load(); }

  // A readiness check that never fails the pod: Redis being down is answered
  // by the receiver itself (503 + Retry-After), on every replica alike.
  std::string refresh() {
    try {
      if (!admin_) admin_ = std::make_unique<redis::StreamAdmin>(redis_, names_);
      const long long lag = admin_->lag();
      const long long pending = admin_->pending();
      backlog_.store(pending + (lag >= 0 ? lag : 0));
    } catch (const std::exception& e) {
      admin_.reset();
      if (backlog_.exchange(-1) != -1) spdlog::warn("webhook: cannot read the ingest backlog: {}", e.what());
    }
    metrics_.backlog(backlog_.load());
    return "";
  }

 private:
  redis::RedisOptions redis_;
  redis::StreamNames names_;
  webhook::WebhookMetrics& metrics_;
  std::unique_ptr<redis::StreamAdmin> admin_;  // used by the status thread only
  std::atomic<long long> backlog_{-1};
};

webhook::ReceiverOptions receiver_options(const Config& cfg, std::string token) {
  webhook::ReceiverOptions o;
  o.verify_token = std::move(token);
  o.max_backlog = cfg.webhook.max_backlog;
  return o;
}

WebhookServerOptions server_options(const Config& cfg) {
  WebhookServerOptions o;
  o.path = cfg.webhook.path;
  o.threads = cfg.webhook.threads;
  o.max_delivery_bytes = cfg.ingest.max_delivery_bytes;
  return o;
}

redis::StreamAppenderOptions appender_options(const Config& cfg) {
  redis::StreamAppenderOptions o;
  o.redis = redis_options(cfg);
  o.stream = cfg.queue.stream;
  o.replicas = cfg.webhook.redis_replicas;
  o.redis_wait = cfg.webhook.redis_wait;
  o.max_idle = static_cast<std::size_t>(cfg.webhook.threads);
  return o;
}

}  // namespace

int run_webhook(const Config& cfg) {
  std::vector<std::string> secrets;
  std::string token;
  try {
    secrets = webhook::read_app_secrets(cfg.webhook.app_secret_file);
    token = webhook::read_verify_token(cfg.webhook.verify_token_file);
  } catch (const ConfigError& e) {
    std::cerr << "hm-worker: configuration error: " << e.what() << "\n";
    return kExitUsage;
  }
  StopSignal stop;
  SignalWatcher signals(stop);
  SystemClock clock;
  PrometheusMetrics metrics(std::nullopt, kVersion);
  webhook::WebhookMetrics webhook_metrics;
  redis::RedisStreamAppender appender(appender_options(cfg));
  BacklogWatch backlog(redis_options(cfg), stream_names(cfg), webhook_metrics);
  const std::size_t secret_count = secrets.size();
  const webhook::SignatureCheck signatures(std::move(secrets));
  webhook::WebhookReceiver receiver(receiver_options(cfg, std::move(token)), signatures, appender,
                                    [&backlog] { return backlog.last(); }, webhook_metrics, clock);

  WorkerHeartbeats heartbeats(0, clock);
  StatusEndpoints::Background background;
  background.readiness = {[&backlog] { return backlog.refresh(); }};
  StatusEndpoints endpoints(heartbeats, std::chrono::minutes(1), stop, std::move(background),
                            [&] { return metrics.serialize() + webhook_metrics.serialize(); });
  std::unique_ptr<HttpServer> status;
  std::unique_ptr<WebhookServer> server;
  try {
    if (cfg.worker.metrics_port > 0)
      status = std::make_unique<HttpServer>(cfg.worker.metrics_bind, cfg.worker.metrics_port,
                                            [&endpoints](const std::string& path) { return endpoints.handle(path); });
    server = std::make_unique<WebhookServer>(
        cfg.webhook.bind, cfg.webhook.port, [&receiver](const WebhookRequest& r) { return receiver.handle(r); },
        server_options(cfg));
  } catch (const std::runtime_error& e) {
    std::cerr << "hm-worker: " << e.what() << "\n";
    return kExitFailure;
  }
  spdlog::info("webhook receiver on {}:{}{} -> {} ({} secrets, WAIT for {} replicas, backlog limit {}), status on {}:{}",
               cfg.webhook.bind, server->port(), cfg.webhook.path, cfg.queue.stream, secret_count,
               cfg.webhook.redis_replicas, cfg.webhook.max_backlog, cfg.worker.metrics_bind,
               status ? status->port() : 0);

  while (!stop.wait_for(std::chrono::seconds(1))) {
    if (!server->listening()) {  // cpp-httplib's accept loop gave up: exit, so Kubernetes restarts the pod
      spdlog::error("the webhook listener on port {} stopped accepting connections; exiting 1", server->port());
      spdlog::default_logger()->flush();
      std::_Exit(kExitFailure);
    }
  }
  // Unready from here (StatusEndpoints answers 503 once stop is requested);
  // keep serving while the load balancer takes this pod out.
  const auto deadline = std::chrono::steady_clock::now() + cfg.worker.shutdown_timeout;
  spdlog::info("stopping: unready; serving {} s more, then closing the port", cfg.webhook.drain.count());
  std::this_thread::sleep_for(cfg.webhook.drain);
  const auto left = [&deadline] {
    return std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                      deadline - std::chrono::steady_clock::now()));
  };
  if (!server->stop(left())) {
    spdlog::error("webhook requests still running after SHUTDOWN_TIMEOUT={} s; exiting 1",
                  cfg.worker.shutdown_timeout.count());
    spdlog::default_logger()->flush();
    std::_Exit(kExitFailure);
  }
  if ((status && !status->stop(left())) || !endpoints.stop(left())) {
    spdlog::warn("a status thread did not stop in time; exiting without waiting for it");
    spdlog::default_logger()->flush();
    std::_Exit(kExitOk);
  }
  spdlog::info("stopped");
  return kExitOk;
}

}  // namespace hm::commands
