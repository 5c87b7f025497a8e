#include "graph/graph_api.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <string_view>

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

// The longest prefix of at most `max` bytes that ends on a character boundary.
std::string utf8_prefix(const std::string& s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// Percent-encodes one URL path segment (RFC 3986 unreserved characters kept).
std::string path_segment(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

namespace {

// The Graph error object of an answer, read defensively: a field of an
// unexpected type is ignored, never thrown.
struct GraphError {
  long long code = 0;
  bool transient = false;
  std::string message;
};

GraphError graph_error(const std::string& body) {
  GraphError out;
  const json j = json::parse(body, nullptr, false);
  if (!j.is_object()) return out;
  const auto e = j.find("error");
  if (e == j.end() || !e->is_object()) return out;
  out.code = optional_field<long long>(*e, "code").value_or(0);
  out.transient = optional_field<bool>(*e, "is_transient").value_or(false);
  out.message = optional_field<std::string>(*e, "message").value_or("");
  return out;
}

// What an HTTP answer to a send proves. Only a refusal proves the message was
// not sent (a rate limit, a 4xx validation error): a 5xx, even with a Graph
// "transient" code, may come from a gateway after Graph processed the
// request, so the message may have gone out and must never be sent again.
GraphAnswer classify_send_answer(long status, const GraphError& e) {
  if (status == 429 || rate_limit_code(e.code)) return GraphAnswer::kRetryable;
  if (status >= 400 && status < 500) return GraphAnswer::kPermanent;
  return GraphAnswer::kAmbiguous;
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
  const GraphError e = graph_error(r.body);
  *error = "HTTP " + std::to_string(r.status) + (e.code ? ", Graph error " + std::to_string(e.code) : "") +
           (e.message.empty() ? "" : ": " + utf8_prefix(e.message, 300));
  if (is_send) return classify_send_answer(r.status, e);
  if (r.status == 429 || rate_limit_code(e.code) || e.transient || e.code == 1 || e.code == 2 || r.status >= 500)
    return GraphAnswer::kRetryable;
  return GraphAnswer::kPermanent;
}

bool is_graph_id(std::string_view id) {
  return !id.empty() && id.size() <= 32 &&
         std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; });
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
  if (!is_graph_id(igsid)) {
    out.outcome = ErrorCategory::kPermanent;
    out.error = "not a Graph id (decimal digits): " + path_segment(utf8_prefix(igsid, 64));
    return out;
  }
  const std::string url = options_.base + "/" + path_segment(igsid) +
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
  for (const std::string* id : {&account_id, &recipient_id}) {
    if (is_graph_id(*id)) continue;
    out.outcome = ErrorCategory::kPermanent;
    out.error = "not a Graph id (decimal digits): " + path_segment(utf8_prefix(*id, 64));
    return out;
  }
  const std::string url = options_.base + "/" + path_segment(account_id) + "/messages";
  const std::string body = json{{"recipient", {{"id", recipient_id}}}, {"message", {{"text", text}}}}.dump();
  Backoff backoff(options_.retry, clock_, {}, stop_);
  for (;;) {
    const HttpResult r = http_.post_json(url, body, call_options());
    const GraphAnswer a = classify_graph_answer(r, true, &out.error);
    out.attempts = backoff.attempts();
    switch (a) {
      case GraphAnswer::kOk: {
        const json j = json::parse(r.body, nullptr, false);
        out.message_id = j.is_object() ? optional_field<std::string>(j, "message_id").value_or("") : "";
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
