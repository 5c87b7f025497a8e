#pragma once
// The storage seam: what the ingest service needs from a database. The MySQL
// implementation is mysql::MysqlMessageStore; tests of the logic above it use
// a fake. Implementations never throw: failures come back as a StoreResult.

#include <cstdint>
#include <string>

#include "hm/events.h"

namespace hm {

enum class StoreStatus {
  kInserted,   // a new message row was written
  kDuplicate,  // the message was already stored; nothing changed
  kApplied,    // a deletion, edit, reaction or read was recorded (idempotent)
  kSkipped,    // an event kind the store does not record
  kRetryable,  // lock wait timeout, deadlock, lost connection, pool exhausted: try again later
  kPermanent,  // bad data (e.g. a value that would be stored altered): never succeeds
};

const char* to_string(StoreStatus s);

struct StoreResult {
  StoreStatus status = StoreStatus::kPermanent;
  std::uint64_t message_id = 0;  // message.id, only for kInserted (and kDuplicate when known)
  int error_code = 0;            // server error or warning code for failures
  std::string error;             // human-readable cause for failures

  bool ok() const { return status != StoreStatus::kRetryable && status != StoreStatus::kPermanent; }
};

class MessageStore {
 public:
  virtual ~MessageStore() = default;
  // Records one event in its own transaction: all of it or nothing.
  // Thread-safe in the MySQL implementation (each call leases a connection).
  virtual StoreResult store(const Event& event) = 0;
};

}  // namespace hm
