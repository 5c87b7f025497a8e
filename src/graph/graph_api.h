#pragma once
// The Instagram Graph API calls the enrich and reply roles make: the
// customer's profile, and sending a text message, each with the token of the
// delivery's account (AccountTokens). Sends go to {base}/me/messages, which
// both login types accept: "Instagram API with Facebook Login" (base
// https://graph.facebook.com/vXX.X, a Page token) and "Instagram API with
// Instagram Login" (base https://graph.instagram.com/vXX.X, an Instagram user
// token).
//
// Answers by what they mean (error.code, error_subcode):
//   rate limits (HTTP 429, 4, 17, 32, 613, 80001-80014, 341, 368, 1200): wait
//     and try later; the account's calls pause for a while, no retry storm;
//   token and permission errors (190, 102, 3, 10, 200-299): configuration; the
//     account's calls pause until its token changes or the pause ends;
//   an account without a token: no call (kNoToken);
//   outside the 24-hour window (10 with subcode 2534022 or 2018278), user
//     unavailable (551), invalid parameter (100), other 4xx: permanent;
//   a send answered with code 1 or a 5xx, or unanswered after the request
//     left: unknown, never repeated (replies are sent at most once);
//   a request that never left (refused connection, DNS, TLS): retried with
//     backoff; a profile read also on 5xx and transient codes.
// What is held back is visible: blocked_accounts() lists the paused accounts
// and those recently seen without a token (for /readyz), and Telemetry's
// graph_account gauge follows each pause, back to 0 when it ends.
// Thread-safe when the HttpClient is (CurlHttpClient is).

#include <chrono>
#include <functional>
#include <initializer_list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/retry.h"
#include "graph/account_tokens.h"
#include "hm/clock.h"
#include "hm/http_client.h"
#include "hm/role_store.h"  // Profile
#include "hm/status.h"
#include "hm/stop_signal.h"
#include "hm/telemetry.h"

namespace hm {

struct GraphOptions {
  std::string base = "https://graph.facebook.com/v21.0";  // API root, no trailing slash
  std::chrono::milliseconds timeout{10000};                // total time per HTTP call (connect: at most 5 s)
  // Retries of requests that never left (and, for reads, 5xx and transient
  // errors): GRAPH_RETRY_ATTEMPTS tries, waits from 200 ms doubling, at most
  // 5 s each, 30 s in all.
  RetryOptions retry = http_retry_defaults();
  std::chrono::milliseconds rate_limit_pause{60000};  // an account's calls wait this long after a rate limit
  std::chrono::milliseconds auth_pause{300000};       // ... after its token was refused (or until it changes)
};

enum class GraphOutcome {
  kOk,
  kRetryable,    // network or server trouble, retries used up: try again later
  kRateLimited,  // the account is rate limited: try again later
  kAuth,         // the account's token or permissions were refused: configuration
  kNoToken,      // no token is configured for the account
  kPermanent,    // the API refused this request for good: record it
  kUnknown,      // a send may or may not have happened: never repeat it
};
const char* to_string(GraphOutcome o);
// The seams' category of an outcome (hm/status.h): kRetryable for what
// waiting may fix (kRetryable, kRateLimited, kAuth: a token can be fixed),
// kPermanent (kPermanent, kNoToken), kUnknown, kNone for kOk. The outcome
// itself says how long to wait and what to tell an operator.
ErrorCategory category(GraphOutcome o);

struct GraphCall {
  GraphOutcome outcome = GraphOutcome::kOk;
  std::string error;   // for failures: status, Graph error code and message (never a token)
  std::string answer;  // for answered failures: "HTTP 400, Graph error 190/460" (no message text)
  int attempts = 1;
};

// An account whose Graph calls are held back now, as /readyz lists it.
struct AccountBlock {
  std::string account;
  GraphOutcome outcome = GraphOutcome::kAuth;  // kRateLimited, kAuth or kNoToken
  std::string answer;                          // what Graph answered (kRateLimited, kAuth); never a token
  std::chrono::seconds left{0};                // until its calls are tried again (kNoToken: 0)
};

// One line for /readyz: which account, why, and what lets it through again.
std::string describe(const AccountBlock& block);

struct ProfileResult : GraphCall {
  Profile profile;
};

struct SendResult : GraphCall {
  std::string message_id;
};

// Instagram-scoped ids and account ids: 1 to 32 decimal digits. Anything else
// is never put into a Graph URL.
bool is_graph_id(std::string_view id);

// Classifies one answer (or failure) as above; `answer` (optional) gets the
// status and Graph codes without the message text. Pure; for tests.
GraphOutcome classify_graph_answer(const HttpResult& r, bool is_send, std::string* error,
                                   std::string* answer = nullptr);

class GraphApi {
 public:
  GraphApi(HttpClient& http, AccountTokens& tokens, GraphOptions options, Clock& clock,
           const StopSignal* stop = nullptr, Telemetry& telemetry = no_telemetry());
  ProfileResult fetch_profile(const std::string& account_id, const std::string& igsid);
  SendResult send_text(const std::string& account_id, const std::string& recipient_id, const std::string& text);
  // True while the account's calls are held back (a rate limit, a refused token).
  bool paused(const std::string& account_id);
  // The accounts held back now: the paused ones, and those seen without a
  // token in the last 10 minutes (at most 16, the most recent). A pause that
  // ended or whose token changed is dropped here, its gauge back to 0, without
  // waiting for the account's next call. No network (it may look at the tokens
  // file); call it off the HTTP threads.
  std::vector<AccountBlock> blocked_accounts();

 private:
  struct Pause {
    Clock::time_point until;
    GraphOutcome outcome;
    std::string error;
    std::string answer;
    std::uint64_t token_generation;
  };
  // Drops the pause when it ended or the tokens changed; with mutex_ held.
  bool pause_over(std::map<std::string, Pause>::iterator it, std::uint64_t generation);
  void saw_no_token(const std::string& account_id);
  // The account's token, or why the call must not be made now.
  std::optional<std::string> admit(const std::string& account_id, GraphCall& out);
  // Pauses the account after a rate limit or a refused token.
  void note(const std::string& account_id, const GraphCall& call);
  HttpCallOptions call_options(const std::string& token) const;
  // One Graph call: checks `ids` are Graph ids, admits the account, runs
  // `request` with its token and retries what is retryable, then notes a rate
  // limit or a refused token. The answer's body when kOk; `out` says why not.
  std::optional<std::string> call(const std::string& account_id, std::initializer_list<const std::string*> ids,
                                  bool send, const std::function<HttpResult(const HttpCallOptions&)>& request,
                                  GraphCall& out);

  HttpClient& http_;
  AccountTokens& tokens_;
  GraphOptions options_;
  Clock& clock_;
  const StopSignal* stop_;
  Telemetry& telemetry_;
  std::mutex mutex_;
  std::map<std::string, Pause> paused_;  // by account, guarded by mutex_
  std::map<std::string, Clock::time_point> no_token_;  // account -> last seen, guarded by mutex_
};

}  // namespace hm
