#pragma once
// The webhook receiver's decisions, one request at a time (the HTTP server,
// http/webhook_server.h, only moves bytes):
//
// GET (Meta's verification request): hub.mode=subscribe and hub.verify_token
//   equal to the configured token (constant-time) -> 200 with hub.challenge
//   as text/plain; a challenge that is not 1..128 letters, digits, '-', '_'
//   or '.' -> 400 (it is echoed, so it is never arbitrary bytes); else 403.
// POST (an event notification), checked in this order, nothing enqueued and
//   nothing logged with the body unless it passes all:
//   body over MAX_DELIVERY_BYTES -> 413; unreadable body -> 400;
//   X-Hub-Signature-256 missing or not "sha256=<64 hex>" -> 401; made with
//   none of the app secrets -> 403; Content-Type not application/json ->
//   400; not a JSON object with `object` (a string) and `entry` (an array),
//   or nested deeper than 32 -> 400; the ingest backlog over
//   WEBHOOK_MAX_BACKLOG -> 503 + Retry-After; the append failed -> 503 +
//   Retry-After; else 200, only after the appender acknowledged it.
//
// Thread-safety: handle() may run on any number of threads at once (the
// appender and the backlog function must allow it).

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "hm/clock.h"
#include "hm/delivery_appender.h"
#include "http/webhook_server.h"
#include "webhook/signature.h"
#include "webhook/webhook_metrics.h"

namespace hm::webhook {

struct ReceiverOptions {
  std::string verify_token;      // WEBHOOK_VERIFY_TOKEN_FILE's content; secret
  long long max_backlog = 0;     // WEBHOOK_MAX_BACKLOG: entries; 0 = no limit
  int retry_after_s = 10;        // the Retry-After of a 503, seconds
};

// Whether `body` is a JSON object with a string `object` and an array
// `entry`, nested at most 32 deep. Never throws; reads without building a tree.
bool is_delivery_shape(std::string_view body);

// Whether a Content-Type value names application/json (parameters ignored).
bool is_json_content_type(std::string_view content_type);

class WebhookReceiver {
 public:
  // `backlog` returns the ingest stream's backlog as last seen (-1: unknown,
  // never refused for it). All references must outlive the receiver.
  WebhookReceiver(ReceiverOptions options, const SignatureCheck& signatures, DeliveryAppender& appender,
                  std::function<long long()> backlog, WebhookMetrics& metrics, const Clock& clock);

  WebhookAnswer handle(const WebhookRequest& request);

 private:
  WebhookAnswer verify(const WebhookRequest& request, Outcome& outcome) const;
  WebhookAnswer deliver(const WebhookRequest& request, Outcome& outcome);
  WebhookAnswer unavailable(const std::string& why) const;

  ReceiverOptions options_;
  const SignatureCheck& signatures_;
  DeliveryAppender& appender_;
  std::function<long long()> backlog_;
  WebhookMetrics& metrics_;
  const Clock& clock_;
};

}  // namespace hm::webhook
