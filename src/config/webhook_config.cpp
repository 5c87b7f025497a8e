#include "config/webhook_config.h"

#include "config/values.h"

namespace hm::config {
namespace {

long long number(const RawConfig& raw, const char* name, long long min, long long max, const char* unit) {
  return parse_integer(name, raw.get(name).value_or(""), min, max, unit);
}

std::string text(const RawConfig& raw, const char* name) { return trim(raw.get(name).value_or("")); }

}  // namespace

WebhookSettings parse_webhook(const RawConfig& raw) {
  WebhookSettings w;
  w.enabled = text(raw, "WORKER_ROLE") == "webhook";
  w.port = static_cast<int>(number(raw, "WEBHOOK_PORT", 0, 65535, ""));
  w.bind = text(raw, "WEBHOOK_BIND");
  w.path = text(raw, "WEBHOOK_PATH");
  if (w.path.empty() || w.path[0] != '/' || w.path.find_first_of("?#*()[]{}\\+^$| ") != std::string::npos)
    throw ConfigError("WEBHOOK_PATH", "'" + w.path + "' must start with / and hold no ?, #, spaces or pattern characters");
  w.verify_token_file = text(raw, "WEBHOOK_VERIFY_TOKEN_FILE");
  w.app_secret_file = text(raw, "APP_SECRET_FILE");
  w.redis_replicas = static_cast<int>(number(raw, "WEBHOOK_REDIS_REPLICAS", 0, 16, " (replicas)"));
  w.redis_wait = std::chrono::milliseconds(number(raw, "WEBHOOK_REDIS_WAIT_MS", 1, 60000, " (milliseconds)"));
  w.max_backlog = number(raw, "WEBHOOK_MAX_BACKLOG", 0, 1000000000, " (entries)");
  w.threads = static_cast<int>(number(raw, "WEBHOOK_THREADS", 1, 1024, " (threads)"));
  w.drain = std::chrono::seconds(number(raw, "WEBHOOK_DRAIN_SECONDS", 0, 3600, " (seconds)"));
  if (!w.enabled) return w;
  check_bind_address("WEBHOOK_BIND", w.bind);
  const long long redis_timeout_s = number(raw, "REDIS_TIMEOUT", 1, 3600, " (seconds)");
  if (w.redis_replicas > 0 && w.redis_wait.count() >= redis_timeout_s * 1000)
    throw ConfigError("WEBHOOK_REDIS_WAIT_MS", std::to_string(w.redis_wait.count()) + " must be below REDIS_TIMEOUT (" +
                                                   std::to_string(redis_timeout_s) + " s): a longer WAIT would time out the connection");
  if (w.port == 0) throw ConfigError("WEBHOOK_PORT", "is 0: the webhook receiver needs a port");
  const long long metrics_port = number(raw, "METRICS_PORT", 0, 65535, "");
  if (metrics_port == w.port)
    throw ConfigError("WEBHOOK_PORT", std::to_string(w.port) + " is also METRICS_PORT: the two servers need two ports");
  const long long shutdown = number(raw, "SHUTDOWN_TIMEOUT", 1, 3600, " (seconds)");
  if (w.drain.count() >= shutdown)
    throw ConfigError("WEBHOOK_DRAIN_SECONDS", std::to_string(w.drain.count()) + " must be below SHUTDOWN_TIMEOUT (" +
                                                   std::to_string(shutdown) + " s)");
  if (w.verify_token_file.empty())
    throw ConfigError("WEBHOOK_VERIFY_TOKEN_FILE", "is empty: the webhook receiver needs the verify token");
  if (w.app_secret_file.empty()) throw ConfigError("APP_SECRET_FILE", "is empty: the webhook receiver needs the app secret");
  return w;
}

}  // namespace hm::config
