// The Telemetry seam's shared pieces (include/hm/telemetry.h): the
// do-nothing instance and the dead-letter reason classes.
#include "hm/telemetry.h"

namespace hm {

namespace {

class NoTelemetry final : public Telemetry {};

}  // namespace

Telemetry& no_telemetry() {
  static NoTelemetry none;
  return none;
}

std::string dead_letter_class(const std::string& reason) {
  auto starts = [&](const char* p) { return reason.rfind(p, 0) == 0; };
  if (starts("bad payload")) return "bad_payload";
  if (starts("bad queue entry")) return "malformed_entry";
  if (starts("delivered ")) return "max_deliveries";
  if (starts("delivery is ")) return "oversized";
  if (starts("retries exhausted")) return "retries_exhausted";
  return "data_error";
}

}  // namespace hm
