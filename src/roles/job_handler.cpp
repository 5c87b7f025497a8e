#include "roles/job_handler.h"

#include <nlohmann/json.hpp>

namespace hm {

bool parse_job(std::string_view payload, std::string* mid, std::string* error) {
  using json = nlohmann::json;
  const json j = json::parse(payload.begin(), payload.end(), nullptr, false);
  if (!j.is_object() || !j.contains("mid") || !j["mid"].is_string() || j["mid"].get<std::string>().empty()) {
    *error = "bad job: expected {\"mid\": \"...\"}";
    return false;
  }
  *mid = j["mid"].get<std::string>();
  // The parser's rule for mids: printable ASCII, at most kMaxMidLength bytes.
  if (mid->size() > kMaxMidLength) {
    *error = "bad job: mid is " + std::to_string(mid->size()) + " bytes, longer than the limit of " +
             std::to_string(kMaxMidLength);
    return false;
  }
  for (const unsigned char c : *mid) {
    if (c <= 0x20 || c >= 0x7f) {
      *error = "bad job: mid holds a character that is not printable ASCII";
      return false;
    }
  }
  return true;
}

std::string stored_ids_problem(const StoredMessage& m) {
  if (std::string p = instagram_id_problem(m.account_id); !p.empty()) return "account_id " + p;
  if (std::string p = instagram_id_problem(m.customer_id); !p.empty()) return "customer_id " + p;
  return "";
}

DeliveryOutcome JobHandler::done(long long applied) {
  DeliveryOutcome o;
  o.counts.applied = applied;
  return o;
}

DeliveryOutcome JobHandler::dead(std::string reason) {
  DeliveryOutcome o;
  o.verdict = Verdict::kDeadLetter;
  o.reason = std::move(reason);
  return o;
}

DeliveryOutcome JobHandler::later(std::string reason) {
  DeliveryOutcome o;
  o.verdict = Verdict::kRetryLater;
  o.reason = std::move(reason);
  return o;
}

DeliveryOutcome JobHandler::wait(std::string reason) {
  DeliveryOutcome o = later(std::move(reason));
  o.counts_as_delivery = false;
  return o;
}

DeliveryOutcome JobHandler::store_failed(const Status& s) {
  if (!s.retryable()) return dead("cannot be stored: " + s.message);
  DeliveryOutcome out = later(s.message);
  // A lock conflict holds up one job; anything else means the database is unwell.
  if (s.code != 1205 && s.code != 1213) out.unavailable = "database";
  return out;
}

std::vector<DeliveryOutcome> JobHandler::handle(const std::vector<std::string_view>& payloads) const {
  std::vector<DeliveryOutcome> out;
  out.reserve(payloads.size());
  for (auto p : payloads) {
    try {
      out.push_back(handle_job(p));
    } catch (const std::exception& e) {
      out.push_back(later(std::string("unexpected: ") + e.what()));
    }
  }
  return out;
}

DeliveryOutcome JobHandler::handle_job(std::string_view payload) const {
  std::string mid, error;
  if (!parse_job(payload, &mid, &error)) return dead(error);
  const auto m = store_.find_message(mid);
  if (!m.ok()) return store_failed(m.status);
  if (!m.value) return dead("message " + mid + " is not stored");
  // Stored before ids were checked at ingest? Never let one reach a Graph path.
  if (std::string p = stored_ids_problem(*m.value); !p.empty()) return dead("message " + mid + ": " + p);
  return handle_message(*m.value);
}

}  // namespace hm
