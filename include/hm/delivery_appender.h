#pragma once
// Where the webhook receiver puts a delivery: the ingest stream. append()
// returns only once the store has acknowledged the entry (Redis answered the
// XADD, and WAITed for the replicas asked for), so a caller may answer 200
// exactly when it returns Ok.
//
// Failures: kRetryable = nothing was stored (the store is down or refused):
// the sender must deliver again; kUnknown = the entry was added but fewer
// replicas than asked for confirmed it (the sender is asked to deliver again;
// ingest stores a repeated delivery once).
//
// Thread-safety: append() and backlog() may be called from any number of
// threads at once.

#include <string>

#include "hm/status.h"

namespace hm {

class DeliveryAppender {
 public:
  virtual ~DeliveryAppender() = default;
  // Adds the raw payload bytes, unchanged, with the time it was received
  // (ms since the epoch).
  virtual Status append(const std::string& payload, long long received_ms) = 0;
};

}  // namespace hm
