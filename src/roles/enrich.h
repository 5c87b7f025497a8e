#pragma once
// The enrich role: upserts the contact (the customer's IGSID per account) and
// the conversation (first and last message time, counts in and out), then
// fetches the customer's profile at most once per profile_ttl.
// Thread-safe: the store and the Graph client are.

#include <chrono>

#include "graph/graph_api.h"
#include "roles/job_handler.h"

namespace hm {

class EnrichService final : public JobHandler {
 public:
  EnrichService(RoleStore& store, GraphApi* graph, std::chrono::seconds profile_ttl)
      : JobHandler(store), graph_(graph), profile_ttl_(profile_ttl) {}

 private:
  DeliveryOutcome handle_message(const StoredMessage& m) const override;
  GraphApi* graph_;  // null: no profile fetching (no access token configured)
  std::chrono::seconds profile_ttl_;
};

}  // namespace hm
