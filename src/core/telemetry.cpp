// The Telemetry seam's shared pieces (include/hm/telemetry.h): the
// do-nothing instance, the names of its enums and the dead-letter reason
// classes.
#include "hm/telemetry.h"

namespace hm {

namespace {

class NoTelemetry final : public Telemetry {};

}  // namespace

Telemetry& no_telemetry() {
  static NoTelemetry none;
  return none;
}

const char* to_string(AccountHold hold) {
  switch (hold) {
    case AccountHold::kRateLimited: return "rate_limited";
    case AccountHold::kAuth: return "auth";
    case AccountHold::kNoToken: return "no_token";
  }
  return "auth";
}

const char* to_string(ReplyEnd end) {
  switch (end) {
    case ReplyEnd::kSent: return "sent";
    case ReplyEnd::kFailed: return "failed";
    case ReplyEnd::kUnknown: return "unknown";
    case ReplyEnd::kDeferred: return "deferred";
  }
  return "unknown";
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
