#pragma once
// The enrich role: upserts the contact (the customer's IGSID per account) and
// the conversation (first and last message time, counts in and out), then
// fetches the customer's profile at most once per profile_ttl.
// Thread-safe: the store and the Graph client are.

#include <chrono>

#include "graph/graph_api.h"
#include "roles/job_handler.h"

namespace hm {

struct EnrichOptions {
  // PROFILE_TTL: a profile is fetched again once it is older than this;
  // 0 = on every inbound message (one fetch at a time: a claim lasts a minute).
  std::chrono::seconds profile_ttl{86400};
};

class EnrichService final : public JobHandler {
 public:
  // `graph` null: contacts and conversations only, no profile fetching (no
  // access token configured).
  EnrichService(RoleStore& store, GraphApi* graph, EnrichOptions options)
      : JobHandler(store), graph_(graph), options_(options) {}

 private:
  DeliveryOutcome handle_message(const StoredMessage& m) const override;
  GraphApi* graph_;
  EnrichOptions options_;
};

}  // namespace hm
