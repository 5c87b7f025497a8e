#include "roles/enrich.h"

#include "ops/logging.h"

namespace hm {

DeliveryOutcome EnrichService::handle_message(const StoredMessage& m) const {
  if (Status s = store().upsert_contact(m.account_id, m.customer_id, m.event_time_ms); !s.ok()) return store_failed(s);
  if (Status s = store().upsert_conversation(m.account_id, m.customer_id); !s.ok()) return store_failed(s);
  if (!graph_ || m.direction != Direction::kInbound) return done();
  // Held back: no claim, no call, until the account's calls resume.
  if (graph_->paused(m.account_id)) return wait_for_account(m, "the account's Graph calls are paused");
  const Result<bool> claimed = store().claim_profile_fetch(m.account_id, m.customer_id, options_.profile_ttl);
  if (!claimed.ok()) return store_failed(claimed.status);
  if (!claimed.value) return done();
  const ProfileResult r = graph_->fetch_profile(m.account_id, m.customer_id);
  switch (r.outcome) {
    case GraphOutcome::kOk: {
      const Status s = store().save_profile(m.account_id, m.customer_id, r.profile);
      return s.ok() ? done() : store_failed(s);
    }
    case GraphOutcome::kPermanent: {
      // Recorded on the contact, tried again after the TTL; never a crash.
      const Status s = store().save_profile_error(m.account_id, m.customer_id, r.error, true);
      if (!s.ok()) return store_failed(s);
      log_event(spdlog::level::warn, "profile fetch failed for good",
                {{"mid", m.mid}, {"igsid", m.customer_id}, {"error", r.error}});
      return done();
    }
    case GraphOutcome::kRateLimited:
    case GraphOutcome::kAuth: {
      // The account's problem: the profile is not marked fetched (the claim
      // is released) and the job waits for the account.
      const Status s = store().save_profile_error(m.account_id, m.customer_id, r.error, false);
      return s.ok() ? wait_for_account(m, r.error) : store_failed(s);
    }
    case GraphOutcome::kNoToken: {
      // Nothing to wait for: a later message fetches it once a token is there.
      const Status s = store().save_profile_error(m.account_id, m.customer_id, r.error, false);
      return s.ok() ? done(0) : store_failed(s);
    }
    case GraphOutcome::kRetryable:
    case GraphOutcome::kUnknown:
      break;
  }
  // The Graph API failing (5xx, no answer) is an outage, not the job's fault:
  // the job waits without counting toward QUEUE_MAX_DELIVERIES (never a dead
  // letter), bounded by max_account_wait like an account's pause.
  const Status s = store().save_profile_error(m.account_id, m.customer_id, r.error, false);
  return s.ok() ? wait_for_account(m, "the Graph API failed: " + r.error) : store_failed(s);
}

DeliveryOutcome EnrichService::wait_for_account(const StoredMessage& m, const std::string& why) const {
  const long long age_ms = clock_.wall_ms() - m.event_time_ms;
  if (age_ms > std::chrono::duration_cast<std::chrono::milliseconds>(options_.max_account_wait).count()) {
    log_event(spdlog::level::info, "profile not fetched: its account is held back and the message is old; the "
                                   "contact's next message fetches it",
              {{"mid", m.mid}, {"account", m.account_id}, {"reason", why}});
    return done(0);
  }
  return wait("profile fetch waits for account " + m.account_id + ": " + why);
}

}  // namespace hm
