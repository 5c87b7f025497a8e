#pragma once
// The reply role: sends the auto-reply a rule chooses, at most once per
// inbound message: never to echoes or deleted messages, never outside the
// 24-hour window since the customer's last message. The reply is reserved in
// `reply` (keyed by the inbound message) before it is sent, and only the
// caller that moves it from reserved to sending may send it.
// Thread-safe: the store, the Graph client and the rules are.

#include <chrono>

#include "graph/graph_api.h"
#include "hm/clock.h"
#include "roles/job_handler.h"
#include "rules/reply_rules.h"

namespace hm {

struct ReplyOptions {
  // A reply still `sending` after this was claimed by a worker that died
  // mid-send (REPLY_SENDING_TIMEOUT): expire_stale_sends() records it
  // `unknown`. Longer than a send with all its retries.
  std::chrono::seconds sending_timeout{300};
};

class ReplyService final : public JobHandler {
 public:
  ReplyService(RoleStore& store, GraphApi& graph, const ReplyRules& rules, Clock& clock, ReplyOptions options = {})
      : JobHandler(store), graph_(graph), rules_(rules), clock_(clock), options_(options) {}

  // Housekeeping, at start and then periodically (every sending_timeout / 2):
  // replies left in `sending` past the timeout become `unknown`, never sent
  // again. Returns how many; errors are logged and left to the next turn.
  long long expire_stale_sends() const;

 private:
  DeliveryOutcome handle_message(const StoredMessage& m) const override;
  // Sends the claimed reply and records how it ended.
  DeliveryOutcome send(const StoredMessage& m, const ReplyDecision& decision) const;
  GraphApi& graph_;
  const ReplyRules& rules_;
  Clock& clock_;
  ReplyOptions options_;
};

}  // namespace hm
