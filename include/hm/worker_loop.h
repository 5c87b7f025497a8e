#pragma once
// The loop that drains a DeliverySource through the IngestService and decides,
// from each outcome, what happens to the delivery. For the file source:
// done -> counted; dead letter or retries exhausted -> written to the
// dead-letter sink with the reason (a file cannot redeliver). Oversized
// deliveries are dead-lettered without being parsed.

#include "hm/clock.h"
#include "hm/dead_letter.h"
#include "hm/delivery_source.h"
#include "hm/ingest_service.h"

namespace hm {

// Runs until the source ends. Throws std::runtime_error when the dead-letter
// sink cannot be written (continuing would lose deliveries).
IngestCounts drain_source(DeliverySource& source, const IngestService& service, DeadLetterSink& dead_letters,
                          const Clock& clock, std::size_t max_delivery_bytes);

}  // namespace hm
