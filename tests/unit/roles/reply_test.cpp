// The reply role on the in-memory store and HTTP client: at most one reply
// per inbound message, whatever the Graph API answers and however often the
// job comes. No database, no socket.
#include "roles/reply.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>

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

class ReplyLogicTest : public ::testing::Test {
 protected:
  ReplyLogicTest()
      : store_(clock_),
        http_([this](const test::FakeCall& c) { return answer(c); }),
        tokens_({"", "token"}, clock_),
        graph_(http_, tokens_, graph_options(), clock_),
        rules_(ReplyRules::parse(R"({"accounts": {"17841400000000001": {"rules": [
                   {"name": "hours", "keywords": ["saat", "hours"], "reply": "09:00-22:00"},
                   {"name": "price", "pattern": "fiyat|price", "reply": "hm.example/fiyat"}]}}})",
                                 "test")),
        reply_(store_, graph_, rules_, clock_) {}

  static GraphOptions graph_options() {
    GraphOptions g;
    g.base = "https://graph.test";
    g.retry.max_attempts = 3;
    return g;
  }

  // An inbound message (or an echo) received age_ms ago.
  std::uint64_t message(const std::string& mid, const std::string& text, long long age_ms = 1000,
                        Direction direction = Direction::kInbound) {
    StoredMessage m;
    m.mid = mid;
    m.account_id = kAccount;
    m.customer_id = kCustomer;
    m.direction = direction;
    m.text = text;
    m.event_time_ms = clock_.wall_ms() - age_ms;
    return store_.add_message(m);
  }
  static std::string job(const std::string& mid) { return json{{"mid", mid}}.dump(); }
  Verdict run(const std::string& mid) { return reply_.handle({job(mid)}).at(0).verdict; }

  std::function<HttpResult(const test::FakeCall&)> answer = [](const test::FakeCall&) {
    return test::http_answer(200, R"({"recipient_id":"990000000000001","message_id":"sent-1"})");
  };
  test::FakeClock clock_;
  test::FakeRoleStore store_;
  test::FakeHttpClient http_;
  AccountTokens tokens_;
  GraphApi graph_;
  ReplyRules rules_;
  ReplyService reply_;
};

TEST_F(ReplyLogicTest, SendsOnceEvenWhenTheJobComesTwice) {
  const auto id = message("q1", "Çalışma saatleriniz?");
  const auto first = reply_.handle({job("q1")});
  EXPECT_EQ(first[0].verdict, Verdict::kDone);
  EXPECT_EQ(first[0].counts.applied, 1);
  const auto again = reply_.handle({job("q1"), job("q1")});
  EXPECT_EQ(again[1].verdict, Verdict::kDone);
  EXPECT_EQ(again[1].counts.applied, 0);
  ASSERT_EQ(http_.count("POST"), 1);
  const auto call = http_.calls().at(0);
  // /me/messages: both login types accept it, the account is the token's.
  EXPECT_EQ(call.url, "https://graph.test/me/messages");
  EXPECT_EQ(json::parse(call.body)["message"]["text"], "09:00-22:00");
  EXPECT_EQ(json::parse(call.body)["recipient"]["id"], kCustomer);
  const auto r = store_.stored_reply(id);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->record.status, ReplyStatus::kSent);
  EXPECT_EQ(r->record.sent_message_id, "sent-1");
  EXPECT_EQ(r->record.attempts, 1);
  EXPECT_EQ(r->rule, "hours");
}

// A rate limit proves the message was not sent: the reply goes back to
// `reserved` and is sent by the housekeeping once due, not failed after a
// 30 s budget; the account's calls pause meanwhile (no retry storm).
TEST_F(ReplyLogicTest, ARateLimitedReplyIsDeferredThenSent) {
  int posts = 0;
  answer = [&](const test::FakeCall&) {
    if (++posts == 1) return test::http_answer(400, R"({"error":{"message":"limit","code":613}})");
    return test::http_answer(200, R"({"message_id":"sent-after-wait"})");
  };
  const auto id = message("q2", "fiyat ne kadar?");
  EXPECT_EQ(run("q2"), Verdict::kDone);
  EXPECT_EQ(posts, 1);
  EXPECT_EQ(store_.stored_reply(id)->record.status, ReplyStatus::kReserved);
  const auto other = message("q2b", "fiyat?");  // same account, paused: no call
  EXPECT_EQ(run("q2b"), Verdict::kDone);
  EXPECT_EQ(posts, 1);
  EXPECT_EQ(reply_.retry_due(), 0);  // not due yet
  EXPECT_EQ(run("q2"), Verdict::kDone);  // the job again: not due, not sent
  EXPECT_EQ(posts, 1);
  clock_.advance(std::chrono::seconds(61));
  EXPECT_EQ(reply_.retry_due(), 2);
  EXPECT_EQ(posts, 3);
  EXPECT_EQ(store_.stored_reply(id)->record.status, ReplyStatus::kSent);
  EXPECT_EQ(store_.stored_reply(other)->record.status, ReplyStatus::kSent);
}

TEST_F(ReplyLogicTest, ARefusedReplyIsFailedAndADeferredOneFailsWhenTheWindowCloses) {
  answer = [](const test::FakeCall&) {
    return test::http_answer(400, R"({"error":{"message":"User cannot receive messages","code":551}})");
  };
  const auto refused = message("q3", "price?");
  EXPECT_EQ(run("q3"), Verdict::kDone);
  EXPECT_EQ(http_.count("POST"), 1);  // permanent: not retried
  const auto r = store_.stored_reply(refused);
  EXPECT_EQ(r->record.status, ReplyStatus::kFailed);
  EXPECT_NE(r->error.find("551"), std::string::npos) << r->error;

  answer = [](const test::FakeCall&) { return test::http_answer(400, R"({"error":{"code":190,"message":"expired"}})"); };
  const auto waiting = message("q3b", "price?");
  EXPECT_EQ(run("q3b"), Verdict::kDone);
  EXPECT_EQ(store_.stored_reply(waiting)->record.status, ReplyStatus::kReserved);
  clock_.advance(std::chrono::hours(25));
  EXPECT_EQ(reply_.retry_due(), 0);
  EXPECT_EQ(http_.count("POST"), 2);
  const auto closed = store_.stored_reply(waiting);
  EXPECT_EQ(closed->record.status, ReplyStatus::kFailed);
  EXPECT_NE(closed->error.find("window closed"), std::string::npos) << closed->error;
}

// A gateway's 502/504 or a server's 500 come after the request arrived: Graph
// may have delivered the message. Sent once, recorded unknown, never repeated.
TEST_F(ReplyLogicTest, AServerErrorAnswerIsNeverRepeated) {
  for (long status : {500L, 502L, 504L}) {
    answer = [status](const test::FakeCall&) {
      return test::http_answer(status, R"({"error":{"message":"unexpected","code":2,"is_transient":true}})");
    };
    const std::string mid = "gw" + std::to_string(status);
    const auto id = message(mid, "hours?");
    const int before = http_.count("POST");
    EXPECT_EQ(run(mid), Verdict::kDone);
    EXPECT_EQ(run(mid), Verdict::kDone);
    EXPECT_EQ(http_.count("POST") - before, 1) << status;
    EXPECT_EQ(store_.stored_reply(id)->record.status, ReplyStatus::kUnknown) << status;
  }
}

TEST_F(ReplyLogicTest, AnUnansweredSendIsNeverRepeated) {
  answer = [](const test::FakeCall&) { return test::http_failure(HttpFailure::kTimeout, /*request_sent=*/true); };
  const auto id = message("q4", "hours?");
  EXPECT_EQ(run("q4"), Verdict::kDone);
  EXPECT_EQ(run("q4"), Verdict::kDone);
  EXPECT_EQ(http_.count("POST"), 1);
  EXPECT_EQ(store_.stored_reply(id)->record.status, ReplyStatus::kUnknown);
}

TEST_F(ReplyLogicTest, ARequestThatNeverLeftIsRetriedThenDeferred) {
  answer = [](const test::FakeCall&) { return test::http_failure(HttpFailure::kNotSent, /*request_sent=*/false); };
  const auto id = message("q5", "hours?");
  EXPECT_EQ(run("q5"), Verdict::kDone);
  EXPECT_EQ(http_.count("POST"), 3);  // GraphOptions::retry.max_attempts
  EXPECT_EQ(clock_.sleeps().size(), 2u);
  EXPECT_EQ(store_.stored_reply(id)->record.status, ReplyStatus::kReserved);  // tried again later
}

TEST_F(ReplyLogicTest, NoReplyToEchoesDeletedOldOrUnmatchedMessages) {
  message("x-echo", "hours", 1000, Direction::kEcho);
  message("x-deleted", "hours");
  store_.mark_deleted("x-deleted");
  message("x-nomatch", "teşekkürler");
  for (const auto& o : reply_.handle({job("x-echo"), job("x-deleted"), job("x-nomatch")})) {
    EXPECT_EQ(o.verdict, Verdict::kDone);
    EXPECT_EQ(o.counts.applied, 0);
  }
  // Outside the 24-hour window since the customer's last message.
  test::FakeClock later_clock;
  test::FakeRoleStore old_store(later_clock);
  StoredMessage old;
  old.mid = "x-old";
  old.account_id = kAccount;
  old.customer_id = kCustomer;
  old.text = "hours";
  old.event_time_ms = later_clock.wall_ms() - 25LL * 3600 * 1000;
  const auto old_id = old_store.add_message(old);
  ReplyService old_reply(old_store, graph_, rules_, later_clock);
  EXPECT_EQ(old_reply.handle({job("x-old")}).at(0).verdict, Verdict::kDone);
  EXPECT_EQ(http_.count("POST"), 0);
  EXPECT_FALSE(old_store.stored_reply(old_id).has_value());
  EXPECT_EQ(store_.calls("reserve_reply"), 0);
}

TEST_F(ReplyLogicTest, AReplyAnotherWorkerIsSendingIsLeftAlone) {
  const auto id = message("q6", "hours");
  ASSERT_TRUE(store_.reserve_reply(id, kAccount, kCustomer, "hours", "09:00-22:00").value);
  ASSERT_TRUE(store_.claim_reply_send(id).value);  // that worker died mid-send
  EXPECT_EQ(run("q6"), Verdict::kDone);
  EXPECT_EQ(http_.count("POST"), 0);
  EXPECT_EQ(store_.stored_reply(id)->record.status, ReplyStatus::kSending);
}

TEST_F(ReplyLogicTest, StoreFailuresAreRetriedOrDeadLetteredByCategory) {
  const auto id = message("q7", "hours");
  store_.fail_next("reserve_reply", Status::Retryable("Lock wait timeout exceeded", 1205));
  auto out = reply_.handle({job("q7")}).at(0);
  EXPECT_EQ(out.verdict, Verdict::kRetryLater);
  EXPECT_EQ(out.reason, "Lock wait timeout exceeded");
  EXPECT_EQ(http_.count("POST"), 0);
  // Redelivered: sent once.
  EXPECT_EQ(run("q7"), Verdict::kDone);
  EXPECT_EQ(store_.stored_reply(id)->record.status, ReplyStatus::kSent);

  message("q8", "hours");
  store_.fail_next("claim_reply_send", Status::Permanent("Data too long for column", 1406));
  out = reply_.handle({job("q8")}).at(0);
  EXPECT_EQ(out.verdict, Verdict::kDeadLetter);
  EXPECT_EQ(out.reason, "cannot be stored: Data too long for column");
  EXPECT_EQ(http_.count("POST"), 1);
}

TEST_F(ReplyLogicTest, BadJobsAndUnknownMessagesAreDeadLettered) {
  auto out = reply_.handle({"not json", job("nope"), R"({"mid": ""})"});
  EXPECT_EQ(out[0].verdict, Verdict::kDeadLetter);
  EXPECT_EQ(out[0].reason, "bad job: expected {\"mid\": \"...\"}");
  EXPECT_EQ(out[1].verdict, Verdict::kDeadLetter);
  EXPECT_EQ(out[1].reason, "message nope is not stored");
  EXPECT_EQ(out[2].verdict, Verdict::kDeadLetter);
  store_.fail_next("find_message", Status::Retryable("Lost connection to server during query", 2013));
  EXPECT_EQ(run("nope"), Verdict::kRetryLater);
}

// A paused account's replies wait untouched and never crowd out the other
// accounts' (due_replies leaves them out, even with a batch of one); once its
// token changes they go out at the housekeeping's next turn, without waiting
// for the pause (GRAPH_AUTH_PAUSE) to end.
TEST(ReplyHeldAccountsTest, APausedAccountsRepliesWaitWithoutCrowdingOutOthersAndGoOutOnceItsTokenIsFixed) {
  const std::string a = "17841400000000001", b = "17841400000000002";
  const std::string path = "/tmp/hm-reply-tokens-" + std::to_string(::getpid()) + ".json";
  const auto write = [&](const std::string& text) {
    std::ofstream(path + ".new") << text;
    std::rename((path + ".new").c_str(), path.c_str());
  };
  write(R"({")" + a + R"(": "revoked-token", ")" + b + R"(": "token-b"})");
  test::FakeClock clock;
  test::FakeRoleStore store(clock);
  AccountTokens tokens({path, ""}, clock);
  int b_posts = 0;
  test::FakeHttpClient http([&](const test::FakeCall& c) {
    if (c.options.headers.at(0) == "Authorization: Bearer revoked-token")
      return test::http_answer(400, R"({"error":{"message":"Error validating access token: The user has not authorized application 1.","type":"OAuthException","code":190,"error_subcode":458,"fbtrace_id":"B1"}})");
    if (c.options.headers.at(0) == "Authorization: Bearer token-b" && ++b_posts == 1)
      return test::http_answer(400, R"({"error":{"message":"(#613) Calls to this api have exceeded the rate limit.","type":"OAuthException","code":613,"fbtrace_id":"B2"}})");
    return test::http_answer(200, R"({"recipient_id":"990000000000001","message_id":"ok"})");
  });
  GraphOptions g;
  g.base = "https://graph.test";
  g.rate_limit_pause = 60s;
  g.auth_pause = 300s;
  GraphApi graph(http, tokens, g, clock);
  const auto rules = ReplyRules::parse(R"({"accounts": {")" + a + R"(": {"rules": [{"name": "h", "keywords": ["saat"], "reply": "09-22"}]}, ")" + b +
                                           R"(": {"rules": [{"name": "h", "keywords": ["saat"], "reply": "10-20"}]}}})",
                                       "test");
  ReplyOptions o;
  o.due_batch = 1;
  o.rate_limit_pause = 60s;
  o.housekeeping_interval = 10s;
  ReplyService reply(store, graph, rules, clock, o);
  const auto add = [&](const std::string& mid, const std::string& account, const std::string& customer) {
    StoredMessage m;
    m.mid = mid;
    m.account_id = account;
    m.customer_id = customer;
    m.direction = Direction::kInbound;
    m.text = "saat?";
    m.event_time_ms = clock.wall_ms() - 1000;
    return store.add_message(m);
  };
  const auto a1 = add("a1", a, "990000000000011"), a2 = add("a2", a, "990000000000012"),
             b1 = add("b1", b, "990000000000021");
  for (const char* mid : {"a1", "a2", "b1"}) EXPECT_EQ(reply.handle({json{{"mid", mid}}.dump()}).at(0).verdict, Verdict::kDone);
  EXPECT_EQ(http.count("POST"), 2);  // a2 found its account paused: no call
  clock.advance(61s);  // every reply is due; account A is still paused
  EXPECT_EQ(reply.retry_due(), 1);
  EXPECT_EQ(store.stored_reply(b1)->record.status, ReplyStatus::kSent);
  EXPECT_EQ(store.stored_reply(a1)->record.status, ReplyStatus::kReserved);
  EXPECT_EQ(http.count("POST"), 3);  // none for A
  EXPECT_EQ(reply.retry_due(), 0);
  write(R"({")" + a + R"(": "new-token", ")" + b + R"(": "token-b"})");
  clock.advance(11s);
  EXPECT_EQ(reply.retry_due() + reply.retry_due(), 2);
  EXPECT_EQ(store.stored_reply(a1)->record.status, ReplyStatus::kSent);
  EXPECT_EQ(store.stored_reply(a2)->record.status, ReplyStatus::kSent);
  EXPECT_EQ(http.count("POST"), 5);
  std::remove(path.c_str());
}

// hm_worker_replies_total: each reply counted once, by the status the store
// recorded, where it was decided (a job, the housekeeping's retry or expiry).
class ReplyCounter final : public Telemetry {
 public:
  void replied(ReplyEnd end, long long count) override { counts[to_string(end)] += count; }
  std::map<std::string, long long> counts;
};

TEST_F(ReplyLogicTest, EveryOutcomeIsCountedOnceByTheStatusRecorded) {
  ReplyCounter counter;
  ReplyService reply(store_, graph_, rules_, clock_, ReplyOptions{}, nullptr, &counter);
  const auto handle = [&](const std::string& mid) { return reply.handle({job(mid)}).at(0).verdict; };
  message("c-sent", "hours?");
  EXPECT_EQ(handle("c-sent"), Verdict::kDone);
  EXPECT_EQ(handle("c-sent"), Verdict::kDone);  // again: nothing sent, nothing counted
  answer = [](const test::FakeCall&) {
    return test::http_answer(400, R"({"error":{"message":"User cannot receive messages","code":551}})");
  };
  message("c-failed", "hours?");
  EXPECT_EQ(handle("c-failed"), Verdict::kDone);
  answer = [](const test::FakeCall&) { return test::http_failure(HttpFailure::kTimeout, /*request_sent=*/true); };
  message("c-unknown", "hours?");
  EXPECT_EQ(handle("c-unknown"), Verdict::kDone);
  answer = [](const test::FakeCall&) { return test::http_failure(HttpFailure::kNotSent, /*request_sent=*/false); };
  const auto deferred = message("c-deferred", "hours?");
  EXPECT_EQ(handle("c-deferred"), Verdict::kDone);
  EXPECT_EQ(store_.stored_reply(deferred)->record.status, ReplyStatus::kReserved);
  EXPECT_EQ(counter.counts, (std::map<std::string, long long>{{"sent", 1}, {"failed", 1}, {"unknown", 1}, {"deferred", 1}}));
  // The deferred one, retried once due, is sent: counted sent as well.
  answer = [](const test::FakeCall&) { return test::http_answer(200, R"({"message_id":"sent-later"})"); };
  clock_.advance(std::chrono::seconds(31));
  EXPECT_EQ(reply.retry_due(), 1);
  EXPECT_EQ(counter.counts["sent"], 2);
  // A send left by a dead worker, expired by the housekeeping: unknown.
  const auto stuck = message("c-stuck", "hours?");
  ASSERT_TRUE(store_.reserve_reply(stuck, kAccount, kCustomer, "hours", "09:00-22:00").value);
  ASSERT_TRUE(store_.claim_reply_send(stuck).value);
  clock_.advance(std::chrono::seconds(301));
  EXPECT_EQ(reply.expire_stale_sends(), 1);
  EXPECT_EQ(counter.counts, (std::map<std::string, long long>{{"sent", 2}, {"failed", 1}, {"unknown", 2}, {"deferred", 1}}));
}

}  // namespace
}  // namespace hm
