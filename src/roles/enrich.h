#pragma once
// The enrich role: upserts the contact (the customer's IGSID per account) and
// the conversation (first and last message time, counts in and out), then
// fetches the customer's profile at most once per profile_ttl.
//
// A profile the account cannot fetch now (its token or permissions refused,
// its calls rate limited) is the account's problem, not the contact's: the
// profile is not marked fetched and the job waits, pending and not counted
// toward QUEUE_MAX_DELIVERIES, until the account's calls resume; while they
// are held back (GraphApi pauses) the job makes no Graph call. A job whose
// message is older than max_account_wait is not kept waiting: the contact's
// next message fetches the profile. An account without any token: no wait,
// the contact and conversation are kept without a profile.
// Thread-safe: the store and the Graph client are.

#include <chrono>

#include "graph/graph_api.h"
#include "hm/clock.h"
#include "roles/job_handler.h"

namespace hm {

struct EnrichOptions {
  // PROFILE_TTL: a profile is fetched again once it is older than this;
  // 0 = on every inbound message (one fetch at a time: a claim lasts a minute).
  std::chrono::seconds profile_ttl{86400};
  // How long after its message a profile job may wait for its account (a
  // refused token, a rate limit); after that it is done without the profile.
  std::chrono::seconds max_account_wait{86400};
};

class EnrichService final : public JobHandler {
 public:
  // `graph` null: contacts and conversations only, no profile fetching (no
  // access token configured).
  EnrichService(RoleStore& store, GraphApi* graph, EnrichOptions options, const Clock& clock)
      : JobHandler(store), graph_(graph), options_(options), clock_(clock) {}

 private:
  DeliveryOutcome handle_message(const StoredMessage& m) const override;
  // The job waits for the account (see above), or is done when too old.
  DeliveryOutcome wait_for_account(const StoredMessage& m, const std::string& why) const;
  GraphApi* graph_;
  EnrichOptions options_;
  const Clock& clock_;
};

}  // namespace hm
