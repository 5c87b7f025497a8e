#pragma once
// The queue seam for the long-running worker: a source of deliveries that
// must be acknowledged once stored (at-least-once), with a dead-letter place
// for those that can never be stored. Implemented on Redis Streams
// (redis/stream_queue.h); tests use a fake.
//
// A DeliveryQueue object belongs to one worker thread.
//
// Errors follow the seams' one convention (hm/status.h): read() never fails
// (an unreachable queue reads as empty); ack() and dead_letter() return a
// Status and never throw.

#include <string>
#include <vector>

#include "hm/role.h"
#include "hm/status.h"

namespace hm {

struct QueueEntry {
  std::string id;             // the queue's id for the entry (stream entry id)
  std::string payload;        // the webhook delivery, as enqueued
  long long enqueued_ms = 0;  // when it was enqueued (ms since epoch), 0 if unknown
  int deliveries = 1;         // times it has been delivered, this time included
  std::string problem;        // set when the entry itself is malformed (e.g. no payload field)
  long long received_ms = 0;  // when the webhook receiver got it (ms since epoch), 0 if it did not
};

struct OutboundJob {
  Role role = Role::kEnrich;  // the stream of that role receives it
  std::string payload;
};

class DeliveryQueue {
 public:
  virtual ~DeliveryQueue() = default;

  // Up to `max` entries: first those this consumer left unacknowledged before
  // (after a restart) and those reclaimed from dead consumers, then new ones.
  // Waits a bounded time; returns empty on timeout, on stop, or while the
  // queue is unreachable (it reconnects with backoff). Never throws.
  virtual std::vector<QueueEntry> read(std::size_t max) = 0;

  // Publishes the jobs the stored entries owe to other roles, then
  // acknowledges the entries, only once every job is published (so neither a
  // crash nor a failure ever acknowledges an entry whose jobs were not
  // published). On failure nothing was acknowledged (some jobs may have been
  // published) and the entries will be delivered again, which the unique key
  // and the idempotent handlers make harmless. Failures are Retryable: the
  // queue could not be told (unreachable, connection lost, stop requested)
  // or refused a command with an error reply (which waiting may fix).
  virtual Status ack(const std::vector<std::string>& ids, const std::vector<OutboundJob>& jobs) = 0;
  Status ack(const std::vector<std::string>& ids) { return ack(ids, {}); }

  // Writes one entry to the dead-letter place with the reason and attempt
  // count, then acknowledges it, only once the dead letter is written. On
  // failure the entry stays pending (and will be delivered again; a dead
  // letter may then be written twice, never lost); failures are as in ack().
  virtual Status dead_letter(const QueueEntry& entry, const std::string& reason, int attempts) = 0;

  // Leaves entries pending (delivered again after the visibility timeout)
  // without counting this delivery toward the dead-letter limit: they wait for
  // something outside them (DeliveryOutcome::counts_as_delivery). On failure
  // the delivery simply counts; failures are as in ack().
  virtual Status keep_uncounted(const std::vector<QueueEntry>& entries) = 0;
};

}  // namespace hm
