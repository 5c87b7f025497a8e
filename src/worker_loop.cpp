#include "hm/worker_loop.h"

#include <spdlog/spdlog.h>

namespace hm {

IngestCounts drain_source(DeliverySource& source, const IngestService& service, DeadLetterSink& dead_letters,
                          const Clock& clock, std::size_t max_delivery_bytes) {
  IngestCounts total;
  while (auto d = source.next()) {
    ++total.deliveries;
    DeadLetter letter;
    if (d->oversized) {
      letter.reason = "delivery is " + std::to_string(d->size) + " bytes, over MAX_DELIVERY_BYTES=" +
                      std::to_string(max_delivery_bytes) + " (the first " + std::to_string(d->payload.size()) +
                      " bytes are kept)";
      letter.truncated = true;
    } else {
      DeliveryOutcome out = service.ingest(d->payload);
      total += out.counts;
      if (out.verdict == Verdict::kDone) continue;
      letter.reason = out.verdict == Verdict::kRetryLater ? "retries exhausted: " + out.reason : out.reason;
      letter.attempts = out.attempts;
    }
    letter.payload = std::move(d->payload);
    letter.size = d->size;
    letter.origin = d->origin;
    letter.time_ms = clock.wall_ms();
    spdlog::warn("dead-lettering {}: {}", letter.origin, letter.reason);
    dead_letters.put(letter);
    ++total.dead_lettered;
  }
  return total;
}

}  // namespace hm
