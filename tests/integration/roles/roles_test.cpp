// The enrich, media and reply handlers against the real MariaDB, with a local
// HTTP server playing the Graph API and the CDN, through the real libcurl client.
#include "roles/enrich.h"
#include "roles/media.h"
#include "roles/reply.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "http/curl_client.h"
#include "mysql/message_store.h"
#include "mysql/role_store.h"
#include "support/fake_http.h"
#include "support/fakes.h"
#include "support/test_db.h"

namespace hm {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string kAccount = "17841405309211844";
const std::string kCustomer = "1284930675412097";

class RolesTest : public ::testing::Test {
 protected:
  RolesTest()
      : pool_(PoolOptions{}, [this] { return mysql::Session::connect(test::driver(), db_.options()); }, clock_),
        messages_(pool_),
        roles_(pool_) {
    media_dir_ = "/tmp/hm-media-" + std::to_string(::getpid());
    std::filesystem::remove_all(media_dir_);
  }
  ~RolesTest() override { std::filesystem::remove_all(media_dir_); }

  NewMessage stored(const std::string& mid, const std::string& text, long long ts_ms, bool echo = false,
                    std::optional<std::string> attachments = std::nullopt) {
    NewMessage m;
    m.mid = mid;
    m.account_id = kAccount;
    m.sender_id = echo ? kAccount : kCustomer;
    m.recipient_id = echo ? kCustomer : kAccount;
    m.direction = echo ? Direction::kEcho : Direction::kInbound;
    m.text = text;
    m.attachments_json = attachments;
    m.timestamp_ms = ts_ms;
    const auto r = messages_.store(m);
    EXPECT_TRUE(r.ok()) << r.error;
    return m;
  }
  static std::string job(const std::string& mid) { return json{{"mid", mid}}.dump(); }

  GraphOptions graph_options(const std::string& base) {
    GraphOptions g;
    g.base = base;
    g.timeout = 1500ms;
    g.retry.max_attempts = 3;
    g.retry.base_delay = 1ms;
    g.retry.max_delay = 5ms;
    g.rate_limit_pause = 0ms;  // the tests move next_attempt_at themselves
    return g;
  }

  // One migrated database for the suite, emptied before each test.
  static void SetUpTestSuite() { suite_db_.open(); }
  static void TearDownTestSuite() { suite_db_.close(); }
  static inline test::SuiteDatabase suite_db_{"roles"};
  test::TestDatabase& db_ = suite_db_.emptied();
  SystemClock clock_;
  mysql::SessionPool pool_;
  mysql::MysqlMessageStore messages_;
  mysql::MysqlRoleStore roles_;
  CurlHttpClient http_;
  AccountTokens tokens_{{"", "test-token-not-logged"}, clock_};
  std::string media_dir_;
};

// ------------------------------------------------------------------ enrich

TEST_F(RolesTest, EnrichKeepsContactConversationAndFetchesTheProfileOncePerTtl) {
  test::FakeHttpServer graph([](const test::FakeRequest& r) {
    test::FakeResponse resp;
    resp.body = json{{"name", "Ayşe Yılmaz"}, {"username", "ayse.y"}, {"profile_pic", "https://cdn/x.jpg"},
                     {"follower_count", 1234}, {"is_verified_user", false}, {"is_user_follow_business", true},
                     {"is_business_follow_user", false}, {"id", r.path.substr(1)}}
                    .dump();
    return resp;
  });
  const long long now = clock_.wall_ms();
  stored("e1", "Merhaba", now - 60000);
  stored("e2", "Yanıt", now - 50000, /*echo=*/true);
  stored("e3", "Tekrar", now - 40000);
  GraphApi api(http_, tokens_, graph_options(graph.base()), clock_);
  EnrichService enrich(roles_, &api, EnrichOptions{3600s}, clock_);
  const auto out = enrich.handle({job("e1"), job("e2"), job("e3"), job("e1")});
  for (const auto& o : out) EXPECT_EQ(o.verdict, Verdict::kDone) << o.reason;
  EXPECT_EQ(graph.count("GET", "/" + kCustomer), 1);  // once per TTL
  const auto req = graph.requests().at(0);
  EXPECT_EQ(req.headers.at("authorization"), "Bearer test-token-not-logged");
  EXPECT_NE(req.query.find("fields=name,username,profile_pic,follower_count"), std::string::npos);
  EXPECT_EQ(req.query.find("token"), std::string::npos);  // never in the URL
  auto c = db_.query("SELECT name, username, follower_count, is_user_follow_business, profile_error FROM contact");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0][0].value_or(""), "Ayşe Yılmaz");
  EXPECT_EQ(c[0][2].value_or(""), "1234");
  EXPECT_EQ(c[0][3].value_or(""), "1");
  EXPECT_FALSE(c[0][4].has_value());
  auto conv = db_.query("SELECT inbound_count, outbound_count, first_message_at < last_message_at FROM conversation");
  ASSERT_EQ(conv.size(), 1u);
  EXPECT_EQ(conv[0][0].value_or(""), "2");
  EXPECT_EQ(conv[0][1].value_or(""), "1");
  EXPECT_EQ(conv[0][2].value_or(""), "1");
}

TEST_F(RolesTest, EnrichRetriesRateLimitsAndRecordsPermanentErrors) {
  std::atomic<int> calls{0};
  test::FakeHttpServer graph([&](const test::FakeRequest& r) {
    test::FakeResponse resp;
    if (r.path == "/9999999999") {
      resp.status = 400;
      resp.body = R"({"error":{"message":"Invalid user id","type":"OAuthException","code":100}})";
    } else if (++calls == 1) {
      resp.status = 429;
      resp.body = R"({"error":{"message":"Application request limit reached","code":4}})";
    } else {
      resp.body = R"({"name":"Karim","username":"karim"})";
    }
    return resp;
  });
  const long long now = clock_.wall_ms();
  stored("r1", "hi", now);
  NewMessage bad = stored("r2", "hi", now);
  db_.execute("UPDATE message SET customer_id = '9999999999', sender_id = '9999999999' WHERE ig_message_id = 'r2'");
  GraphApi api(http_, tokens_, graph_options(graph.base()), clock_);
  EnrichService enrich(roles_, &api, EnrichOptions{3600s}, clock_);
  // Rate limited: the profile is not marked fetched, the job waits (left
  // pending, the delivery not counted toward QUEUE_MAX_DELIVERIES).
  const auto limited = enrich.handle({job("r1")})[0];
  EXPECT_EQ(limited.verdict, Verdict::kRetryLater);
  EXPECT_FALSE(limited.counts_as_delivery);
  EXPECT_EQ(calls.load(), 1);
  auto contact = db_.query("SELECT profile_fetched_at IS NULL, profile_error FROM contact WHERE igsid = '" + kCustomer + "'");
  EXPECT_EQ(contact.at(0).at(0).value_or(""), "1");
  EXPECT_NE(contact.at(0).at(1).value_or("").find("Graph error 4"), std::string::npos);
  const auto out = enrich.handle({job("r1"), job("r2")});
  EXPECT_EQ(out[0].verdict, Verdict::kDone) << out[0].reason;
  EXPECT_EQ(out[1].verdict, Verdict::kDone) << out[1].reason;  // recorded, never a crash
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(db_.query("SELECT name FROM contact WHERE igsid = '" + kCustomer + "'").at(0).at(0).value_or(""), "Karim");
  const auto err = db_.query("SELECT profile_error FROM contact WHERE igsid = '9999999999'").at(0).at(0).value_or("");
  EXPECT_NE(err.find("Graph error 100"), std::string::npos) << err;
  // A server failing every time: retried in the call, then left for a later delivery.
  test::FakeHttpServer failing([](const test::FakeRequest&) {
    test::FakeResponse resp;
    resp.status = 503;
    resp.body = "{}";
    return resp;
  });
  db_.execute("UPDATE contact SET profile_fetched_at = NULL");
  GraphApi api2(http_, tokens_, graph_options(failing.base()), clock_);
  EnrichService enrich2(roles_, &api2, EnrichOptions{3600s}, clock_);
  EXPECT_EQ(enrich2.handle({job("r1")})[0].verdict, Verdict::kRetryLater);
  EXPECT_EQ(failing.count("GET", "/"), 3);
}

TEST_F(RolesTest, EnrichWithoutATokenKeepsContactsAndSkipsProfiles) {
  stored("n1", "hi", clock_.wall_ms());
  EnrichService enrich(roles_, nullptr, EnrichOptions{3600s}, clock_);
  EXPECT_EQ(enrich.handle({job("n1")})[0].verdict, Verdict::kDone);
  EXPECT_EQ(db_.scalar("SELECT COUNT(*) FROM contact"), 1);
  EXPECT_EQ(enrich.handle({job("missing-mid")})[0].verdict, Verdict::kDeadLetter);
  EXPECT_EQ(enrich.handle({"not json"})[0].verdict, Verdict::kDeadLetter);
}

// ------------------------------------------------------------------ media

TEST_F(RolesTest, MediaStoresContentAddressedOnceAndRecordsFailures) {
  const std::string image(300000, '\x7f');
  test::FakeHttpServer cdn([&](const test::FakeRequest& r) {
    test::FakeResponse resp;
    resp.content_type = "image/jpeg";
    if (r.path == "/ok.jpg") {
      resp.body = image;
    } else if (r.path == "/expired.jpg") {
      resp.status = 403;
      resp.body = "URL signature expired";
    } else if (r.path == "/huge.mp4") {
      resp.body = std::string(3000000, 'v');
      resp.content_length = false;  // the size is only known while reading
    } else if (r.path == "/loop") {
      resp.status = 302;
      resp.headers = {"Location: /loop"};
    } else if (r.path == "/moved.jpg") {
      resp.status = 301;
      resp.headers = {"Location: /ok.jpg"};
    }
    return resp;
  });
  auto attach = [&](std::vector<std::string> paths) {
    json a = json::array();
    for (const auto& p : paths) a.push_back({{"type", "image"}, {"payload", {{"url", cdn.base() + p + "?sig=secret"}}}});
    return a.dump();
  };
  stored("m1", "", clock_.wall_ms(), false, attach({"/ok.jpg", "/expired.jpg", "/huge.mp4", "/loop", "/moved.jpg"}));
  MediaOptions o;
  o.dir = media_dir_;
  o.max_bytes = 1000000;
  o.timeout = 3s;
  o.max_redirects = 3;
  o.allowed_hosts = {"127.0.0.1"};  // the loopback CDN stand-in: the three relaxations, explicitly
  o.allow_http = true;
  o.allow_private_addresses = true;
  o.retry.max_attempts = 2;
  o.retry.base_delay = 1ms;
  o.retry.max_delay = 2ms;
  MediaService media(roles_, http_, o, clock_, nullptr);
  const auto out = media.handle({job("m1")});
  ASSERT_EQ(out[0].verdict, Verdict::kDone) << out[0].reason;
  const auto rows = db_.query("SELECT idx, status, sha256, size, content_type, error FROM media ORDER BY idx");
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0][1].value_or(""), "stored");
  EXPECT_EQ(rows[0][3].value_or(""), "300000");
  EXPECT_EQ(rows[0][4].value_or(""), "image/jpeg");
  const std::string sha = rows[0][2].value_or("");
  const std::string file = media_dir_ + "/" + sha.substr(0, 2) + "/" + sha;
  ASSERT_TRUE(std::filesystem::exists(file));
  EXPECT_EQ(sha256_hex_of_file(file), sha);
  EXPECT_EQ(rows[1][1].value_or(""), "failed");
  EXPECT_NE(rows[1][5].value_or("").find("403"), std::string::npos);
  EXPECT_EQ(rows[2][1].value_or(""), "failed");
  EXPECT_NE(rows[2][5].value_or("").find("MEDIA_MAX_BYTES"), std::string::npos);
  EXPECT_EQ(rows[3][1].value_or(""), "failed");
  EXPECT_EQ(rows[4][1].value_or(""), "stored");
  EXPECT_EQ(rows[4][2].value_or(""), sha);  // the same bytes: one file
  EXPECT_TRUE(std::filesystem::is_empty(media_dir_ + "/.tmp"));  // no partial file left
  for (const auto& r : db_.query("SELECT error FROM media")) EXPECT_EQ(r[0].value_or("").find("secret"), std::string::npos);
  // A second job downloads nothing.
  const int before = static_cast<int>(cdn.requests().size());
  EXPECT_EQ(media.handle({job("m1")})[0].verdict, Verdict::kDone);
  EXPECT_EQ(static_cast<int>(cdn.requests().size()), before);
}

// Platform rules through the real media table: a story mention's row is
// 'skipped' with its URL and no file (the 'skipped' status is migration 4);
// a shared post's "share" + "ig_post" give one row.
TEST_F(RolesTest, MediaSkipsStoryMentionsAndSharedPostsGetOneRow) {
  int gets = 0;
  test::FakeHttpServer cdn([&](const test::FakeRequest&) {
    ++gets;
    test::FakeResponse resp;
    resp.content_type = "image/jpeg";
    resp.body = "jpeg-bytes";
    return resp;
  });
  const std::string story = cdn.base() + "/story.jpg?sig=s";
  const std::string post = cdn.base() + "/post.jpg?sig=p";
  const json a = json::array({{{"type", "story_mention"}, {"payload", {{"url", story}}}},
                              {{"type", "share"}, {"payload", {{"url", post}}}},
                              {{"type", "ig_post"}, {"payload", {{"ig_post_media_id", "1"}, {"url", post}}}}});
  stored("sm1", "", clock_.wall_ms(), false, a.dump());
  MediaOptions o;
  o.dir = media_dir_;
  o.allowed_hosts = {"127.0.0.1"};
  o.allow_http = true;
  o.allow_private_addresses = true;
  MediaService media(roles_, http_, o, clock_, nullptr);
  ASSERT_EQ(media.handle({job("sm1")})[0].verdict, Verdict::kDone);
  const auto rows = db_.query("SELECT idx, type, status, source_url, sha256 FROM media ORDER BY idx");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][1].value_or(""), "story_mention");
  EXPECT_EQ(rows[0][2].value_or(""), "skipped");
  EXPECT_EQ(rows[0][3].value_or(""), story);
  EXPECT_FALSE(rows[0][4].has_value());
  EXPECT_EQ(rows[1][1].value_or(""), "share");
  EXPECT_EQ(rows[1][2].value_or(""), "stored");
  EXPECT_EQ(gets, 1);  // the post once, the story never
  EXPECT_EQ(media.handle({job("sm1")})[0].verdict, Verdict::kDone);
  EXPECT_EQ(gets, 1);
}

TEST_F(RolesTest, SlowDownloadsTimeOutAndAreLeftForLater) {
  test::FakeHttpServer cdn([](const test::FakeRequest&) {
    test::FakeResponse resp;
    resp.delay = 3s;
    resp.body = "late";
    return resp;
  });
  json a = json::array({{{"type", "video"}, {"payload", {{"url", cdn.base() + "/slow.mp4"}}}}});
  stored("s1", "", clock_.wall_ms(), false, a.dump());
  MediaOptions o;
  o.dir = media_dir_;
  o.timeout = 500ms;
  o.allowed_hosts = {"127.0.0.1"};  // the loopback CDN stand-in
  o.allow_http = true;
  o.allow_private_addresses = true;
  o.retry.max_attempts = 2;
  o.retry.base_delay = 1ms;
  o.retry.max_delay = 2ms;
  MediaService media(roles_, http_, o, clock_, nullptr);
  const auto out = media.handle({job("s1")});
  EXPECT_EQ(out[0].verdict, Verdict::kRetryLater);
  EXPECT_EQ(db_.scalar("SELECT COUNT(*) FROM media"), 0);  // nothing recorded: it will be tried again
}

// ------------------------------------------------------------------ reply

class ReplyTest : public RolesTest {
 protected:
  ReplyRules rules() {
    return ReplyRules::parse(
        R"({"accounts": {")" + kAccount + R"(": {"rules": [
          {"name": "hours", "keywords": ["saat", "hours"], "reply": "09:00-22:00 arası açığız 🕘"},
          {"name": "price", "pattern": "fiyat|price", "reply": "Fiyat listemiz: hm.example/fiyat"}]}}})",
        "test");
  }
};

TEST_F(ReplyTest, SendsOnceEvenWhenTheJobComesTwice) {
  test::FakeHttpServer graph([](const test::FakeRequest&) {
    test::FakeResponse resp;
    resp.body = R"({"recipient_id":"1284930675412097","message_id":"aWdfZAG1-sent-1"})";
    return resp;
  });
  stored("q1", "Çalışma saatleriniz nedir?", clock_.wall_ms() - 1000);
  GraphApi api(http_, tokens_, graph_options(graph.base()), clock_);
  const auto r = rules();
  ReplyService reply(roles_, api, r, clock_);
  EXPECT_EQ(reply.handle({job("q1")})[0].verdict, Verdict::kDone);
  EXPECT_EQ(reply.handle({job("q1"), job("q1")})[1].verdict, Verdict::kDone);
  ASSERT_EQ(graph.count("POST", "/me/messages"), 1);
  const auto body = json::parse(graph.requests().at(0).body);
  EXPECT_EQ(body["recipient"]["id"], kCustomer);
  EXPECT_EQ(body["message"]["text"], "09:00-22:00 arası açığız 🕘");
  const auto row = db_.query("SELECT status, sent_message_id, rule, attempts FROM reply").at(0);
  EXPECT_EQ(row[0].value_or(""), "sent");
  EXPECT_EQ(row[1].value_or(""), "aWdfZAG1-sent-1");
  EXPECT_EQ(row[2].value_or(""), "hours");
}

// A rate-limited send is deferred in `reserved` (next_attempt_at), not
// claimed again before it is due, and sent by retry_due() once due.
TEST_F(ReplyTest, ARateLimitedSendIsDeferredThenSentARefusedOneRecorded) {
  std::atomic<int> posts{0};
  test::FakeHttpServer graph([&](const test::FakeRequest&) {
    test::FakeResponse resp;
    if (++posts == 1) {
      resp.status = 429;
      resp.body = R"({"error":{"message":"Application request limit reached","code":4}})";
    } else {
      resp.body = R"({"message_id":"sent-after-retry"})";
    }
    return resp;
  });
  stored("q2", "fiyat ne kadar?", clock_.wall_ms());
  GraphApi api(http_, tokens_, graph_options(graph.base()), clock_);
  const auto r = rules();
  ReplyService reply(roles_, api, r, clock_);
  EXPECT_EQ(reply.handle({job("q2")})[0].verdict, Verdict::kDone);
  EXPECT_EQ(posts.load(), 1);
  auto row = db_.query("SELECT status, next_attempt_at > NOW(3), error FROM reply").at(0);
  EXPECT_EQ(row[0].value_or(""), "reserved");
  EXPECT_EQ(row[1].value_or(""), "1");
  EXPECT_NE(row[2].value_or("").find("rate_limited"), std::string::npos) << row[2].value_or("");
  EXPECT_EQ(reply.handle({job("q2")})[0].verdict, Verdict::kDone);  // redelivered: not due, not sent
  EXPECT_EQ(reply.retry_due(), 0);
  EXPECT_EQ(posts.load(), 1);
  db_.execute("UPDATE reply SET next_attempt_at = NOW(3) - INTERVAL 1 SECOND");
  EXPECT_EQ(reply.retry_due(), 1);
  EXPECT_EQ(posts.load(), 2);
  row = db_.query("SELECT status, sent_message_id, attempts FROM reply").at(0);
  EXPECT_EQ(row[0].value_or(""), "sent");
  EXPECT_EQ(row[1].value_or(""), "sent-after-retry");
  EXPECT_EQ(row[2].value_or(""), "2");

  test::FakeHttpServer refusing([](const test::FakeRequest&) {
    test::FakeResponse resp;
    resp.status = 400;
    resp.body = R"({"error":{"message":"User cannot receive messages","code":551}})";
    return resp;
  });
  stored("q3", "price?", clock_.wall_ms());
  GraphApi api2(http_, tokens_, graph_options(refusing.base()), clock_);
  ReplyService reply2(roles_, api2, r, clock_);
  reply2.handle({job("q3")});
  row = db_.query("SELECT status, error FROM reply WHERE message_id = (SELECT id FROM message WHERE ig_message_id = 'q3')").at(0);
  EXPECT_EQ(row[0].value_or(""), "failed");
  EXPECT_NE(row[1].value_or("").find("551"), std::string::npos);
  EXPECT_EQ(refusing.count("POST", "/"), 1);  // permanent: not retried
}

// A gateway answering 502 after Graph got the request: the message may have
// gone out. One POST, recorded unknown, never sent again.
TEST_F(ReplyTest, ABadGatewayAnswerIsNeverRepeated) {
  test::FakeHttpServer gateway([](const test::FakeRequest&) {
    test::FakeResponse resp;
    resp.status = 502;
    resp.body = "<html><body>502 Bad Gateway</body></html>";
    return resp;
  });
  stored("q502", "hours?", clock_.wall_ms());
  GraphApi api(http_, tokens_, graph_options(gateway.base()), clock_);
  const auto r = rules();
  ReplyService reply(roles_, api, r, clock_);
  EXPECT_EQ(reply.handle({job("q502")})[0].verdict, Verdict::kDone);
  EXPECT_EQ(reply.handle({job("q502")})[0].verdict, Verdict::kDone);
  EXPECT_EQ(gateway.count("POST", "/"), 1);
  const auto row = db_.query("SELECT status, error FROM reply").at(0);
  EXPECT_EQ(row[0].value_or(""), "unknown");
  EXPECT_NE(row[1].value_or("").find("HTTP 502"), std::string::npos) << row[1].value_or("");
}

TEST_F(ReplyTest, AnUnansweredSendIsNeverRepeated) {
  test::FakeHttpServer graph([](const test::FakeRequest&) {
    test::FakeResponse resp;
    resp.delay = 4s;  // longer than the call timeout: did it arrive? unknown
    resp.body = R"({"message_id":"late"})";
    return resp;
  });
  stored("q4", "hours?", clock_.wall_ms());
  GraphApi api(http_, tokens_, graph_options(graph.base()), clock_);
  const auto r = rules();
  ReplyService reply(roles_, api, r, clock_);
  reply.handle({job("q4")});
  reply.handle({job("q4")});
  EXPECT_EQ(graph.count("POST", "/"), 1);
  EXPECT_EQ(db_.query("SELECT status FROM reply").at(0).at(0).value_or(""), "unknown");
}

// A worker killed between the claim and the answer leaves its reply in
// `sending`: after REPLY_SENDING_TIMEOUT it is recorded unknown (never sent
// again); a send in progress and finished replies are left alone.
TEST_F(ReplyTest, RepliesLeftInSendingByAStoppedWorkerBecomeUnknown) {
  auto id_of = [&](const std::string& mid) {
    return std::stoull(db_.query("SELECT id FROM message WHERE ig_message_id = '" + mid + "'").at(0).at(0).value_or("0"));
  };
  for (const char* mid : {"s-old", "s-new", "s-sent"}) {
    stored(mid, "hours?", clock_.wall_ms());
    ASSERT_TRUE(roles_.reserve_reply(id_of(mid), kAccount, kCustomer, "hours", "open").ok());
    ASSERT_TRUE(roles_.claim_reply_send(id_of(mid)).value);
  }
  ASSERT_TRUE(roles_.finish_reply(id_of("s-sent"), ReplyStatus::kSent, "m1", "").ok());
  db_.execute("UPDATE reply SET updated_at = NOW(3) - INTERVAL 400 SECOND");
  db_.execute("UPDATE reply SET updated_at = NOW(3) - INTERVAL 10 SECOND WHERE message_id = " +
              std::to_string(id_of("s-new")));
  test::FakeHttpServer graph([](const test::FakeRequest&) { return test::FakeResponse{}; });
  GraphApi api(http_, tokens_, graph_options(graph.base()), clock_);
  const auto r = rules();
  ReplyService reply(roles_, api, r, clock_, ReplyOptions{300s});
  EXPECT_EQ(reply.expire_stale_sends(), 1);
  auto status_of = [&](const std::string& mid) {
    return db_.query("SELECT status FROM reply WHERE message_id = " + std::to_string(id_of(mid))).at(0).at(0).value_or("");
  };
  EXPECT_EQ(status_of("s-old"), "unknown");
  EXPECT_EQ(status_of("s-new"), "sending");
  EXPECT_EQ(status_of("s-sent"), "sent");
  EXPECT_EQ(reply.expire_stale_sends(), 0);
  reply.handle({job("s-old")});  // the job comes back: nothing is sent
  EXPECT_EQ(graph.count("POST", "/"), 0);
}

TEST_F(ReplyTest, NoReplyToEchoesDeletedMessagesOldMessagesOrWithoutARule) {
  test::FakeHttpServer graph([](const test::FakeRequest&) { return test::FakeResponse{}; });
  const long long now = clock_.wall_ms();
  stored("x-echo", "hours", now, /*echo=*/true);
  stored("x-deleted", "hours", now);
  messages_.store(MessageDeletion{"x-deleted", kAccount, kCustomer, now});
  stored("x-nomatch", "teşekkürler", now);
  GraphApi api(http_, tokens_, graph_options(graph.base()), clock_);
  const auto r = rules();
  ReplyService reply(roles_, api, r, clock_);
  reply.handle({job("x-echo"), job("x-deleted"), job("x-nomatch")});
  EXPECT_EQ(graph.count("POST", "/"), 0);
  EXPECT_EQ(db_.scalar("SELECT COUNT(*) FROM reply"), 0);
  // Outside the 24-hour window since the customer's last message.
  db_.execute("DELETE FROM message");
  stored("x-old", "hours", now - 25LL * 3600 * 1000);
  reply.handle({job("x-old")});
  EXPECT_EQ(graph.count("POST", "/"), 0);
}

}  // namespace
}  // namespace hm
