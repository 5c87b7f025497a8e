#include "webhook/receiver.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

namespace hm::webhook {
namespace {

constexpr int kMaxDepth = 32;
constexpr std::size_t kMaxChallenge = 128;

// Looks at the top level only: which keys hold what, and how deep it goes.
class ShapeCheck final : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool has_object = false;
  bool has_entry = false;
  bool top_is_object = false;

  bool null() override { return value(Kind::kOther); }
  bool boolean(bool /*b*/) override { return value(Kind::kOther); }
  bool number_integer(number_integer_t /*n*/) override { return value(Kind::kOther); }
  bool number_unsigned(number_unsigned_t /*n*/) override { return value(Kind::kOther); }
  bool number_float(number_float_t /*n*/, const string_t& /*s*/) override { return value(Kind::kOther); }
  bool string(string_t& /*s*/) override { return value(Kind::kString); }
  bool binary(binary_t& /*b*/) override { return value(Kind::kOther); }
  bool start_object(std::size_t /*n*/) override {
    if (depth_ == 0) top_is_object = true;
    return open(Kind::kOther);
  }
  bool key(string_t& k) override {
    if (depth_ == 1) key_ = k == "object" ? Key::kObject : k == "entry" ? Key::kEntry : Key::kOther;
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t /*n*/) override { return open(Kind::kArray); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t /*pos*/, const std::string& /*tok*/, const nlohmann::detail::exception& /*e*/) override {
    return false;
  }

 private:
  enum class Kind { kString, kArray, kOther };
  enum class Key { kNone, kObject, kEntry, kOther };
  bool value(Kind kind) {
    if (depth_ == 1) note(kind);
    return true;
  }
  bool open(Kind kind) {
    if (depth_ == 1) note(kind);
    return ++depth_ <= kMaxDepth;
  }
  bool close() {
    --depth_;
    return true;
  }
  void note(Kind kind) {
    // A repeated key counts as its last value, as nlohmann's own parse does.
    if (key_ == Key::kObject) has_object = kind == Kind::kString;
    if (key_ == Key::kEntry) has_entry = kind == Kind::kArray;
    key_ = Key::kNone;
  }
  int depth_ = 0;
  Key key_ = Key::kNone;
};

bool challenge_ok(const std::string& c) {
  return !c.empty() && c.size() <= kMaxChallenge && std::all_of(c.begin(), c.end(), [](unsigned char ch) {
    return std::isalnum(ch) != 0 || ch == '-' || ch == '_' || ch == '.';
  });
}

// The value of a query parameter that appears exactly once, else nullptr.
const std::string* single(const WebhookRequest& r, const std::string& name) {
  if (r.query.count(name) != 1) return nullptr;
  return &r.query.find(name)->second;
}

WebhookAnswer plain(int status, std::string body) { return {status, std::move(body)}; }

}  // namespace

bool is_delivery_shape(std::string_view body) {
  ShapeCheck check;
  bool parsed = false;
  try {
    parsed = nlohmann::json::sax_parse(body, &check, nlohmann::json::input_format_t::json, true);
  } catch (const std::exception&) {
    return false;  // not expected (strict SAX parsing reports through parse_error), never fatal
  }
  return parsed && check.top_is_object && check.has_object && check.has_entry;
}

bool is_json_content_type(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  static constexpr std::string_view kJson = "application/json";
  return media.size() == kJson.size() && std::equal(media.begin(), media.end(), kJson.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

WebhookReceiver::WebhookReceiver(ReceiverOptions options, const SignatureCheck& signatures, DeliveryAppender& appender,
                                 std::function<long long()> backlog, WebhookMetrics& metrics, const Clock& clock)
    : options_(std::move(options)),
      signatures_(signatures),
      appender_(appender),
      backlog_(std::move(backlog)),
      metrics_(metrics),
      clock_(clock) {}

WebhookAnswer WebhookReceiver::handle(const WebhookRequest& request) {
  const auto start = clock_.now();
  Outcome outcome = Outcome::kBadRequest;
  // cpp-httplib routes HEAD to the GET handler: a verification, never a delivery.
  const bool verification = request.method == "GET" || request.method == "HEAD";
  WebhookAnswer answer = verification ? verify(request, outcome) : deliver(request, outcome);
  metrics_.request(outcome, std::chrono::duration<double>(clock_.now() - start).count());
  return answer;
}

WebhookAnswer WebhookReceiver::verify(const WebhookRequest& request, Outcome& outcome) const {
  outcome = Outcome::kVerifyRefused;
  const std::string* mode = single(request, "hub.mode");
  const std::string* token = single(request, "hub.verify_token");
  const std::string* challenge = single(request, "hub.challenge");
  if (mode == nullptr || *mode != "subscribe" || token == nullptr ||
      !constant_time_equal(*token, options_.verify_token)) {
    spdlog::info("webhook verification refused: wrong mode or token");
    return plain(403, "forbidden\n");
  }
  if (challenge == nullptr || !challenge_ok(*challenge)) return plain(400, "bad hub.challenge\n");
  outcome = Outcome::kVerifyOk;
  spdlog::info("webhook verification answered");
  return plain(200, *challenge);
}

WebhookAnswer WebhookReceiver::unavailable(const std::string& why) const {
  WebhookAnswer a = plain(503, why + "\n");
  a.retry_after_s = options_.retry_after_s;
  return a;
}

WebhookAnswer WebhookReceiver::deliver(const WebhookRequest& request, Outcome& outcome) {
  const long long received_ms = clock_.wall_ms();
  outcome = Outcome::kTooLarge;
  if (request.too_large) return plain(413, "payload too large\n");
  outcome = Outcome::kBadRequest;
  if (request.unreadable) return plain(400, "unreadable body\n");
  outcome = Outcome::kBadSignature;
  switch (signatures_.verify(request.signature ? &*request.signature : nullptr, request.body)) {
    case SignatureVerdict::kValid: break;
    case SignatureVerdict::kMissing: return plain(401, "X-Hub-Signature-256 missing\n");
    case SignatureVerdict::kMalformed: return plain(401, "X-Hub-Signature-256 is not sha256=<hex>\n");
    case SignatureVerdict::kMismatch: return plain(403, "signature does not match\n");
  }
  outcome = Outcome::kBadRequest;
  if (!is_json_content_type(request.content_type)) return plain(400, "Content-Type must be application/json\n");
  if (!is_delivery_shape(request.body)) return plain(400, "not a JSON object with object and entry[]\n");
  outcome = Outcome::kUnavailable;
  const long long backlog = backlog_ ? backlog_() : -1;
  if (options_.max_backlog > 0 && backlog > options_.max_backlog) return unavailable("ingest backlog over its limit");
  const auto xadd_start = clock_.now();
  const Status stored = appender_.append(request.body, received_ms);
  if (!stored.ok()) {
    spdlog::debug("webhook delivery not stored: {}", stored.message);
    return unavailable("not stored, deliver again later");
  }
  metrics_.xadd(std::chrono::duration<double>(clock_.now() - xadd_start).count());
  outcome = Outcome::kAccepted;
  return plain(200, "EVENT_RECEIVED");
}

}  // namespace hm::webhook
