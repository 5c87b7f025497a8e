// The accounts whose Graph calls are held back, as /readyz and the
// hm_worker_graph_account_blocked gauge show them: which account and why,
// never its token; the gauge back to 0 when the pause ends or the token
// changes, without waiting for the account's next call.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <mutex>
#include <tuple>

#include "graph/graph_api.h"
#include "support/fake_http_client.h"
#include "support/fakes.h"

namespace hm {
namespace {

using namespace std::chrono_literals;

// Records graph_account() calls: (account, reason, blocked).
class GaugeRecorder final : public Telemetry {
 public:
  using Call = std::tuple<std::string, std::string, bool>;
  void graph_account(const std::string& account, AccountHold reason, bool blocked) override {
    std::lock_guard<std::mutex> lock(mutex_);
    calls_.emplace_back(account, to_string(reason), blocked);
  }
  // The gauge's last value for (account, reason); -1 when never set.
  int last(const std::string& account, const std::string& reason) const {
    std::lock_guard<std::mutex> lock(mutex_);
    int v = -1;
    for (const auto& [a, r, b] : calls_)
      if (a == account && r == reason) v = b ? 1 : 0;
    return v;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Call> calls_;
};

class GraphAccountsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = "/tmp/hm-graph-accounts-" + std::to_string(::getpid()) + ".json";
    write(R"({"111": "s3cret-token-a", "222": "token-b"})");
  }
  void TearDown() override { std::remove(path_.c_str()); }
  void write(const std::string& text) {
    std::ofstream(path_ + ".new") << text;
    std::rename((path_ + ".new").c_str(), path_.c_str());
  }
  static GraphOptions options() {
    GraphOptions o;
    o.base = "https://graph.test";
    o.rate_limit_pause = 60s;
    o.auth_pause = 300s;
    return o;
  }
  // 190 for account 111's token, 613 for 222's, as Graph words them.
  static HttpResult answer(const test::FakeCall& c) {
    if (c.options.headers.at(0) == "Authorization: Bearer s3cret-token-a")
      return test::http_answer(400, R"({"error":{"message":"Error validating access token: The session has been invalidated because the user changed their password.","type":"OAuthException","code":190,"error_subcode":460,"fbtrace_id":"AbC1"}})");
    if (c.options.headers.at(0) == "Authorization: Bearer token-b")
      return test::http_answer(400, R"({"error":{"message":"(#613) Calls to this api have exceeded the rate limit.","type":"OAuthException","code":613,"fbtrace_id":"AbC2"}})");
    return test::http_answer(200, R"({"recipient_id":"999","message_id":"m"})");
  }
  static std::string lines(const std::vector<AccountBlock>& blocks) {
    std::string out;
    for (const auto& b : blocks) out += describe(b) + "\n";
    return out;
  }
  std::string path_;
  test::FakeClock clock_;
  GaugeRecorder gauges_;
};

TEST_F(GraphAccountsTest, BlockedAccountsAreNamedWithWhyNeverWithTheirToken) {
  AccountTokens tokens({path_, ""}, clock_);
  test::FakeHttpClient http(answer);
  GraphApi graph(http, tokens, options(), clock_, nullptr, gauges_);
  EXPECT_EQ(graph.send_text("111", "999", "hi").outcome, GraphOutcome::kAuth);
  EXPECT_EQ(graph.send_text("222", "999", "hi").outcome, GraphOutcome::kRateLimited);
  EXPECT_EQ(graph.send_text("333", "999", "hi").outcome, GraphOutcome::kNoToken);
  const auto blocked = graph.blocked_accounts();
  ASSERT_EQ(blocked.size(), 3u) << lines(blocked);
  const std::string text = lines(blocked);
  EXPECT_NE(text.find("graph: account 111 blocked: token or permission refused (HTTP 400, Graph error 190/460)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("in 300 s"), std::string::npos) << text;
  EXPECT_NE(text.find("graph: account 222 rate limited (HTTP 400, Graph error 613); calls resume in 60 s"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("graph: account 333 has no token"), std::string::npos) << text;
  EXPECT_EQ(text.find("s3cret"), std::string::npos) << text;
  EXPECT_EQ(text.find("password"), std::string::npos) << text;  // Graph's message text stays in the logs
  EXPECT_EQ(gauges_.last("111", "auth"), 1);
  EXPECT_EQ(gauges_.last("222", "rate_limited"), 1);
}

// The gauge falls when the pause ends or the account's token changes, found
// by the look /readyz makes every second: an account that sends nothing more
// does not stay "blocked" for ever.
TEST_F(GraphAccountsTest, TheGaugeFallsWhenThePauseEndsOrTheTokenChangesWithoutAnotherCall) {
  AccountTokens tokens({path_, ""}, clock_);
  test::FakeHttpClient http(answer);
  GraphApi graph(http, tokens, options(), clock_, nullptr, gauges_);
  graph.send_text("111", "999", "hi");
  graph.send_text("222", "999", "hi");
  ASSERT_EQ(http.calls().size(), 2u);
  clock_.advance(61s);  // the rate limit's pause is over
  auto blocked = graph.blocked_accounts();
  ASSERT_EQ(blocked.size(), 1u) << lines(blocked);
  EXPECT_EQ(blocked[0].account, "111");
  EXPECT_EQ(gauges_.last("222", "rate_limited"), 0);
  EXPECT_EQ(gauges_.last("111", "auth"), 1);
  EXPECT_TRUE(graph.paused("111"));
  // The operator fixes the token: the Secret's file changes (seen within 10 s).
  write(R"({"111": "fixed-token-a", "222": "token-b"})");
  clock_.advance(11s);
  EXPECT_TRUE(graph.blocked_accounts().empty());
  EXPECT_EQ(gauges_.last("111", "auth"), 0);
  EXPECT_FALSE(graph.paused("111"));
  EXPECT_EQ(http.calls().size(), 2u);  // no call was needed to notice
  EXPECT_EQ(graph.send_text("111", "999", "hi").outcome, GraphOutcome::kOk);
}

// Accounts without a token are whatever ids deliveries name: a bounded few,
// the most recent, for ten minutes.
TEST_F(GraphAccountsTest, AccountsWithoutATokenAreListedBoundedAndForgotten) {
  AccountTokens tokens({path_, ""}, clock_);
  test::FakeHttpClient http(answer);
  GraphApi graph(http, tokens, options(), clock_, nullptr, gauges_);
  for (int i = 0; i < 40; ++i) {
    clock_.advance(1ms);
    graph.fetch_profile(std::to_string(5000 + i), "999");
  }
  auto blocked = graph.blocked_accounts();
  EXPECT_EQ(blocked.size(), 16u);
  EXPECT_NE(lines(blocked).find("account 5039 "), std::string::npos);  // the latest is kept
  EXPECT_EQ(lines(blocked).find("account 5000 "), std::string::npos);
  EXPECT_TRUE(http.calls().empty());
  clock_.advance(11min);
  EXPECT_TRUE(graph.blocked_accounts().empty());
}

// The shared category the roles decide on: waiting may fix a rate limit or a
// refused token, never a permanent refusal or a missing token; a send with no
// answer is never repeated.
TEST(GraphOutcomeTest, EachOutcomeHasTheSeamsCategory) {
  EXPECT_EQ(category(GraphOutcome::kOk), ErrorCategory::kNone);
  EXPECT_EQ(category(GraphOutcome::kRetryable), ErrorCategory::kRetryable);
  EXPECT_EQ(category(GraphOutcome::kRateLimited), ErrorCategory::kRetryable);
  EXPECT_EQ(category(GraphOutcome::kAuth), ErrorCategory::kRetryable);
  EXPECT_EQ(category(GraphOutcome::kNoToken), ErrorCategory::kPermanent);
  EXPECT_EQ(category(GraphOutcome::kPermanent), ErrorCategory::kPermanent);
  EXPECT_EQ(category(GraphOutcome::kUnknown), ErrorCategory::kUnknown);
}

}  // namespace
}  // namespace hm
