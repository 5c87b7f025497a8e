// The receiver's decisions with a fake appender: what is answered, what is
// enqueued (the exact bytes), what is counted.
#include "webhook/receiver.h"

#include <gtest/gtest.h>

#include <mutex>

#include "support/fakes.h"

namespace hm::webhook {
namespace {

class FakeAppender final : public DeliveryAppender {
 public:
  Status next = Status::Ok();
  std::vector<std::pair<std::string, long long>> appended;
  Status append(const std::string& payload, long long received_ms) override {
    if (next.ok()) appended.emplace_back(payload, received_ms);
    return next;
  }
};

const std::string kSecret = "s3cret";
const std::string kToken = "verify-me";
const std::string kBody =
    R"({"object":"instagram","entry":[{"id":"1","messaging":[{"message":{"mid":"m","text":"\u00c7ok g\u00fczel"}}]}]})";

struct Rig {
  FakeAppender appender;
  test::FakeClock clock;
  WebhookMetrics metrics;
  SignatureCheck signatures{{kSecret}};
  long long backlog = 0;
  WebhookReceiver receiver{{kToken, 1000, 7}, signatures, appender, [this] { return backlog; }, metrics, clock};

  WebhookRequest post(const std::string& body, const std::string& content_type = "application/json") {
    WebhookRequest r;
    r.method = "POST";
    r.content_type = content_type;
    r.signature = "sha256=" + hmac_sha256_hex(kSecret, body);
    r.body = body;
    return r;
  }
  static WebhookRequest get(std::initializer_list<std::pair<const std::string, std::string>> q) {
    WebhookRequest r;
    r.method = "GET";
    r.query = q;
    return r;
  }
  double count(const std::string& outcome) const {
    const std::string text = metrics.serialize();
    const std::string key = "hm_worker_webhook_requests_total{role=\"webhook\",outcome=\"" + outcome + "\"} ";
    const auto at = text.find(key);
    return at == std::string::npos ? -1 : std::stod(text.substr(at + key.size()));
  }
};

TEST(WebhookReceiverTest, AcceptsASignedDeliveryAndEnqueuesItsExactBytes) {
  Rig rig;
  const WebhookAnswer a = rig.receiver.handle(rig.post(kBody, "application/json; charset=utf-8"));
  EXPECT_EQ(a.status, 200);
  ASSERT_EQ(rig.appender.appended.size(), 1u);
  EXPECT_EQ(rig.appender.appended[0].first, kBody);
  EXPECT_EQ(rig.appender.appended[0].second, rig.clock.wall_ms());
  EXPECT_EQ(rig.count("accepted"), 1);
}

TEST(WebhookReceiverTest, BadSignaturesAre401Or403AndEnqueueNothing) {
  Rig rig;
  WebhookRequest missing = rig.post(kBody);
  missing.signature.reset();
  EXPECT_EQ(rig.receiver.handle(missing).status, 401);
  WebhookRequest sha1 = rig.post(kBody);
  sha1.signature = "sha1=0123456789012345678901234567890123456789";
  EXPECT_EQ(rig.receiver.handle(sha1).status, 401);
  WebhookRequest wrong = rig.post(kBody);
  wrong.body[20] = 'X';
  EXPECT_EQ(rig.receiver.handle(wrong).status, 403);
  EXPECT_TRUE(rig.appender.appended.empty());
  EXPECT_EQ(rig.count("bad_signature"), 3);
}

TEST(WebhookReceiverTest, SignedButNotADeliveryIs400) {
  Rig rig;
  for (const std::string& body :
       {std::string("[]"), std::string("{}"), std::string(R"({"object":"instagram"})"),
        std::string(R"({"object":"instagram","entry":{}})"), std::string(R"({"object":1,"entry":[]})"),
        std::string(R"({"object":"instagram","entry":[]} trailing)"), std::string("{\"object\":\"x\",\"entry\":[\xff]}"),
        std::string(R"({"object":"instagram","entry":[)") + std::string(40, '[') + std::string(41, ']') + "}",
        std::string(""), std::string("nul\0l", 5)}) {
    EXPECT_EQ(rig.receiver.handle(rig.post(body)).status, 400) << body;
  }
  EXPECT_EQ(rig.receiver.handle(rig.post(kBody, "text/plain")).status, 400);
  EXPECT_EQ(rig.receiver.handle(rig.post(kBody, "")).status, 400);
  EXPECT_TRUE(rig.appender.appended.empty());
  EXPECT_EQ(rig.count("bad_request"), 12);
}

TEST(WebhookReceiverTest, TooLargeIs413BeforeAnyOtherCheck) {
  Rig rig;
  WebhookRequest r;
  r.method = "POST";
  r.too_large = true;
  EXPECT_EQ(rig.receiver.handle(r).status, 413);
  EXPECT_EQ(rig.count("too_large"), 1);
}

TEST(WebhookReceiverTest, RedisDownIs503WithRetryAfterAndNothingCountedAccepted) {
  Rig rig;
  rig.appender.next = Status::Retryable("redis: connection refused");
  const WebhookAnswer a = rig.receiver.handle(rig.post(kBody));
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(a.retry_after_s, 7);
  rig.appender.next = Status::Unknown("WAIT: 0 of 1 replicas");
  EXPECT_EQ(rig.receiver.handle(rig.post(kBody)).status, 503);
  EXPECT_EQ(rig.count("unavailable"), 2);
  EXPECT_EQ(rig.count("accepted"), 0);
}

TEST(WebhookReceiverTest, ABacklogOverTheLimitIs503WithoutAppending) {
  Rig rig;
  rig.backlog = 1001;
  EXPECT_EQ(rig.receiver.handle(rig.post(kBody)).status, 503);
  EXPECT_TRUE(rig.appender.appended.empty());
  rig.backlog = -1;  // unknown: not a reason to refuse (the append decides)
  EXPECT_EQ(rig.receiver.handle(rig.post(kBody)).status, 200);
}

TEST(WebhookReceiverTest, VerificationEchoesTheChallengeOnlyForTheToken) {
  Rig rig;
  const WebhookAnswer ok =
      rig.receiver.handle(Rig::get({{"hub.mode", "subscribe"}, {"hub.verify_token", kToken}, {"hub.challenge", "1158201444"}}));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "1158201444");
  EXPECT_EQ(rig.receiver.handle(Rig::get({{"hub.mode", "subscribe"}, {"hub.verify_token", "nope"}, {"hub.challenge", "1"}}))
                .status,
            403);
  EXPECT_EQ(rig.receiver.handle(Rig::get({{"hub.mode", "unsubscribe"}, {"hub.verify_token", kToken}, {"hub.challenge", "1"}}))
                .status,
            403);
  EXPECT_EQ(rig.receiver.handle(Rig::get({})).status, 403);
  for (const std::string& challenge : {std::string(""), std::string("<script>"), std::string(129, '1'), std::string("a b")}) {
    EXPECT_EQ(rig.receiver
                  .handle(Rig::get({{"hub.mode", "subscribe"}, {"hub.verify_token", kToken}, {"hub.challenge", challenge}}))
                  .status,
              400)
        << challenge;
  }
  EXPECT_EQ(rig.count("verify_ok"), 1);
  EXPECT_EQ(rig.count("verify_refused"), 7);
}

// cpp-httplib routes HEAD to the GET handler: a HEAD is a (refused)
// verification, never a delivery without a signature.
TEST(WebhookReceiverTest, AHeadRequestIsAVerificationNotABadSignature) {
  Rig rig;
  WebhookRequest head = Rig::get({});
  head.method = "HEAD";
  EXPECT_EQ(rig.receiver.handle(head).status, 403);
  EXPECT_EQ(rig.count("bad_signature"), 0);
  EXPECT_EQ(rig.count("verify_refused"), 1);
}

TEST(WebhookReceiverTest, ContentTypeIgnoresParametersAndCase) {
  EXPECT_TRUE(is_json_content_type("application/json"));
  EXPECT_TRUE(is_json_content_type("Application/JSON ; charset=UTF-8"));
  EXPECT_FALSE(is_json_content_type("application/jsonx"));
  EXPECT_FALSE(is_json_content_type("application/x-www-form-urlencoded"));
}

}  // namespace
}  // namespace hm::webhook
