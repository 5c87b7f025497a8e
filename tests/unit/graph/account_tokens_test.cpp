// GRAPH_ACCESS_TOKENS_FILE: each account's own token, the single token as the
// fallback, the file re-read when Kubernetes swaps the Secret's files.
#include "graph/account_tokens.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "graph/graph_api.h"
#include "hm/config_error.h"
#include "support/fake_http_client.h"
#include "support/fakes.h"

namespace hm {
namespace {

using namespace std::chrono_literals;

class AccountTokensTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = "/tmp/hm-tokens-" + std::to_string(::getpid()) + ".json"; }
  void TearDown() override {
    std::remove(path_.c_str());
    std::remove((path_ + ".new").c_str());
  }
  // Writes a new version the way Kubernetes does: a new file renamed over the old.
  void write(const std::string& text) {
    std::ofstream(path_ + ".new") << text;
    std::rename((path_ + ".new").c_str(), path_.c_str());
  }
  std::string path_;
  test::FakeClock clock_;
};

// With the file, an account missing from it has no token (the single token
// would send as another account: /me is the token's account); without the
// file, the single token serves every account.
TEST_F(AccountTokensTest, EachAccountGetsItsOwnTokenTheSingleTokenOnlyWithoutAFile) {
  write(R"({"111": "token-a", "222": "token-b"})");
  AccountTokens tokens({path_, "fallback"}, clock_);
  EXPECT_EQ(tokens.token_for("111").value_or(""), "token-a");
  EXPECT_EQ(tokens.token_for("222").value_or(""), "token-b");
  EXPECT_FALSE(tokens.token_for("333").has_value());
  AccountTokens single({"", "single"}, clock_);
  EXPECT_EQ(single.token_for("333").value_or(""), "single");
  AccountTokens none({"", ""}, clock_);
  EXPECT_TRUE(none.empty());
}

TEST_F(AccountTokensTest, AChangedFileIsReadAgainAndABadVersionKeepsTheOldTokens) {
  write(R"({"111": "old"})");
  AccountTokens tokens({path_, ""}, clock_);
  const auto generation = tokens.generation();
  write(R"({"111": "new-token-longer"})");
  EXPECT_EQ(tokens.token_for("111").value_or(""), "old");  // not looked at again before `recheck`
  clock_.advance(11s);
  EXPECT_EQ(tokens.token_for("111").value_or(""), "new-token-longer");
  EXPECT_GT(tokens.generation(), generation);
  write("{ half written");
  clock_.advance(11s);
  EXPECT_EQ(tokens.token_for("111").value_or(""), "new-token-longer");
}

TEST_F(AccountTokensTest, ABadFileStopsTheStartNamingTheVariableNeverAToken) {
  EXPECT_THROW(AccountTokens({"/nonexistent/tokens.json", ""}, clock_), ConfigError);
  for (const char* bad : {R"(["x"])", R"({"111": 5})", R"({"111": ""})", R"({"s3cret-token": "111"})",
                          R"({"111": "s3cret-token\r\nX-Evil: 1"})", R"({"111": "s3cret-token "})", "nope"}) {
    write(bad);
    try {
      AccountTokens tokens({path_, ""}, clock_);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.variable(), "GRAPH_ACCESS_TOKENS_FILE");
      EXPECT_EQ(std::string(e.what()).find("s3cret-token"), std::string::npos) << e.what();
    }
  }
}

// Each call carries the token of its own account; an account without one
// makes no call.
TEST_F(AccountTokensTest, GraphCallsCarryTheirAccountsToken) {
  write(R"({"111": "token-a", "222": "token-b"})");
  AccountTokens tokens({path_, ""}, clock_);
  test::FakeHttpClient http([](const test::FakeCall&) { return test::http_answer(200, R"({"message_id":"m"})"); });
  GraphOptions o;
  o.base = "https://graph.test";
  GraphApi graph(http, tokens, o, clock_);
  EXPECT_EQ(graph.send_text("111", "999", "hi").outcome, GraphOutcome::kOk);
  EXPECT_EQ(graph.send_text("222", "999", "hi").outcome, GraphOutcome::kOk);
  const auto missing = graph.send_text("333", "999", "hi");
  EXPECT_EQ(missing.outcome, GraphOutcome::kNoToken);
  EXPECT_NE(missing.error.find("account 333"), std::string::npos);
  ASSERT_EQ(http.calls().size(), 2u);
  EXPECT_EQ(http.calls()[0].options.headers.at(0), "Authorization: Bearer token-a");
  EXPECT_EQ(http.calls()[1].options.headers.at(0), "Authorization: Bearer token-b");
}

}  // namespace
}  // namespace hm
