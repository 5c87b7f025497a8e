#pragma once
// The webhook receiver's Prometheus series, in a registry of their own
// (served after the process's other metrics on /metrics):
//   hm_worker_webhook_requests_total{outcome}   accepted, bad_signature, too_large,
//                                               bad_request, unavailable, verify_ok, verify_refused
//   hm_worker_webhook_request_seconds           from the body read to the answer
//   hm_worker_webhook_xadd_seconds              the XADD (and WAIT) of accepted deliveries
//   hm_worker_webhook_backlog                   the ingest stream's backlog last seen (-1 unknown)
//
// Thread-safety: all members are thread-safe.

#include <memory>
#include <string>

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace hm::webhook {

enum class Outcome { kAccepted, kBadSignature, kTooLarge, kBadRequest, kUnavailable, kVerifyOk, kVerifyRefused };

const char* to_string(Outcome outcome);

class WebhookMetrics {
 public:
  WebhookMetrics();
  ~WebhookMetrics();
  WebhookMetrics(const WebhookMetrics&) = delete;
  WebhookMetrics& operator=(const WebhookMetrics&) = delete;

  void request(Outcome outcome, double seconds);
  void xadd(double seconds);
  void backlog(long long entries);

  // The text exposition format (version 0.0.4).
  std::string serialize() const;

 private:
  struct Families;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> f_;
};

}  // namespace hm::webhook
