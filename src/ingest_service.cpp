#include "hm/ingest_service.h"

#include <spdlog/spdlog.h>

#include "hm/payload.h"
#include "hm/retry.h"

namespace hm {

IngestCounts& IngestCounts::operator+=(const IngestCounts& o) {
  deliveries += o.deliveries;
  inserted += o.inserted;
  duplicates += o.duplicates;
  skipped += o.skipped;
  applied += o.applied;
  dead_lettered += o.dead_lettered;
  return *this;
}

std::string IngestCounts::summary() const {
  return "deliveries=" + std::to_string(deliveries) + " inserted=" + std::to_string(inserted) +
         " duplicates=" + std::to_string(duplicates) + " skipped=" + std::to_string(skipped) +
         " dead_lettered=" + std::to_string(dead_lettered);
}

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::kDone: return "done";
    case Verdict::kDeadLetter: return "dead_letter";
    case Verdict::kRetryLater: return "retry_later";
  }
  return "done";
}

IngestService::IngestService(MessageStore& store, Clock& clock, RetryOptions retry)
    : store_(store), clock_(clock), retry_(retry) {}

DeliveryOutcome IngestService::ingest(std::string_view payload) const {
  DeliveryOutcome out;
  ParseResult parsed = parse_delivery(payload);
  if (!parsed.ok) {
    out.verdict = Verdict::kDeadLetter;
    out.reason = "bad payload: " + parsed.error;
    return out;
  }
  const auto& events = parsed.delivery.events;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const Event& ev = events[i];
    Backoff backoff(retry_, clock_);
    StoreResult r;
    for (;;) {
      r = store_.store(ev);
      if (r.status != StoreStatus::kRetryable) break;
      spdlog::warn("event {} ({}) mid={} attempt {}: {}", i, describe(ev), event_mid(ev), backoff.attempts(), r.error);
      if (!backoff.wait_before_retry()) break;
    }
    out.attempts = std::max(out.attempts, backoff.attempts());
    switch (r.status) {
      case StoreStatus::kInserted: ++out.counts.inserted; break;
      case StoreStatus::kDuplicate: ++out.counts.duplicates; break;
      case StoreStatus::kApplied: ++out.counts.applied; break;
      case StoreStatus::kSkipped: ++out.counts.skipped; break;
      case StoreStatus::kRetryable:
        out.verdict = Verdict::kRetryLater;
        out.reason = "event " + std::to_string(i) + " (" + describe(ev) + ") mid=" + event_mid(ev) +
                     ": still failing after " + std::to_string(backoff.attempts()) + " attempts: " + r.error;
        return out;
      case StoreStatus::kPermanent:
        // Keep going: the other events of the delivery are still stored.
        out.verdict = Verdict::kDeadLetter;
        if (!out.reason.empty()) out.reason += "; ";
        out.reason += "event " + std::to_string(i) + " (" + describe(ev) + ") mid=" + event_mid(ev) +
                      " cannot be stored: " + r.error;
        break;
    }
  }
  return out;
}

}  // namespace hm
