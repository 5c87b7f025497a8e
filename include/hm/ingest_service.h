#pragma once
// Turns one webhook delivery into stored rows: parse, then store each event
// in its own transaction, retrying retryable failures (lock wait timeout,
// deadlock, lost connection, pool exhausted) with backoff and full jitter.
//
// It decides nothing about acknowledgement: it returns an outcome and the
// worker loop acks, dead-letters, or leaves the delivery for redelivery.
//
// Thread-safety: ingest() may be called from several threads at once when the
// store allows it (the MySQL store does); the service holds no mutable state.

#include <string>
#include <string_view>

#include "hm/clock.h"
#include "hm/config.h"
#include "hm/message_store.h"

namespace hm {

struct IngestCounts {
  long long deliveries = 0;
  long long inserted = 0;    // new messages stored
  long long duplicates = 0;  // messages already stored
  long long skipped = 0;     // events of a kind not stored
  long long applied = 0;     // deletions, edits, reactions and reads recorded
  long long dead_lettered = 0;

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

struct DeliveryOutcome {
  Verdict verdict = Verdict::kDone;
  std::string reason;  // for kDeadLetter and kRetryLater
  int attempts = 1;    // most tries any one event needed
  IngestCounts counts; // what this delivery stored (deliveries and dead_lettered not set)
};

class IngestService {
 public:
  IngestService(MessageStore& store, Clock& clock, RetryOptions retry);

  // Never throws. Events stored before a failure stay stored: every event is
  // idempotent, so a redelivery or a replay of the dead letter is safe.
  DeliveryOutcome ingest(std::string_view payload) const;

 private:
  MessageStore& store_;
  Clock& clock_;
  RetryOptions retry_;
};

}  // namespace hm
