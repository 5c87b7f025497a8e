#pragma once
// The storage seam: what the ingest service needs from a database. The MySQL
// implementation is mysql::MysqlMessageStore; tests of the logic above it use
// a fake. Implementations never throw: failures come back as a StoreResult.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hm/events.h"
#include "hm/status.h"

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
  // A retryable failure over this row's locks (lock wait timeout, deadlock):
  // other rows can go ahead meanwhile, unlike a lost or hung connection.
  bool lock_conflict = false;

  bool ok() const { return status != StoreStatus::kRetryable && status != StoreStatus::kPermanent; }
  // The seams' category (hm/status.h): kRetryable or kPermanent for a
  // failure, kNone otherwise.
  ErrorCategory category() const {
    if (status == StoreStatus::kRetryable) return ErrorCategory::kRetryable;
    if (status == StoreStatus::kPermanent) return ErrorCategory::kPermanent;
    return ErrorCategory::kNone;
  }
};

class MessageStore {
 public:
  virtual ~MessageStore() = default;
  // Records one event in its own transaction: all of it or nothing.
  // Thread-safe in the MySQL implementation (each call leases a connection).
  virtual StoreResult store(const Event& event) = 0;

  // Stores several new messages with distinct mids; results are aligned with
  // the input. At most `per_transaction` of them share a transaction (0 = all
  // of them; 1 = each its own, the per-message path). The MySQL store makes a
  // transaction of several one fast-path check, one multi-row INSERT IGNORE
  // sorted by mid and one commit, and falls back to one message at a time when
  // that fails on bad data, so only the bad ones fail. After a failure that is
  // not a lock conflict (a lost connection, an exhausted pool) the messages not
  // yet tried get that failure without being tried: they would fail the same
  // slow way. The default stores them one by one through store().
  virtual std::vector<StoreResult> store_messages(const std::vector<NewMessage>& messages,
                                                  std::size_t per_transaction = 0);
};

// Runs `store_chunk(from, to)` over [0, count) in chunks of `per_transaction` (0 = one
// chunk) and returns the results in order; after a retryable failure that is
// not a lock conflict, the remaining chunks get that failure untried (an
// unreachable server costs one try per read). One row held by another
// transaction lets the others go ahead; a second lock wait timeout (1205) in
// the same try ends it too, so a try waits DB_LOCK_WAIT_TIMEOUT at most twice,
// not once per message (a read of 50 behind held locks would otherwise
// outlast the visibility timeout). Deadlocks (1213, answered at once) never do.
std::vector<StoreResult> store_in_chunks(
    std::size_t count, std::size_t per_transaction,
    const std::function<std::vector<StoreResult>(std::size_t from, std::size_t to)>& store_chunk);

}  // namespace hm
