#pragma once
// The Instagram Graph API calls the enrich and reply roles make: the
// customer's profile, and sending a text message. Rate limits (HTTP 429,
// error codes 4, 17, 32, 613, 80001-80014), and failures before a request
// left are retried with backoff; a profile read is also retried on server
// errors (5xx, transient codes) and network failures. A send that may have
// been processed (a 5xx, no answer after the request left) is never
// repeated: its outcome is unknown, and replies are sent at most once.
// Thread-safe when the HttpClient is (CurlHttpClient is).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "hm/clock.h"
#include "core/retry.h"
#include "hm/http_client.h"
#include "hm/role_store.h"  // Profile
#include "hm/status.h"
#include "hm/stop_signal.h"

namespace hm {

struct GraphOptions {
  std::string base = "https://graph.facebook.com/v21.0";  // API root, no trailing slash
  std::string token;                                       // access token; secret, sent only in a header
  std::chrono::milliseconds timeout{10000};                // total time per HTTP call (connect: at most 5 s)
  // Retries of rate limits, 5xx and network failures: GRAPH_RETRY_ATTEMPTS
  // tries, waits from 200 ms doubling, at most 5 s each, 30 s in all.
  RetryOptions retry = http_retry_defaults();
};

// How a call ended:
//   kNone       answered with success
//   kRetryable  rate limited, server or network trouble, retries used up: try again later
//   kPermanent  the API said no (bad id, permissions, token): record it
//   kUnknown    a send may or may not have happened: never repeat it
struct GraphCall {
  ErrorCategory outcome = ErrorCategory::kNone;
  std::string error;  // for failures: status, Graph error code and message
  int attempts = 1;
};

struct ProfileResult : GraphCall {
  Profile profile;
};

struct SendResult : GraphCall {
  std::string message_id;
};

// Instagram-scoped ids and account ids: 1 to 32 decimal digits. Anything else
// is never put into a Graph URL.
bool is_graph_id(std::string_view id);

// Classifies one answer (or failure). Pure; for tests. For a send, only an
// answer that proves the request was refused (HTTP 429 or a Graph rate-limit
// code: retry; another 4xx: permanent) or that it never left (connection,
// DNS, TLS before sending: retry) is anything but kAmbiguous.
enum class GraphAnswer { kOk, kRetryable, kPermanent, kAmbiguous };
GraphAnswer classify_graph_answer(const HttpResult& r, bool is_send, std::string* error);

class GraphApi {
 public:
  GraphApi(HttpClient& http, GraphOptions options, Clock& clock, const StopSignal* stop = nullptr);
  ProfileResult fetch_profile(const std::string& igsid);
  SendResult send_text(const std::string& account_id, const std::string& recipient_id, const std::string& text);

 private:
  HttpCallOptions call_options() const;
  HttpClient& http_;
  GraphOptions options_;
  Clock& clock_;
  const StopSignal* stop_;
};

}  // namespace hm
