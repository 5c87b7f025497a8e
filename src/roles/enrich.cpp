#include "roles/enrich.h"

#include "ops/logging.h"

namespace hm {

DeliveryOutcome EnrichService::handle_message(const StoredMessage& m) const {
  store().upsert_contact(m.account_id, m.customer_id, m.event_time_ms);
  store().upsert_conversation(m.account_id, m.customer_id);
  if (!graph_ || m.direction != "inbound") return done();
  if (!store().claim_profile_fetch(m.account_id, m.customer_id, profile_ttl_)) return done();
  const ProfileResult r = graph_->fetch_profile(m.customer_id);
  switch (r.outcome) {
    case GraphOutcome::kOk:
      store().save_profile(m.account_id, m.customer_id, r.profile);
      return done();
    case GraphOutcome::kPermanent:
      // Recorded on the contact, tried again after the TTL; never a crash.
      store().save_profile_error(m.account_id, m.customer_id, r.error, true);
      log_event(spdlog::level::warn, "profile fetch failed for good",
                {{"mid", m.mid}, {"igsid", m.customer_id}, {"error", r.error}});
      return done();
    default:
      store().save_profile_error(m.account_id, m.customer_id, r.error, false);
      return later("profile fetch: " + r.error);
  }
}

}  // namespace hm
