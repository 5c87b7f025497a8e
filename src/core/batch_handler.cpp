#include "hm/batch_handler.h"

namespace hm {

IngestCounts& IngestCounts::operator+=(const IngestCounts& o) {
  deliveries += o.deliveries;
  inserted += o.inserted;
  duplicates += o.duplicates;
  skipped += o.skipped;
  applied += o.applied;
  dead_lettered += o.dead_lettered;
  retries += o.retries;
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

}  // namespace hm
