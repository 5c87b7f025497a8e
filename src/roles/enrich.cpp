#include "roles/enrich.h"

#include "ops/logging.h"

namespace hm {

DeliveryOutcome EnrichService::handle_message(const StoredMessage& m) const {
  if (Status s = store().upsert_contact(m.account_id, m.customer_id, m.event_time_ms); !s.ok()) return store_failed(s);
  if (Status s = store().upsert_conversation(m.account_id, m.customer_id); !s.ok()) return store_failed(s);
  if (!graph_ || m.direction != Direction::kInbound) return done();
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
    case GraphOutcome::kAuth:
    case GraphOutcome::kNoToken: {
      // The account's problem, not this contact's: the profile is not marked
      // fetched (it is fetched with a later message once the account works
      // again), and the job is not repeated meanwhile.
      const Status s = store().save_profile_error(m.account_id, m.customer_id, r.error, false);
      return s.ok() ? done(0) : store_failed(s);
    }
    case GraphOutcome::kRetryable:
    case GraphOutcome::kUnknown:
      break;
  }
  const Status s = store().save_profile_error(m.account_id, m.customer_id, r.error, false);
  return s.ok() ? later("profile fetch: " + r.error) : store_failed(s);
}

}  // namespace hm
