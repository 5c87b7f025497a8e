#include "commands/queue_options.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

namespace hm {
namespace {

std::string hostname() {
  if (const char* h = std::getenv("HOSTNAME"); h && *h) return h;
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) == 0 && buf[0]) return buf;
  return "hm-worker";
}

}  // namespace

redis::RedisOptions redis_options(const Config& config) {
  redis::RedisOptions r = redis::parse_redis_url(config.queue.redis_url);
  if (!config.queue.redis_password.empty()) r.password = config.queue.redis_password;
  r.connect_timeout = config.queue.redis_timeout;
  r.socket_timeout = config.queue.redis_timeout;
  return r;
}

redis::StreamNames stream_names(const Config& config) {
  return {config.queue.stream, config.queue.group, config.queue.dead_letter_stream, config.queue.prefix};
}

redis::StreamQueueOptions stream_queue_options(const Config& config, int index) {
  redis::StreamQueueOptions o;
  o.redis = redis_options(config);
  o.names = stream_names(config);
  const std::string base = config.queue.consumer.empty() ? hostname() : config.queue.consumer;
  o.consumer = base + "-" + std::to_string(index);
  o.block = config.queue.block;
  o.batch_linger = config.ingest.batch_linger;
  o.per_transaction = config.ingest.per_transaction;
  o.visibility_timeout = config.queue.visibility_timeout;
  o.unconsumed_max_entries = config.queue.unconsumed_max_entries;
  o.dead_letter_max_entries = config.queue.dead_letter_max_entries;
  return o;
}

std::vector<std::string> retained_streams(const Config& config) {
  std::vector<std::string> streams;
  streams.reserve(kAllRoles.size() + 1);
  for (Role r : kAllRoles) streams.push_back(config.queue.prefix + to_string(r));
  if (std::find(streams.begin(), streams.end(), config.queue.stream) == streams.end())
    streams.push_back(config.queue.stream);
  return streams;
}

std::vector<std::string> retained_dead_streams(const Config& config) {
  std::vector<std::string> dead;
  dead.reserve(kAllRoles.size() + 1);
  for (Role r : kAllRoles) dead.push_back(config.queue.prefix + to_string(r) + ":dead");
  if (std::find(dead.begin(), dead.end(), config.queue.dead_letter_stream) == dead.end())
    dead.push_back(config.queue.dead_letter_stream);
  return dead;
}

redis::RetentionOptions retention_options(const Config& config) {
  redis::RetentionOptions o;
  o.redis = redis_options(config);
  o.streams = retained_streams(config);
  o.dead_streams = retained_dead_streams(config);
  o.dead_letter_max_entries = config.queue.dead_letter_max_entries;
  o.dead_letter_max_age = config.queue.dead_letter_max_age;
  o.consumer_idle_delete = config.queue.consumer_idle_delete;
  for (int i = 0; i < config.worker.concurrency; ++i) o.own_consumers.push_back(stream_queue_options(config, i).consumer);
  o.lease_key = config.queue.prefix + "retention:lease";
  o.lease_token = redis::lease_token(hostname());
  o.retention_interval = config.queue.retention_interval;
  return o;
}

}  // namespace hm
