#include "graph/graph_api.h"

#include <algorithm>
#include <cctype>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string_view>

#include "core/retry.h"
#include "core/text.h"
#include "hm/events.h"

namespace hm {
namespace {

using json = nlohmann::json;

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

// The Graph error object of an answer, read defensively: a field of an
// unexpected type is ignored, never thrown.
struct GraphError {
  long long code = 0;
  long long subcode = 0;
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
  out.subcode = optional_field<long long>(*e, "error_subcode").value_or(0);
  out.transient = optional_field<bool>(*e, "is_transient").value_or(false);
  out.message = optional_field<std::string>(*e, "message").value_or("");
  return out;
}

bool rate_limit_code(long long code) {
  return code == 4 || code == 17 || code == 32 || code == 613 || (code >= 80001 && code <= 80014) || code == 341 ||
         code == 368 || code == 1200;
}

// Outside the 24-hour window, the user cannot receive messages, a bad parameter.
bool refused_for_good(const GraphError& e) {
  return (e.code == 10 && (e.subcode == 2534022 || e.subcode == 2018278)) || e.code == 551 || e.code == 100;
}

bool auth_code(long long code) {
  return code == 190 || code == 102 || code == 3 || code == 10 || (code >= 200 && code <= 299);
}

GraphOutcome classify_error(long status, const GraphError& e, bool is_send) {
  // A 5xx to a send may come after Graph processed it, whatever code it carries.
  if (is_send && status >= 500) return GraphOutcome::kUnknown;
  if (status == 429 || rate_limit_code(e.code)) return GraphOutcome::kRateLimited;
  if (refused_for_good(e)) return GraphOutcome::kPermanent;
  if (auth_code(e.code)) return GraphOutcome::kAuth;
  if (is_send) {
    // Only a refusal proves the message was not sent: a 5xx (even with a
    // "transient" code) may come from a gateway after Graph processed it.
    if (e.code == 1 || status < 400 || status >= 500) return GraphOutcome::kUnknown;
    return GraphOutcome::kPermanent;
  }
  if (status >= 500 || e.transient || e.code == 1 || e.code == 2) return GraphOutcome::kRetryable;
  return GraphOutcome::kPermanent;
}

}  // namespace

namespace {

// A pause's reason as telemetry names it (only kRateLimited, kAuth and
// kNoToken hold an account back).
AccountHold hold_of(GraphOutcome o) {
  if (o == GraphOutcome::kRateLimited) return AccountHold::kRateLimited;
  return o == GraphOutcome::kNoToken ? AccountHold::kNoToken : AccountHold::kAuth;
}

}  // namespace

ErrorCategory category(GraphOutcome o) {
  switch (o) {
    case GraphOutcome::kOk: return ErrorCategory::kNone;
    case GraphOutcome::kRetryable:
    case GraphOutcome::kRateLimited:
    case GraphOutcome::kAuth: return ErrorCategory::kRetryable;
    case GraphOutcome::kUnknown: return ErrorCategory::kUnknown;
    case GraphOutcome::kNoToken:
    case GraphOutcome::kPermanent: return ErrorCategory::kPermanent;
  }
  return ErrorCategory::kPermanent;
}

const char* to_string(GraphOutcome o) {
  switch (o) {
    case GraphOutcome::kOk: return "ok";
    case GraphOutcome::kRetryable: return "retryable";
    case GraphOutcome::kRateLimited: return "rate_limited";
    case GraphOutcome::kAuth: return "auth";
    case GraphOutcome::kNoToken: return "no_token";
    case GraphOutcome::kPermanent: return "permanent";
    case GraphOutcome::kUnknown: return "unknown";
  }
  return "unknown";
}

GraphOutcome classify_graph_answer(const HttpResult& r, bool is_send, std::string* error, std::string* answer) {
  if (r.failure == HttpFailure::kNotSent) {
    *error = "not sent: " + r.error;
    return GraphOutcome::kRetryable;
  }
  if (r.failure != HttpFailure::kNone) {
    *error = (r.failure == HttpFailure::kTimeout ? "no answer in time: " : "transfer failed: ") + r.error;
    // A read can be repeated; a send that may have arrived cannot.
    return is_send && r.request_sent ? GraphOutcome::kUnknown : GraphOutcome::kRetryable;
  }
  if (r.status >= 200 && r.status < 300) return GraphOutcome::kOk;
  const GraphError e = graph_error(r.body);
  const std::string codes = "HTTP " + std::to_string(r.status) +
                            (e.code ? ", Graph error " + std::to_string(e.code) : "") +
                            (e.subcode ? "/" + std::to_string(e.subcode) : "");
  *error = codes + (e.message.empty() ? "" : ": " + utf8_truncate(e.message, 300));
  if (answer) *answer = codes;
  return classify_error(r.status, e, is_send);
}

bool is_graph_id(std::string_view id) { return instagram_id_problem(id).empty(); }

GraphApi::GraphApi(HttpClient& http, AccountTokens& tokens, GraphOptions options, Clock& clock,
                   const StopSignal* stop, Telemetry& telemetry)
    : http_(http), tokens_(tokens), options_(std::move(options)), clock_(clock), stop_(stop), telemetry_(telemetry) {}

HttpCallOptions GraphApi::call_options(const std::string& token) const {
  HttpCallOptions o;
  o.connect_timeout = std::min(options_.timeout, std::chrono::milliseconds(5000));
  o.total_timeout = options_.timeout;
  o.max_bytes = 1024LL * 1024;
  o.headers = {"Authorization: Bearer " + token, "Accept: application/json"};
  return o;
}

std::optional<std::string> GraphApi::admit(const std::string& account_id, GraphCall& out) {
  auto token = tokens_.token_for(account_id);
  if (!token) {
    out.outcome = GraphOutcome::kNoToken;
    out.error = "no access token for account " + account_id + " (GRAPH_ACCESS_TOKENS_FILE or GRAPH_ACCESS_TOKEN)";
    telemetry_.graph_account(account_id, AccountHold::kNoToken, true);
    saw_no_token(account_id);
    return std::nullopt;
  }
  const std::uint64_t generation = tokens_.generation();
  std::lock_guard<std::mutex> lock(mutex_);
  no_token_.erase(account_id);
  const auto it = paused_.find(account_id);
  // A new token may cure a refused one: try it at once.
  if (it == paused_.end() || pause_over(it, generation)) return token;
  out.outcome = it->second.outcome;
  out.error = "account paused after: " + it->second.error;
  out.answer = it->second.answer;
  out.attempts = 0;
  return std::nullopt;
}

bool GraphApi::pause_over(std::map<std::string, Pause>::iterator it, std::uint64_t generation) {
  if (clock_.now() < it->second.until && generation == it->second.token_generation) return false;
  telemetry_.graph_account(it->first, hold_of(it->second.outcome), false);
  paused_.erase(it);
  return true;
}

void GraphApi::saw_no_token(const std::string& account_id) {
  constexpr std::size_t kMaxNoToken = 16;  // account ids come from deliveries: keep a bounded few
  std::lock_guard<std::mutex> lock(mutex_);
  if (no_token_.size() >= kMaxNoToken && no_token_.count(account_id) == 0) {
    no_token_.erase(std::min_element(no_token_.begin(), no_token_.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; }));
  }
  no_token_[account_id] = clock_.now();
}

bool GraphApi::paused(const std::string& account_id) {
  const std::uint64_t generation = tokens_.generation();
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = paused_.find(account_id);
  return it != paused_.end() && !pause_over(it, generation);
}

std::vector<AccountBlock> GraphApi::blocked_accounts() {
  constexpr auto kNoTokenShown = std::chrono::minutes(10);
  const std::uint64_t generation = tokens_.generation();
  std::vector<AccountBlock> out;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = clock_.now();
  for (auto it = paused_.begin(); it != paused_.end();) {
    const auto next = std::next(it);
    if (!pause_over(it, generation))
      out.push_back({it->first, it->second.outcome, it->second.answer,
                     std::chrono::ceil<std::chrono::seconds>(it->second.until - now)});
    it = next;
  }
  for (auto it = no_token_.begin(); it != no_token_.end();) {
    if (now - it->second > kNoTokenShown) {
      it = no_token_.erase(it);
      continue;
    }
    out.push_back({it->first, GraphOutcome::kNoToken, "", std::chrono::seconds(0)});
    ++it;
  }
  return out;
}

std::string describe(const AccountBlock& b) {
  const std::string head = "graph: account " + b.account;
  const std::string left = std::to_string(b.left.count()) + " s";
  switch (b.outcome) {
    case GraphOutcome::kAuth:
      return head + " blocked: token or permission refused (" + b.answer +
             "); calls resume when its token in GRAPH_ACCESS_TOKENS_FILE changes (GRAPH_ACCESS_TOKEN: after a "
             "restart), or are tried again in " + left;
    case GraphOutcome::kRateLimited:
      return head + " rate limited (" + b.answer + "); calls resume in " + left;
    case GraphOutcome::kNoToken:
      return head + " has no token (GRAPH_ACCESS_TOKENS_FILE or GRAPH_ACCESS_TOKEN): its profiles are not fetched, "
                    "its replies fail";
    default:
      return head + " blocked: " + to_string(b.outcome);
  }
}

void GraphApi::note(const std::string& account_id, const GraphCall& call) {
  if (call.outcome != GraphOutcome::kRateLimited && call.outcome != GraphOutcome::kAuth) return;
  const auto pause = call.outcome == GraphOutcome::kAuth ? options_.auth_pause : options_.rate_limit_pause;
  const std::uint64_t generation = tokens_.generation();
  std::lock_guard<std::mutex> lock(mutex_);
  // A pause for another reason ends here: its gauge goes back to 0.
  if (const auto it = paused_.find(account_id); it != paused_.end() && it->second.outcome != call.outcome)
    telemetry_.graph_account(account_id, hold_of(it->second.outcome), false);
  paused_[account_id] = {clock_.now() + pause, call.outcome, call.error, call.answer, generation};
  telemetry_.graph_account(account_id, hold_of(call.outcome), true);
}

std::optional<std::string> GraphApi::call(const std::string& account_id,
                                          std::initializer_list<const std::string*> ids, bool send,
                                          const std::function<HttpResult(const HttpCallOptions&)>& request,
                                          GraphCall& out) {
  for (const std::string* id : ids) {
    if (is_graph_id(*id)) continue;
    out.outcome = GraphOutcome::kPermanent;
    out.error = "not a Graph id (decimal digits): " + path_segment(utf8_truncate(*id, 64));
    return std::nullopt;
  }
  const auto token = admit(account_id, out);
  if (!token) return std::nullopt;
  const HttpCallOptions options = call_options(*token);
  Backoff backoff(options_.retry, clock_, {}, stop_);
  for (;;) {
    HttpResult r = request(options);
    out.outcome = classify_graph_answer(r, send, &out.error, &out.answer);
    out.attempts = backoff.attempts();
    if (out.outcome == GraphOutcome::kOk) {
      out.error.clear();
      return std::move(r.body);
    }
    // Only a request that never left (or a read) is tried again here.
    if (out.outcome != GraphOutcome::kRetryable || !backoff.wait_before_retry()) {
      note(account_id, out);
      return std::nullopt;
    }
  }
}

ProfileResult GraphApi::fetch_profile(const std::string& account_id, const std::string& igsid) {
  ProfileResult out;
  const std::string url = options_.base + "/" + path_segment(igsid) +
                          "?fields=name,username,profile_pic,follower_count,is_verified_user,"
                          "is_user_follow_business,is_business_follow_user";
  const auto body = call(account_id, {&igsid, &account_id}, false,
                         [&](const HttpCallOptions& o) { return http_.get(url, o); }, out);
  if (!body) return out;
  const json j = json::parse(*body, nullptr, false);
  if (!j.is_object()) {
    out.outcome = GraphOutcome::kPermanent;
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
  return out;
}

SendResult GraphApi::send_text(const std::string& account_id, const std::string& recipient_id, const std::string& text) {
  SendResult out;
  // /me is the account the token speaks for: the Page (Facebook Login) or the
  // Instagram professional account (Instagram Login).
  const std::string url = options_.base + "/me/messages";
  const std::string body = json{{"recipient", {{"id", recipient_id}}}, {"message", {{"text", text}}}}.dump();
  const auto answer = call(account_id, {&account_id, &recipient_id}, true,
                           [&](const HttpCallOptions& o) { return http_.post_json(url, body, o); }, out);
  if (!answer) return out;
  const json j = json::parse(*answer, nullptr, false);
  out.message_id = j.is_object() ? optional_field<std::string>(j, "message_id").value_or("") : "";
  return out;
}

}  // namespace hm
