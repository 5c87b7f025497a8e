#pragma once
// The handler seam: what a stream worker runs for each batch of its role, and
// the outcome it returns per delivery. The worker loop decides from the
// outcome alone whether to acknowledge, dead-letter or leave an entry for
// redelivery. Implemented by the ingest service and the three job roles.

#include <string>
#include <string_view>
#include <vector>

#include "hm/delivery_queue.h"

namespace hm {

struct IngestCounts {
  long long deliveries = 0;
  long long inserted = 0;    // new messages stored
  long long duplicates = 0;  // messages already stored (or twice in one batch)
  long long skipped = 0;     // events of a kind not stored
  long long applied = 0;     // deletions, edits, reactions and reads recorded
  long long dead_lettered = 0;
  long long retries = 0;     // store calls repeated after a retryable error

  IngestCounts& operator+=(const IngestCounts& o);
  // "deliveries=N inserted=N duplicates=N skipped=N dead_lettered=N"
  std::string summary() const;
};

enum class Verdict {
  kDone,        // everything stored (or already there): acknowledge
  kDeadLetter,  // can never succeed (bad payload, data error): dead-letter, then acknowledge
  kRetryLater,  // retries ran out on retryable errors: leave for redelivery
};

const char* to_string(Verdict v);

// Work for another role (enrich, media, reply; payload {"mid": "...",
// "message_id": N}), published atomically with the acknowledgement of the
// delivery that caused it.
using Job = OutboundJob;

struct DeliveryOutcome {
  Verdict verdict = Verdict::kDone;
  std::string reason;  // for kDeadLetter and kRetryLater
  int attempts = 1;    // most tries any store call for this delivery needed
  IngestCounts counts; // what this delivery stored (deliveries and dead_lettered not set)
  // For kRetryLater: the dependency that was unreachable ("database"), when
  // that (and not a lock conflict) is why; the worker then pauses its work
  // until the dependency answers (worker/breaker.h).
  std::string unavailable;
  // For kRetryLater: false when the entry waits for something outside it and
  // outside the infrastructure (an account's Graph token refused, its calls
  // rate limited): this delivery is then not counted toward
  // QUEUE_MAX_DELIVERIES, so a long wait never makes it a dead letter.
  bool counts_as_delivery = true;
  std::vector<Job> jobs;  // published when the delivery is acknowledged
};

// What a stream worker runs for each batch of its role. Never throws.
// Thread-safe: called from every worker thread of a process.
class BatchHandler {
 public:
  virtual ~BatchHandler() = default;
  virtual std::vector<DeliveryOutcome> handle(const std::vector<std::string_view>& payloads) const = 0;
};

}  // namespace hm
