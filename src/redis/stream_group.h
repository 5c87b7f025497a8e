#pragma once
// What the consumer (stream_queue.h) and the operator tools (stream_admin.h)
// share about one role's stream: its names, its consumer group, and the
// wall-clock stamps written into entries.
//
// Thread-safety: plain values and functions; a Connection belongs to one thread.

#include <string>

#include "redis/connection.h"

namespace hm::redis {

struct StreamNames {
  std::string stream;       // e.g. hm:ingest
  std::string group;        // e.g. hm-worker
  std::string dead_stream;  // e.g. hm:ingest:dead
  std::string prefix = "hm:";  // jobs for role R go to <prefix>R
};

// Creates the consumer group, and the stream if missing, reading from the
// stream's first entry (entries enqueued before the first worker started are
// not skipped). An existing group is kept. Throws RedisError.
void ensure_group(Connection& c, const StreamNames& names);

// Wall-clock now in ms since the epoch: the `enqueued_at` and `time` fields.
long long now_ms();

}  // namespace hm::redis
