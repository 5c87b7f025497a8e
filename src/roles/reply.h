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
#include "hm/stop_signal.h"
#include "hm/telemetry.h"
#include "roles/job_handler.h"
#include "rules/reply_rules.h"

namespace hm {

struct ReplyOptions {
  // A reply still `sending` after this was claimed by a worker that died
  // mid-send (REPLY_SENDING_TIMEOUT): expire_stale_sends() records it
  // `unknown`. Longer than a send with all its retries.
  std::chrono::seconds sending_timeout{300};
  // A reply not sent waits in `reserved` before retry_due() tries it again:
  // after a rate limit as long as the account's pause
  // (GRAPH_RATE_LIMIT_PAUSE); after a refused token only a short while
  // (REPLY_HOUSEKEEPING_INTERVAL), because retry_due() passes the replies of
  // a paused account by, and a changed token lets them out at its next turn;
  // with the Graph API unreachable, retry_delay.
  std::chrono::seconds rate_limit_pause{60};
  std::chrono::seconds housekeeping_interval{10};
  std::chrono::seconds retry_delay{30};
  int due_batch = 50;  // deferred replies tried per retry_due() call
};

class ReplyService final : public JobHandler {
 public:
  // `stop` (may be null) ends retry_due() between replies; `telemetry` (may
  // be null) counts how each reply ended, once the store recorded it.
  ReplyService(RoleStore& store, GraphApi& graph, const ReplyRules& rules, Clock& clock, ReplyOptions options = {},
               const StopSignal* stop = nullptr, Telemetry* telemetry = nullptr)
      : JobHandler(store),
        graph_(graph),
        rules_(rules),
        clock_(clock),
        options_(options),
        stop_(stop),
        telemetry_(telemetry ? *telemetry : no_telemetry()) {}

  // Housekeeping, at start and then periodically (every sending_timeout / 2):
  // replies left in `sending` past the timeout become `unknown`, never sent
  // again. Returns how many; errors are logged and left to the next turn.
  long long expire_stale_sends() const;
  // Housekeeping too: deferred replies that are due are claimed and sent
  // (unless the message was deleted or the 24-hour window closed meanwhile:
  // then `failed`), except those of accounts whose calls are paused: they
  // stay reserved, untouched, and never crowd out the others. Returns how
  // many were handled.
  long long retry_due() const;

 private:
  DeliveryOutcome handle_message(const StoredMessage& m) const override;
  // Sends the claimed reply and records how it ended.
  DeliveryOutcome send(const StoredMessage& m, const ReplyDecision& decision) const;
  GraphApi& graph_;
  const ReplyRules& rules_;
  Clock& clock_;
  ReplyOptions options_;
  const StopSignal* stop_;
  Telemetry& telemetry_;
};

}  // namespace hm
