#pragma once
// The composition root's mapping of the configuration onto the Redis
// adapter's own options: the adapter (src/redis/) never sees Config.
//
// Thread-safety: pure functions of their arguments (hostname() reads the
// environment).

#include "config/config.h"
#include "redis/redis_url.h"
#include "redis/stream_queue.h"
#include "redis/stream_retention.h"

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

// The streams retention looks after: every role's stream (<prefix><role>) and
// the role's own QUEUE_STREAM, and their dead-letter streams.
std::vector<std::string> retained_streams(const Config& config);
std::vector<std::string> retained_dead_streams(const Config& config);

// Retention of those streams: DEAD_LETTER_MAX_ENTRIES/_AGE,
// QUEUE_CONSUMER_IDLE_DELETE (this process' consumers excluded),
// QUEUE_RETENTION_INTERVAL as the lease's length.
redis::RetentionOptions retention_options(const Config& config);

}  // namespace hm
