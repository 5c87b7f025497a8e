#include "webhook/webhook_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <sstream>

namespace hm::webhook {
namespace {

constexpr std::array<Outcome, 7> kOutcomes{Outcome::kAccepted,    Outcome::kBadSignature, Outcome::kTooLarge,
                                           Outcome::kBadRequest,  Outcome::kUnavailable,  Outcome::kVerifyOk,
                                           Outcome::kVerifyRefused};

const prometheus::Histogram::BucketBoundaries kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                          0.05,   0.1,   0.25,   0.5,   1,    2.5, 5, 10};

}  // namespace

const char* to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::kAccepted: return "accepted";
    case Outcome::kBadSignature: return "bad_signature";
    case Outcome::kTooLarge: return "too_large";
    case Outcome::kBadRequest: return "bad_request";
    case Outcome::kUnavailable: return "unavailable";
    case Outcome::kVerifyOk: return "verify_ok";
    case Outcome::kVerifyRefused: return "verify_refused";
  }
  return "bad_request";
}

struct WebhookMetrics::Families {
  std::array<prometheus::Counter*, kOutcomes.size()> requests{};
  prometheus::Histogram* request_seconds = nullptr;
  prometheus::Histogram* xadd_seconds = nullptr;
  prometheus::Gauge* backlog = nullptr;
};

WebhookMetrics::WebhookMetrics() : registry_(std::make_shared<prometheus::Registry>()), f_(std::make_unique<Families>()) {
  const prometheus::Labels role{{"role", "webhook"}};
  auto& requests = prometheus::BuildCounter()
                       .Name("hm_worker_webhook_requests_total")
                       .Help("Webhook requests by outcome")
                       .Labels(role)
                       .Register(*registry_);
  for (std::size_t i = 0; i < kOutcomes.size(); ++i) f_->requests[i] = &requests.Add({{"outcome", to_string(kOutcomes[i])}});
  f_->request_seconds = &prometheus::BuildHistogram()
                             .Name("hm_worker_webhook_request_seconds")
                             .Help("From a webhook request's body read to its answer")
                             .Labels(role)
                             .Register(*registry_)
                             .Add({}, kBuckets);
  f_->xadd_seconds = &prometheus::BuildHistogram()
                          .Name("hm_worker_webhook_xadd_seconds")
                          .Help("The XADD (and WAIT) of one accepted delivery")
                          .Labels(role)
                          .Register(*registry_)
                          .Add({}, kBuckets);
  f_->backlog = &prometheus::BuildGauge()
                     .Name("hm_worker_webhook_backlog")
                     .Help("Ingest stream entries not yet acknowledged, as last read (-1 unknown)")
                     .Labels(role)
                     .Register(*registry_)
                     .Add({});
  f_->backlog->Set(-1);
}

WebhookMetrics::~WebhookMetrics() = default;

void WebhookMetrics::request(Outcome outcome, double seconds) {
  f_->requests[static_cast<std::size_t>(outcome)]->Increment();
  f_->request_seconds->Observe(seconds);
}

void WebhookMetrics::xadd(double seconds) { f_->xadd_seconds->Observe(seconds); }

void WebhookMetrics::backlog(long long entries) { f_->backlog->Set(static_cast<double>(entries)); }

std::string WebhookMetrics::serialize() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace hm::webhook
