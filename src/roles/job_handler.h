#pragma once
// The base of the enrich, media and reply roles: a BatchHandler fed by jobs
// that ingest publishes ({"mid": "...", "message_id": N}). handle() takes each
// job on its own: it parses the job, reads the message it names and runs the
// role's step on that message. A job that is not {"mid": "..."}, names no
// stored message, or names one whose account or customer id is not decimal
// digits (it would become a Graph API path) is dead-lettered; a failing store call is left for a later
// delivery when retryable and dead-lettered otherwise. Every step is
// idempotent, so a job seen twice does no harm.
// Thread-safe when the role's step is (each role's is): handle() keeps no state.

#include <string>
#include <string_view>
#include <vector>

#include "hm/batch_handler.h"
#include "hm/role_store.h"
#include "hm/status.h"

namespace hm {

// Parses a job payload; returns the mid (printable ASCII, at most
// kMaxMidLength bytes, as the parser accepts), or an error.
bool parse_job(std::string_view payload, std::string* mid, std::string* error);
// Empty when the stored message's account and customer ids are Instagram ids
// (decimal digits); otherwise which one is not, and why.
std::string stored_ids_problem(const StoredMessage& m);

class JobHandler : public BatchHandler {
 public:
  explicit JobHandler(RoleStore& store) : store_(store) {}
  // One outcome per payload, in order. Never throws.
  std::vector<DeliveryOutcome> handle(const std::vector<std::string_view>& payloads) const final;

 protected:
  // The role's work on the message a job names. May throw; an exception
  // becomes a kRetryLater outcome ("unexpected: ...").
  virtual DeliveryOutcome handle_message(const StoredMessage& message) const = 0;

  RoleStore& store() const { return store_; }

  // Acknowledge; `applied` is what the job recorded.
  static DeliveryOutcome done(long long applied = 1);
  static DeliveryOutcome dead(std::string reason);
  static DeliveryOutcome later(std::string reason);
  // Left pending like later(), but this delivery does not count toward
  // QUEUE_MAX_DELIVERIES: the job waits for something outside it (an
  // account's token, a rate limit), never for long enough to be a dead letter.
  static DeliveryOutcome wait(std::string reason);
  // A failed store call: kRetryable is retried later with the store's
  // message as the reason; any other category is dead-lettered ("cannot be
  // stored: <message>").
  static DeliveryOutcome store_failed(const Status& s);

 private:
  DeliveryOutcome handle_job(std::string_view payload) const;
  RoleStore& store_;
};

}  // namespace hm
