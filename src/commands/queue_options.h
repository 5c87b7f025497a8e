#pragma once
// The composition root's mapping of the configuration onto the Redis
// adapter's own options: the adapter (src/redis/) never sees Config.
//
// Thread-safety: pure functions of their arguments (hostname() reads the
// environment).

#include "config/config.h"
#include "redis/redis_url.h"
#include "redis/stream_queue.h"

namespace hm {

// REDIS_URL, with REDIS_PASSWORD(_FILE) winning over a password in the URL and
// REDIS_TIMEOUT as both the connect and the command timeout. Throws
// ConfigError naming REDIS_URL.
redis::RedisOptions redis_options(const Config& config);

// The role's stream, group, dead-letter stream and the jobs' prefix.
redis::StreamNames stream_names(const Config& config);

// The options of worker thread `index`: consumer "<CONSUMER_NAME or
// $HOSTNAME>-<index>", the role's stream names, QUEUE_BLOCK_MS,
// INGEST_BATCH_LINGER_MS and QUEUE_VISIBILITY_TIMEOUT. Throws ConfigError.
redis::StreamQueueOptions stream_queue_options(const Config& config, int index);

}  // namespace hm
