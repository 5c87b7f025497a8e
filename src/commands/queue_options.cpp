#include "commands/queue_options.h"

#include <unistd.h>

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
  o.linger = config.ingest.batch_linger;
  o.visibility_timeout = config.queue.visibility_timeout;
  return o;
}

}  // namespace hm
