#pragma once
// The enrich, media and reply roles: BatchHandlers fed by jobs that ingest
// publishes ({"mid": "...", "message_id": N}). Each job is handled on its own;
// every step is idempotent, so a job seen twice does no harm.
// Thread-safe: the stores, the HTTP client and the rules are.

#include <chrono>
#include <string>

#include "roles/graph_api.h"
#include "hm/http_client.h"
#include "core/retry.h"
#include "hm/batch_handler.h"
#include "hm/stop_signal.h"
#include "roles/reply_rules.h"
#include "hm/role_store.h"

namespace hm {

// Parses a job payload; returns the mid, or an error.
bool parse_job(std::string_view payload, std::string* mid, std::string* error);

// Upserts the contact (the customer's IGSID per account) and the conversation
// (first and last message time, counts in and out), then fetches the
// customer's profile at most once per profile_ttl.
class EnrichService final : public BatchHandler {
 public:
  EnrichService(RoleStore& store, GraphApi* graph, std::chrono::seconds profile_ttl)
      : store_(store), graph_(graph), profile_ttl_(profile_ttl) {}
  std::vector<DeliveryOutcome> handle(const std::vector<std::string_view>& payloads) const override;

 private:
  DeliveryOutcome one(std::string_view payload) const;
  RoleStore& store_;
  GraphApi* graph_;  // null: no profile fetching (no access token configured)
  std::chrono::seconds profile_ttl_;
};

struct MediaOptions {
  std::string dir = "/var/lib/hm-worker/media";
  long long max_bytes = 25LL * 1024 * 1024;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds timeout{60000};
  int max_redirects = 5;
  RetryOptions retry;
};

// Downloads each attachment (the URLs expire: soon after the message) and
// stores it content-addressed by SHA-256 under dir/<first two hex>/<sha256>,
// written to a temporary name, fsync'ed and renamed: a crash never leaves a
// partial file under the final name. Records a media row per attachment; an
// attachment already stored (or failed for good) is not downloaded again.
class MediaService final : public BatchHandler {
 public:
  MediaService(RoleStore& store, HttpClient& http, MediaOptions options, Clock& clock, const StopSignal* stop)
      : store_(store), http_(http), options_(std::move(options)), clock_(clock), stop_(stop) {}
  std::vector<DeliveryOutcome> handle(const std::vector<std::string_view>& payloads) const override;

 private:
  DeliveryOutcome one(std::string_view payload) const;
  RoleStore& store_;
  HttpClient& http_;
  MediaOptions options_;
  Clock& clock_;
  const StopSignal* stop_;
};

// Sends the auto-reply a rule chooses, at most once per inbound message:
// never to echoes or deleted messages, never outside the 24-hour window since
// the customer's last message. The reply is reserved in `reply` (keyed by the
// inbound message) before it is sent.
class ReplyService final : public BatchHandler {
 public:
  ReplyService(RoleStore& store, GraphApi& graph, const ReplyRules& rules, Clock& clock)
      : store_(store), graph_(graph), rules_(rules), clock_(clock) {}
  std::vector<DeliveryOutcome> handle(const std::vector<std::string_view>& payloads) const override;

 private:
  DeliveryOutcome one(std::string_view payload) const;
  RoleStore& store_;
  GraphApi& graph_;
  const ReplyRules& rules_;
  Clock& clock_;
};

// Hex SHA-256 of a file's bytes, streamed; for tests and tools.
std::string sha256_hex_of_file(const std::string& path);

}  // namespace hm
