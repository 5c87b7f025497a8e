#pragma once
// The observability seam: what the worker reports as it runs. The default
// implementation does nothing; metrics.h implements it with Prometheus
// counters and histograms. Implementations must be thread-safe and must never
// throw (a failure to count must not fail a delivery).

#include <string>
#include <vector>

#include "hm/batch_handler.h"
#include "hm/http_client.h"

namespace hm {

// Why an account's Graph calls are held back.
enum class AccountHold {
  kRateLimited,  // Graph rate-limited the account
  kAuth,         // its token or permissions were refused
  kNoToken,      // no token is configured for it
};
// "rate_limited", "auth", "no_token" (the metrics' reason label).
const char* to_string(AccountHold hold);

// How a reply ended, as the reply role counts it.
enum class ReplyEnd {
  kSent,
  kFailed,
  kUnknown,   // the request may have reached Graph: never sent again, a human checks
  kDeferred,  // provably not sent: back to reserved, tried later
};
inline constexpr ReplyEnd kAllReplyEnds[] = {ReplyEnd::kSent, ReplyEnd::kFailed, ReplyEnd::kUnknown, ReplyEnd::kDeferred};
// "sent", "failed", "unknown", "deferred" (the metrics' status label).
const char* to_string(ReplyEnd end);

class Telemetry {
 public:
  virtual ~Telemetry() = default;
  // What one batch (or file chunk) stored.
  virtual void counted(const IngestCounts& /*delta*/) {}
  // A store call is being retried after this MySQL error code (0 = not a server error).
  virtual void retried(int /*error_code*/) {}
  // A delivery was dead-lettered; reason is a short class: bad_payload,
  // data_error, max_deliveries, oversized, malformed_entry, retries_exhausted.
  virtual void dead_lettered(const std::string& /*reason*/) {}
  // A batch of `entries` was processed: from read to acknowledgement took
  // fetch_to_commit_s; enqueue_to_commit_s holds, per stored entry with a known
  // enqueue time, the time from enqueue to acknowledgement.
  virtual void batch_done(std::size_t /*entries*/, double /*fetch_to_commit_s*/,
                          const std::vector<double>& /*enqueue_to_commit_s*/) {}
  // A pool checkout waited this long (and failed when timed_out).
  virtual void pool_checkout(double /*wait_s*/, bool /*timed_out*/) {}
  // Redis answered with an error reply or the connection failed; kind is
  // the reply's first word (NOGROUP, READONLY, LOADING, MISCONF, BUSY,
  // MASTERDOWN...) or "io" / "timeout" / "closed".
  virtual void redis_error(const std::string& /*kind*/) {}
  // A dependency ("database" or "redis") was found unreachable (open = true:
  // the worker stops trying units and waits for one probe to succeed) or
  // reachable again (open = false).
  virtual void breaker(const std::string& /*dependency*/, bool /*open*/) {}
  // Graph API calls for an account are held back (blocked = true) for a
  // reason (AccountHold); or are let through again (blocked = false).
  virtual void graph_account(const std::string& /*account*/, AccountHold /*reason*/, bool /*blocked*/) {}
  // The media role refused to download an attachment, by this rule.
  virtual void media_refused(HttpRefusal /*rule*/) {}
  // Work was committed to the database at this wall time (ms since epoch).
  virtual void committed(long long /*wall_ms*/) {}
  // Retention (redis/stream_retention.h) removed `entries` from `stream`:
  // acknowledged by every group, or dead letters past their count or age.
  virtual void trimmed(const std::string& /*stream*/, long long /*entries*/) {}
  // Retention deleted `count` idle consumers (no pending entry) from the groups of `stream`.
  virtual void consumers_deleted(const std::string& /*stream*/, long long /*count*/) {}
  // Per stored entry that came through the webhook receiver: the time from
  // the receiver getting the HTTP request to acknowledgement.
  virtual void received_to_commit(const std::vector<double>& /*seconds*/) {}
  // The reply role recorded how `count` replies ended (ReplyEnd).
  virtual void replied(ReplyEnd /*end*/, long long /*count*/) {}
};

// A shared do-nothing instance.
Telemetry& no_telemetry();

// "bad_payload" for "bad payload: ...", "data_error" for other store failures...
std::string dead_letter_class(const std::string& reason);

}  // namespace hm
