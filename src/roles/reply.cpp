#include "roles/reply.h"

#include "ops/logging.h"

namespace hm {
namespace {

constexpr long long kReplyWindowMs = 24LL * 3600 * 1000;

}  // namespace

DeliveryOutcome ReplyService::handle_message(const StoredMessage& m) const {
  const std::string& mid = m.mid;
  DeliveryOutcome nothing = done(0);
  if (m.direction != "inbound" || m.is_deleted) return nothing;
  const long long now = clock_.wall_ms();
  const auto last = store().last_inbound_ms(m.account_id, m.customer_id);
  if (!last || now - *last > kReplyWindowMs) {
    log_event(spdlog::level::info, "no reply: outside the 24-hour window", {{"mid", mid}});
    return nothing;
  }
  const auto decision = rules_.match(m.account_id, m.text.value_or(""), now);
  if (!decision) return nothing;
  store().reserve_reply(m.id, m.account_id, m.customer_id, decision->rule, decision->text);
  // Only the holder of the reservation in `reserved` may send: whoever finds it
  // sending, sent, failed or unknown does nothing (at most once).
  if (!store().claim_reply_send(m.id)) return nothing;
  // Deleted while we were deciding? Then do not send.
  const auto fresh = store().find_message(mid);
  if (!fresh || fresh->is_deleted) {
    store().finish_reply(m.id, "failed", "", "message deleted before the reply was sent");
    return nothing;
  }
  const SendResult r = graph_.send_text(m.account_id, m.customer_id, decision->text);
  switch (r.outcome) {
    case GraphOutcome::kOk:
      store().finish_reply(m.id, "sent", r.message_id, "");
      log_event(spdlog::level::info, "reply sent", {{"mid", mid}, {"rule", decision->rule}, {"attempts", r.attempts}});
      return done();
    case GraphOutcome::kUnknown:
      store().finish_reply(m.id, "unknown", "", r.error);
      log_event(spdlog::level::warn, "reply outcome unknown; not sent again", {{"mid", mid}, {"error", r.error}});
      return nothing;
    default:
      store().finish_reply(m.id, "failed", "", r.error);
      log_event(spdlog::level::warn, "reply failed", {{"mid", mid}, {"attempts", r.attempts}, {"error", r.error}});
      return nothing;
  }
}

}  // namespace hm
