#pragma once
// Retention of the Redis streams, so that Redis never grows without bound:
// - a consumed stream (hm:ingest, hm:enrich...) is trimmed of the entries
//   every one of its groups has acknowledged: XTRIM MINID at the smallest, over
//   all groups, of the oldest pending id and the last-delivered id. An entry
//   pending with some group, or not yet delivered to some group (its lag), is
//   never removed. A stream without any group is left alone (its producers
//   cap it: RedisStreamQueue publishes to it with XADD MAXLEN ~).
// - a dead-letter stream is trimmed of entries older than max_age (XTRIM
//   MINID by time, Redis' clock) and capped at max_entries (XTRIM MAXLEN);
// - consumers with nothing pending, idle for longer than consumer_idle_delete
//   (the pods that are gone), are deleted from their groups (XGROUP
//   DELCONSUMER); never one with pending entries, never one of ours.
// Each step on one stream is one Lua script: Redis runs it atomically, so a
// group created, a read or an acknowledgement in between cannot make it remove
// too much. Two runs at once are therefore safe; the lease (RedisLease) only
// saves the fleet from doing the same work N times per interval.
//
// Thread-safety: none; one object, one connection, one thread (a PeriodicTask).

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hm/telemetry.h"
#include "redis/connection.h"

namespace hm::redis {

// Trims `stream` of what every group acknowledged; returns the entries removed
// (0 when the stream or every group is missing). Throws RedisError.
long long trim_acknowledged(Connection& c, const std::string& stream);
// Trims a dead-letter stream: entries older than max_age (0 = no age limit)
// by their id's time against Redis' TIME, then beyond max_entries (0 = no
// count limit). Returns the entries removed. Throws RedisError.
long long trim_dead_letters(Connection& c, const std::string& dead_stream, long long max_entries,
                            std::chrono::milliseconds max_age);
// Deletes, in every group of `stream`, the consumers with no pending entry
// idle for longer than `idle`, except those named in `keep`. Returns how many.
// Throws RedisError.
long long delete_idle_consumers(Connection& c, const std::string& stream, std::chrono::milliseconds idle,
                                const std::vector<std::string>& keep);

// A lease held by at most one client at a time: SET key token NX PX ttl, given
// back by a compare-and-delete script (never deletes another holder's lease).
class RedisLease {
 public:
  // `token` must be unique to this holder (e.g. host, pid and a random number).
  RedisLease(std::string key, std::string token) : key_(std::move(key)), token_(std::move(token)) {}
  // True when this holder now holds the lease (for ttl).
  bool acquire(Connection& c, std::chrono::milliseconds ttl);
  // Deletes the lease only if this holder still holds it; true when it did.
  bool release(Connection& c);
  const std::string& token() const { return token_; }

 private:
  std::string key_;
  std::string token_;
};

// A random token naming this process: "<host>:<pid>:<random>".
std::string lease_token(const std::string& host);

struct RetentionOptions {
  RedisOptions redis;
  std::vector<std::string> streams;       // consumed streams, trimmed of what every group acknowledged
  std::vector<std::string> dead_streams;  // dead-letter streams, capped by count and age
  long long dead_letter_max_entries = 10000;  // DEAD_LETTER_MAX_ENTRIES; 0 = no count limit
  std::chrono::milliseconds dead_letter_max_age{std::chrono::hours(24 * 14)};  // DEAD_LETTER_MAX_AGE; 0 = no age limit
  // QUEUE_CONSUMER_IDLE_DELETE: consumers idle longer (with nothing pending) are deleted; 0 = never.
  std::chrono::milliseconds consumer_idle_delete{std::chrono::hours(1)};
  std::vector<std::string> own_consumers;  // this process' consumers: never deleted
  std::string lease_key;                   // e.g. hm:retention:lock
  std::string lease_token;                 // unique to this process (lease_token())
  // How long a run's lease is held (not given back after a success): one run
  // per interval in the whole fleet. QUEUE_RETENTION_INTERVAL.
  std::chrono::milliseconds retention_interval{std::chrono::seconds(60)};
};

class StreamRetention {
 public:
  StreamRetention(RetentionOptions options, Telemetry& telemetry = no_telemetry());
  ~StreamRetention();

  struct Outcome {
    bool ran = false;  // false: another process holds the lease, or Redis failed (logged)
    std::map<std::string, long long> trimmed;  // by stream, streams with removals only
    long long consumers_deleted = 0;
  };
  // One run, if the lease is free. Never throws: Redis errors are logged, the
  // connection dropped, and the lease given back for another process.
  Outcome run_once();

 private:
  Outcome run_locked(Connection& c);

  RetentionOptions options_;
  Telemetry& telemetry_;
  RedisLease lease_;
  std::unique_ptr<Connection> conn_;
};

}  // namespace hm::redis
