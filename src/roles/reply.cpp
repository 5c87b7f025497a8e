#include "roles/reply.h"

#include "ops/logging.h"

namespace hm {
namespace {

constexpr long long kReplyWindowMs = 24LL * 3600 * 1000;

}  // namespace

DeliveryOutcome ReplyService::handle_message(const StoredMessage& m) const {
  const std::string& mid = m.mid;
  if (m.direction != Direction::kInbound || m.is_deleted) return done(0);
  const long long now = clock_.wall_ms();
  const auto last = store().last_inbound_ms(m.account_id, m.customer_id);
  if (!last.ok()) return store_failed(last.status);
  if (!last.value || now - *last.value > kReplyWindowMs) {
    log_event(spdlog::level::info, "no reply: outside the 24-hour window", {{"mid", mid}});
    return done(0);
  }
  const auto decision = rules_.match(m.account_id, m.text.value_or(""), now);
  if (!decision) return done(0);
  const auto reserved = store().reserve_reply(m.id, m.account_id, m.customer_id, decision->rule, decision->text);
  if (!reserved.ok()) return store_failed(reserved.status);
  // Only the holder of the reservation in `reserved` may send: whoever finds it
  // sending, sent, failed or unknown does nothing (at most once).
  const auto claimed = store().claim_reply_send(m.id);
  if (!claimed.ok()) return store_failed(claimed.status);
  if (!claimed.value) return done(0);
  // Deleted while we were deciding? Then do not send.
  const auto fresh = store().find_message(mid);
  if (!fresh.ok()) return store_failed(fresh.status);
  if (!fresh.value || fresh.value->is_deleted) {
    const Status s = store().finish_reply(m.id, ReplyStatus::kFailed, "", "message deleted before the reply was sent");
    if (!s.ok()) return store_failed(s);
    telemetry_.replied(ReplyEnd::kFailed, 1);
    return done(0);
  }
  return send(m, *decision);
}

DeliveryOutcome ReplyService::send(const StoredMessage& m, const ReplyDecision& decision) const {
  const SendResult r = graph_.send_text(m.account_id, m.customer_id, decision.text);
  Status s;
  switch (category(r.outcome)) {
    case ErrorCategory::kNone:
      s = store().finish_reply(m.id, ReplyStatus::kSent, r.message_id, "");
      if (!s.ok()) return store_failed(s);
      telemetry_.replied(ReplyEnd::kSent, 1);
      log_event(spdlog::level::info, "reply sent", {{"mid", m.mid}, {"rule", decision.rule}, {"attempts", r.attempts}});
      return done();
    case ErrorCategory::kUnknown:
      s = store().finish_reply(m.id, ReplyStatus::kUnknown, "", r.error);
      if (!s.ok()) return store_failed(s);
      telemetry_.replied(ReplyEnd::kUnknown, 1);
      log_event(spdlog::level::warn, "reply outcome unknown; not sent again", {{"mid", m.mid}, {"error", r.error}});
      return done(0);
    case ErrorCategory::kRetryable: {
      // Not sent, and provably so: back to `reserved`, tried again by the
      // housekeeping once due (the 24-hour window leaves hours).
      const auto delay = r.outcome == GraphOutcome::kAuth          ? options_.housekeeping_interval
                         : r.outcome == GraphOutcome::kRateLimited ? options_.rate_limit_pause
                                                                    : options_.retry_delay;
      s = store().defer_reply(m.id, delay, std::string(to_string(r.outcome)) + ": " + r.error);
      if (!s.ok()) return store_failed(s);
      telemetry_.replied(ReplyEnd::kDeferred, 1);
      log_event(spdlog::level::warn, "reply deferred",
                {{"mid", m.mid}, {"reason", to_string(r.outcome)}, {"retry_in_s", static_cast<long long>(delay.count())},
                 {"error", r.error}});
      return done(0);
    }
    case ErrorCategory::kPermanent:  // refused for good, or no token for the account
      break;
  }
  s = store().finish_reply(m.id, ReplyStatus::kFailed, "", r.error);
  if (!s.ok()) return store_failed(s);
  telemetry_.replied(ReplyEnd::kFailed, 1);
  log_event(spdlog::level::warn, "reply failed", {{"mid", m.mid}, {"attempts", r.attempts}, {"error", r.error}});
  return done(0);
}

long long ReplyService::retry_due() const {
  std::vector<std::string> held;  // paused accounts: their replies wait, untouched
  for (const AccountBlock& b : graph_.blocked_accounts())
    if (b.outcome != GraphOutcome::kNoToken) held.push_back(b.account);
  const auto due = store().due_replies(options_.due_batch, options_.sending_timeout, held);
  if (!due.ok()) {
    log_event(spdlog::level::warn, "could not read deferred replies; trying again later", {{"error", due.status.message}});
    return 0;
  }
  long long sent = 0;
  for (const DueReply& d : due.value) {
    // Stopping: what is not claimed stays reserved for the next process.
    if (stop_ && stop_->requested()) break;
    if (graph_.paused(d.account_id)) continue;  // still waiting: not claimed, no churn
    const auto claimed = store().claim_reply_send(d.message_id);
    if (!claimed.ok() || !claimed.value) continue;  // another worker has it
    const auto m = store().find_message(d.mid);
    if (!m.ok()) {  // not sent: give it back
      store().defer_reply(d.message_id, options_.retry_delay, "reading the message: " + m.status.message);
      continue;
    }
    std::string why_not;
    if (!m.value || m.value->is_deleted) why_not = "message deleted before the reply could be sent";
    const auto last = m.value ? store().last_inbound_ms(m.value->account_id, m.value->customer_id)
                              : Result<std::optional<long long>>::Of(std::nullopt);
    if (!last.ok()) {  // not sent: give it back
      store().defer_reply(d.message_id, options_.retry_delay, "reading the window: " + last.status.message);
      continue;
    }
    if (why_not.empty() && (!last.value || clock_.wall_ms() - *last.value > kReplyWindowMs))
      why_not = "the 24-hour window closed before the reply could be sent";
    if (!why_not.empty()) {
      if (store().finish_reply(d.message_id, ReplyStatus::kFailed, "", why_not).ok()) telemetry_.replied(ReplyEnd::kFailed, 1);
      continue;
    }
    if (send(*m.value, ReplyDecision{d.rule, d.text}).verdict == Verdict::kDone) ++sent;
  }
  return sent;
}

long long ReplyService::expire_stale_sends() const {
  const auto expired = store().expire_sending_replies(options_.sending_timeout);
  if (!expired.ok()) {
    log_event(spdlog::level::warn, "could not expire replies left in sending; trying again later",
              {{"error", expired.status.message}});
    return 0;
  }
  if (expired.value > 0) {
    telemetry_.replied(ReplyEnd::kUnknown, expired.value);
    log_event(spdlog::level::warn, "replies left in sending by a stopped worker recorded unknown, not sent again",
              {{"count", expired.value}, {"older_than_s", static_cast<long long>(options_.sending_timeout.count())}});
  }
  return expired.value;
}

}  // namespace hm
