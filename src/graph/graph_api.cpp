#include "graph/graph_api.h"

#include <nlohmann/json.hpp>

#include "core/retry.h"

namespace hm {
namespace {

using json = nlohmann::json;

bool rate_limit_code(long long code) {
  return code == 4 || code == 17 || code == 32 || code == 613 || (code >= 80001 && code <= 80014);
}

template <class T>
std::optional<T> optional_field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

}  // namespace

GraphAnswer classify_graph_answer(const HttpResult& r, bool is_send, std::string* error) {
  if (r.failure == HttpFailure::kNotSent) {
    *error = "not sent: " + r.error;
    return GraphAnswer::kRetryable;
  }
  if (r.failure != HttpFailure::kNone) {
    *error = (r.failure == HttpFailure::kTimeout ? "no answer in time: " : "transfer failed: ") + r.error;
    // A read can be repeated; a send that may have arrived cannot.
    return is_send && r.request_sent ? GraphAnswer::kAmbiguous : GraphAnswer::kRetryable;
  }
  if (r.status >= 200 && r.status < 300) return GraphAnswer::kOk;
  long long code = 0;
  bool transient = false;
  std::string message;
  const json body = json::parse(r.body, nullptr, false);
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    const json& e = body["error"];
    code = e.value("code", 0LL);
    transient = e.value("is_transient", false);
    message = e.value("message", "");
  }
  *error = "HTTP " + std::to_string(r.status) + (code ? ", Graph error " + std::to_string(code) : "") +
           (message.empty() ? "" : ": " + message.substr(0, 300));
  if (r.status == 429 || rate_limit_code(code) || transient || code == 1 || code == 2 || r.status >= 500)
    return GraphAnswer::kRetryable;
  return GraphAnswer::kPermanent;
}

GraphApi::GraphApi(HttpClient& http, GraphOptions options, Clock& clock, const StopSignal* stop)
    : http_(http), options_(std::move(options)), clock_(clock), stop_(stop) {}

HttpCallOptions GraphApi::call_options() const {
  HttpCallOptions o;
  o.connect_timeout = std::min(options_.timeout, std::chrono::milliseconds(5000));
  o.total_timeout = options_.timeout;
  o.max_bytes = 1024LL * 1024;
  o.headers = {"Authorization: Bearer " + options_.token, "Accept: application/json"};
  return o;
}

ProfileResult GraphApi::fetch_profile(const std::string& igsid) {
  ProfileResult out;
  const std::string url = options_.base + "/" + igsid +
                          "?fields=name,username,profile_pic,follower_count,is_verified_user,"
                          "is_user_follow_business,is_business_follow_user";
  Backoff backoff(options_.retry, clock_, {}, stop_);
  for (;;) {
    const HttpResult r = http_.get(url, call_options());
    const GraphAnswer a = classify_graph_answer(r, false, &out.error);
    out.attempts = backoff.attempts();
    if (a == GraphAnswer::kOk) {
      const json j = json::parse(r.body, nullptr, false);
      if (!j.is_object()) {
        out.outcome = ErrorCategory::kPermanent;
        out.error = "profile answer is not a JSON object";
        return out;
      }
      out.profile.name = optional_field<std::string>(j, "name");
      out.profile.username = optional_field<std::string>(j, "username");
      out.profile.profile_pic = optional_field<std::string>(j, "profile_pic");
      out.profile.follower_count = optional_field<long long>(j, "follower_count");
      out.profile.is_verified_user = optional_field<bool>(j, "is_verified_user");
      out.profile.is_user_follow_business = optional_field<bool>(j, "is_user_follow_business");
      out.profile.is_business_follow_user = optional_field<bool>(j, "is_business_follow_user");
      out.outcome = ErrorCategory::kNone;
      out.error.clear();
      return out;
    }
    if (a == GraphAnswer::kPermanent) {
      out.outcome = ErrorCategory::kPermanent;
      return out;
    }
    if (!backoff.wait_before_retry()) {
      out.outcome = ErrorCategory::kRetryable;
      return out;
    }
  }
}

SendResult GraphApi::send_text(const std::string& account_id, const std::string& recipient_id, const std::string& text) {
  SendResult out;
  const std::string url = options_.base + "/" + account_id + "/messages";
  const std::string body = json{{"recipient", {{"id", recipient_id}}}, {"message", {{"text", text}}}}.dump();
  Backoff backoff(options_.retry, clock_, {}, stop_);
  for (;;) {
    const HttpResult r = http_.post_json(url, body, call_options());
    const GraphAnswer a = classify_graph_answer(r, true, &out.error);
    out.attempts = backoff.attempts();
    switch (a) {
      case GraphAnswer::kOk: {
        const json j = json::parse(r.body, nullptr, false);
        out.message_id = j.is_object() ? j.value("message_id", "") : "";
        out.outcome = ErrorCategory::kNone;
        out.error.clear();
        return out;
      }
      case GraphAnswer::kPermanent:
        out.outcome = ErrorCategory::kPermanent;
        return out;
      case GraphAnswer::kAmbiguous:
        out.outcome = ErrorCategory::kUnknown;
        return out;
      case GraphAnswer::kRetryable:
        if (!backoff.wait_before_retry()) {
          out.outcome = ErrorCategory::kRetryable;
          return out;
        }
        break;
    }
  }
}

}  // namespace hm
