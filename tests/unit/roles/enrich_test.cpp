// The enrich role on the in-memory store and HTTP client: contacts and
// conversations merge, the profile is fetched at most once per TTL, and Graph
// and store failures end as the right verdict. No database, no socket.
#include "roles/enrich.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/fake_http_client.h"
#include "support/fake_role_store.h"
#include "support/fakes.h"

namespace hm {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string kAccount = "17841400000000001";
const std::string kCustomer = "990000000000001";

class EnrichLogicTest : public ::testing::Test {
 protected:
  EnrichLogicTest()
      : store_(clock_),
        http_([this](const test::FakeCall& c) { return answer(c); }),
        tokens_({"", "test-token-not-logged"}, clock_),
        graph_(http_, tokens_, graph_options(), clock_),
        enrich_(store_, &graph_, EnrichOptions{3600s}, clock_) {}

  static GraphOptions graph_options() {
    GraphOptions g;
    g.base = "https://graph.test";
    g.retry.max_attempts = 3;
    return g;
  }
  std::uint64_t message(const std::string& mid, long long age_ms, Direction direction = Direction::kInbound,
                        const std::string& customer = kCustomer) {
    StoredMessage m;
    m.mid = mid;
    m.account_id = kAccount;
    m.customer_id = customer;
    m.direction = direction;
    m.text = "hi";
    m.event_time_ms = clock_.wall_ms() - age_ms;
    return store_.add_message(m);
  }
  static std::string job(const std::string& mid) { return json{{"mid", mid}}.dump(); }

  std::function<HttpResult(const test::FakeCall&)> answer = [](const test::FakeCall&) {
    return test::http_answer(200, json{{"name", "Ayşe Yılmaz"}, {"username", "ayse.y"}, {"follower_count", 1234},
                                       {"is_user_follow_business", true}}
                                      .dump());
  };
  test::FakeClock clock_;
  test::FakeRoleStore store_;
  test::FakeHttpClient http_;
  AccountTokens tokens_;
  GraphApi graph_;
  EnrichService enrich_;
};

TEST_F(EnrichLogicTest, KeepsContactAndConversationAndFetchesTheProfileOncePerTtl) {
  message("e1", 60000);
  message("e2", 50000, Direction::kEcho);
  message("e3", 40000);
  for (const auto& o : enrich_.handle({job("e1"), job("e2"), job("e3"), job("e1")}))
    EXPECT_EQ(o.verdict, Verdict::kDone) << o.reason;
  ASSERT_EQ(http_.count("GET"), 1);
  const auto call = http_.calls().at(0);
  EXPECT_EQ(call.url.rfind("https://graph.test/" + kCustomer + "?fields=name,username,profile_pic,follower_count", 0), 0u);
  EXPECT_EQ(call.url.find("token"), std::string::npos);  // never in the URL
  EXPECT_EQ(call.options.headers.at(0), "Authorization: Bearer test-token-not-logged");
  const auto c = store_.contact(kAccount, kCustomer);
  ASSERT_TRUE(c && c->profile);
  EXPECT_EQ(c->profile->name.value_or(""), "Ayşe Yılmaz");
  EXPECT_EQ(c->profile->follower_count.value_or(0), 1234);
  EXPECT_FALSE(c->profile->is_verified_user.has_value());
  EXPECT_EQ(c->first_seen_ms, clock_.wall_ms() - 60000);
  const auto conv = store_.conversation(kAccount, kCustomer);
  ASSERT_TRUE(conv.has_value());
  EXPECT_EQ(conv->inbound_count, 2);
  EXPECT_EQ(conv->outbound_count, 1);
  EXPECT_LT(conv->first_message_ms, conv->last_message_ms);
  // Once the TTL has passed, the next job fetches again.
  clock_.advance(3601s);
  EXPECT_EQ(enrich_.handle({job("e3")}).at(0).verdict, Verdict::kDone);
  EXPECT_EQ(http_.count("GET"), 2);
}

// A rate limit or a refused token is the account's problem: the profile is
// not marked fetched (profile_fetched_at would keep it dead for PROFILE_TTL),
// the job waits (left pending, the delivery not counted toward
// QUEUE_MAX_DELIVERIES, so never a dead letter), and while the account's
// calls pause its jobs make no call and claim nothing (no retry storm).
TEST_F(EnrichLogicTest, RateLimitsAndRefusedTokensKeepTheJobWaitingWithoutARetryStorm) {
  for (const char* error : {R"({"error":{"message":"(#4) Application request limit reached","type":"OAuthException","code":4,"is_transient":true,"fbtrace_id":"A1"}})",
                            R"({"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"A2"}})"}) {
    clock_.advance(std::chrono::hours(1));  // past any pause
    answer = [error](const test::FakeCall&) { return test::http_answer(400, error); };
    const std::string mid = std::string("r-") + std::to_string(http_.count("GET"));
    message(mid, 1000);
    const int before = http_.count("GET");
    const auto out = enrich_.handle({job(mid)}).at(0);
    EXPECT_EQ(out.verdict, Verdict::kRetryLater) << error;
    EXPECT_FALSE(out.counts_as_delivery) << error;
    EXPECT_TRUE(out.unavailable.empty());  // not the database: no breaker
    EXPECT_EQ(http_.count("GET") - before, 1) << error;  // no retries in the call
    const auto c = store_.contact(kAccount, kCustomer);
    EXPECT_FALSE(c->profile_claimed_ms.has_value());
    EXPECT_FALSE(c->profile_fetched_ms.has_value()) << error;
    // Paused: the job again, and the next message of the account, make no
    // call and claim nothing; they wait too.
    message(mid + "-2", 500);
    const int claims = store_.calls("claim_profile_fetch");
    for (const auto& o : enrich_.handle({job(mid), job(mid + "-2")})) {
      EXPECT_EQ(o.verdict, Verdict::kRetryLater) << error;
      EXPECT_FALSE(o.counts_as_delivery);
    }
    EXPECT_EQ(http_.count("GET") - before, 1) << error;
    EXPECT_EQ(store_.calls("claim_profile_fetch"), claims);
  }
  // The pause over: the waiting job fetches the profile and is done.
  clock_.advance(std::chrono::hours(1));
  answer = [](const test::FakeCall&) { return test::http_answer(200, R"({"name":"Karim"})"); };
  message("r-ok", 100);
  EXPECT_EQ(enrich_.handle({job("r-ok")}).at(0).verdict, Verdict::kDone);
  EXPECT_EQ(store_.contact(kAccount, kCustomer)->profile->name.value_or(""), "Karim");
}

// A Graph API outage (5xx after the call's own retries) is not the job's
// fault: it waits uncounted, so an hour-long outage never dead-letters
// profile jobs; an old message is done without the profile.
TEST_F(EnrichLogicTest, AGraphOutageKeepsTheJobWaitingUncounted) {
  answer = [](const test::FakeCall&) { return test::http_answer(503, "Service Unavailable"); };
  message("o1", 1000);
  const auto out = enrich_.handle({job("o1")}).at(0);
  EXPECT_EQ(out.verdict, Verdict::kRetryLater);
  EXPECT_FALSE(out.counts_as_delivery);
  EXPECT_FALSE(store_.contact(kAccount, kCustomer)->profile_fetched_ms.has_value());
  clock_.advance(std::chrono::hours(25));
  EXPECT_EQ(enrich_.handle({job("o1")}).at(0).verdict, Verdict::kDone);
}

// A job does not wait for its account forever: once its message is older
// than max_account_wait it is done without the profile (the contact's next
// message fetches it), and an account without a token has nothing to wait for.
TEST_F(EnrichLogicTest, AnOldMessageOrAnAccountWithoutATokenIsNotKeptWaiting) {
  answer = [](const test::FakeCall&) {
    return test::http_answer(400, R"({"error":{"message":"Invalid OAuth access token - Cannot parse access token","type":"OAuthException","code":190,"fbtrace_id":"A3"}})");
  };
  message("old", 25LL * 3600 * 1000);
  const auto out = enrich_.handle({job("old")}).at(0);
  EXPECT_EQ(out.verdict, Verdict::kDone) << out.reason;
  EXPECT_EQ(out.counts.applied, 0);
  EXPECT_FALSE(store_.contact(kAccount, kCustomer)->profile_fetched_ms.has_value());

  AccountTokens other_account({"", ""}, clock_);  // no token at all
  GraphApi no_token_graph(http_, other_account, graph_options(), clock_);
  EnrichService no_token(store_, &no_token_graph, EnrichOptions{3600s}, clock_);
  message("fresh", 1000);
  EXPECT_EQ(no_token.handle({job("fresh")}).at(0).verdict, Verdict::kDone);
  EXPECT_EQ(http_.count("GET"), 1);  // the first one only
}

TEST_F(EnrichLogicTest, APermanentRefusalIsRecordedNotRetriedBeforeTheTtl) {
  answer = [](const test::FakeCall&) {
    return test::http_answer(400, R"({"error":{"message":"Invalid user id","type":"OAuthException","code":100}})");
  };
  message("p1", 1000);
  EXPECT_EQ(enrich_.handle({job("p1")}).at(0).verdict, Verdict::kDone);  // recorded, never a crash
  EXPECT_EQ(enrich_.handle({job("p1")}).at(0).verdict, Verdict::kDone);
  EXPECT_EQ(http_.count("GET"), 1);
  const auto c = store_.contact(kAccount, kCustomer);
  EXPECT_NE(c->profile_error.find("Graph error 100"), std::string::npos) << c->profile_error;
  EXPECT_FALSE(c->profile.has_value());
}

TEST_F(EnrichLogicTest, WithoutAGraphClientOrForEchoesNoProfileIsFetched) {
  message("n1", 1000);
  EnrichService no_token(store_, nullptr, EnrichOptions{3600s}, clock_);
  EXPECT_EQ(no_token.handle({job("n1")}).at(0).verdict, Verdict::kDone);
  EXPECT_TRUE(store_.contact(kAccount, kCustomer).has_value());
  message("n2", 1000, Direction::kEcho, "7459812036650348");
  EXPECT_EQ(enrich_.handle({job("n2")}).at(0).verdict, Verdict::kDone);
  EXPECT_EQ(http_.count("GET"), 0);
  EXPECT_EQ(store_.calls("claim_profile_fetch"), 0);
}

TEST_F(EnrichLogicTest, StoreFailuresAreRetriedOrDeadLetteredByCategory) {
  message("s1", 1000);
  store_.fail_next("upsert_conversation", Status::Retryable("Deadlock found when trying to get lock", 1213));
  auto out = enrich_.handle({job("s1")}).at(0);
  EXPECT_EQ(out.verdict, Verdict::kRetryLater);
  EXPECT_EQ(out.reason, "Deadlock found when trying to get lock");
  store_.fail_next("upsert_contact", Status::Permanent("Incorrect string value", 1366));
  out = enrich_.handle({job("s1")}).at(0);
  EXPECT_EQ(out.verdict, Verdict::kDeadLetter);
  EXPECT_EQ(out.reason, "cannot be stored: Incorrect string value");
  store_.fail_next("save_profile", Status::Retryable("Lost connection", 2013));
  EXPECT_EQ(enrich_.handle({job("s1")}).at(0).verdict, Verdict::kRetryLater);
  // The fetch stays claimed for a minute: within it, nobody fetches again.
  EXPECT_EQ(enrich_.handle({job("s1")}).at(0).verdict, Verdict::kDone);
  EXPECT_FALSE(store_.contact(kAccount, kCustomer)->profile.has_value());
  clock_.advance(61s);
  EXPECT_EQ(enrich_.handle({job("s1")}).at(0).verdict, Verdict::kDone);
  EXPECT_EQ(http_.count("GET"), 2);
  EXPECT_TRUE(store_.contact(kAccount, kCustomer)->profile.has_value());
}

// Ids come from the stored message; one that is not decimal digits (stored
// before ingest checked them) would become the Graph path /<igsid>. The job
// is a dead letter naming the field, and nothing is called or written.
TEST_F(EnrichLogicTest, AStoredIdThatIsNotDecimalDigitsIsADeadLetterNotAGraphCall) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"123/../../me/accounts", "customer_id is not decimal digits (an Instagram id)"},
      {"12a", "customer_id is not decimal digits (an Instagram id)"},
      {"", "customer_id is empty"},
      {std::string(40, '1'), "customer_id is 40 digits, longer than the limit of 32"},
  };
  int i = 0;
  for (const auto& [customer, reason] : cases) {
    const std::string mid = "bad-" + std::to_string(i++);
    message(mid, 1000, Direction::kInbound, customer);
    const auto out = enrich_.handle({job(mid)}).at(0);
    EXPECT_EQ(out.verdict, Verdict::kDeadLetter) << customer;
    EXPECT_EQ(out.reason, "message " + mid + ": " + reason);
    EXPECT_FALSE(store_.contact(kAccount, customer).has_value());
  }
  EXPECT_EQ(http_.count("GET"), 0);
}

// Jobs come from Redis: a mid that the parser would never have produced is
// refused before the store is asked.
TEST(ParseJobTest, AMidMustBePrintableAsciiWithinTheLimit) {
  std::string mid, error;
  EXPECT_TRUE(parse_job(R"({"mid":"aWdfZAG1-ok_=="})", &mid, &error)) << error;
  EXPECT_EQ(mid, "aWdfZAG1-ok_==");
  EXPECT_FALSE(parse_job(R"({"mid":"a b"})", &mid, &error));
  EXPECT_EQ(error, "bad job: mid holds a character that is not printable ASCII");
  EXPECT_FALSE(parse_job(json{{"mid", std::string(256, 'm')}}.dump(), &mid, &error));
  EXPECT_EQ(error, "bad job: mid is 256 bytes, longer than the limit of 255");
  EXPECT_FALSE(parse_job(R"({"mid":""})", &mid, &error));
  EXPECT_FALSE(parse_job("[]", &mid, &error));
}

}  // namespace
}  // namespace hm
