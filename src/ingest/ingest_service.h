#pragma once
// Turns webhook deliveries into stored rows: parse, then store, retrying
// retryable failures (lock wait timeout, deadlock, lost connection, pool
// exhausted) with exponential backoff and full jitter.
//
// It decides nothing about acknowledgement: it returns an outcome per
// delivery and the worker loop acks, dead-letters, or leaves the delivery for
// redelivery.
//
// Thread-safety: ingest() and ingest_batch() may be called from several
// threads at once when the store allows it (the MySQL store does).

#include <string>
#include <string_view>
#include <vector>

#include "hm/batch_handler.h"
#include "hm/clock.h"
#include "hm/delivery_queue.h"
#include "hm/events.h"
#include "core/retry.h"
#include "hm/message_store.h"
#include "hm/stop_signal.h"
#include "hm/telemetry.h"

namespace hm {

class ReplyRules;

// Which jobs the ingest role owes for a stored message (inserted now or found
// already stored: a redelivery re-owes them, the handlers are idempotent).
struct FanOutOptions {
  bool enabled = false;              // only the stream daemon fans out
  const ReplyRules* rules = nullptr;  // reply jobs only where a rule matches
  // The roles that get jobs at all (INGEST_FAN_OUT_ROLES); others get none.
  std::vector<Role> roles = {Role::kEnrich, Role::kMedia, Role::kReply};
};

struct IngestServiceOptions {
  RetryOptions retry;  // retries of retryable store failures, per store call
  // Most new messages handed to one store_messages() call, that is one
  // transaction (INGEST_BATCH_SIZE); 1 = the per-message path, 0 = no limit.
  std::size_t per_transaction = 0;
  FanOutOptions fan_out;  // jobs for the other roles (the stream daemon only)
};

class IngestService final : public BatchHandler {
 public:
  // `stop`, when given, cuts retry backoff short at shutdown (the delivery is
  // then left for redelivery). `telemetry`, when given, hears of every retry.
  IngestService(MessageStore& store, Clock& clock, const IngestServiceOptions& options, const StopSignal* stop = nullptr,
                Telemetry* telemetry = nullptr);

  // One delivery. Never throws. Events stored before a failure stay stored:
  // every write is idempotent, so a redelivery or a replay is safe.
  DeliveryOutcome ingest(std::string_view payload) const;

  // Several deliveries, stored together: their new messages in one
  // store_messages() call, per_transaction of them to a transaction, then
  // the other events one by one. Outcomes are aligned with the input. With one delivery holding one message this is
  // exactly ingest(). Never throws.
  std::vector<DeliveryOutcome> ingest_batch(const std::vector<std::string_view>& payloads) const;
  std::vector<DeliveryOutcome> handle(const std::vector<std::string_view>& payloads) const override {
    return ingest_batch(payloads);
  }


 private:
  MessageStore& store_;
  Clock& clock_;
  const IngestServiceOptions options_;
  const StopSignal* stop_;
  Telemetry& telemetry_;

  struct Batch;  // one ingest_batch() call's parsed deliveries and new messages
  void store_new_messages(Batch& batch) const;
  void store_other_events(Batch& batch) const;
  void add_jobs(std::vector<Job>& jobs, const NewMessage& m, std::uint64_t message_id) const;
  bool fans_out_to(Role role) const;
};

}  // namespace hm
