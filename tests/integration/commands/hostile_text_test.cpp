// Customer text and ids as an attacker would write them, against the real
// MariaDB (strict mode), the real Redis stream and the hm-worker binary:
// a reply-rule pattern on 60 KB of text, values cut inside a multi-byte
// character, an id that would become a Graph API path.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "http/curl_client.h"
#include "mysql/message_store.h"
#include "mysql/role_store.h"
#include "redis/stream_admin.h"
#include "roles/enrich.h"
#include "roles/reply.h"
#include "support/fake_http.h"
#include "support/fakes.h"
#include "support/process.h"
#include "support/test_db.h"

namespace hm {
namespace {

using namespace std::chrono_literals;

const std::string kAccount = "17841405309211844";
const std::string kCustomer = "1284930675412097";

class HostileTextTest : public ::testing::Test {
 protected:
  HostileTextTest()
      : db_("hostile_text"),
        pool_(PoolOptions{}, [this] { return mysql::Session::connect(test::driver(), db_.options()); }, clock_),
        messages_(pool_),
        roles_(pool_) {}

  // An inbound message stored through the real store; its row id.
  std::uint64_t stored(const std::string& mid, const std::string& text) {
    NewMessage m;
    m.mid = mid;
    m.account_id = kAccount;
    m.sender_id = kCustomer;
    m.recipient_id = kAccount;
    m.text = text;
    m.timestamp_ms = clock_.wall_ms() - 1000;
    const auto r = messages_.store(m);
    EXPECT_TRUE(r.ok()) << r.error;
    const auto found = roles_.find_message(mid);
    EXPECT_TRUE(found.ok() && found.value) << found.status.message;
    return found.value ? found.value->id : 0;
  }

  test::TestDatabase db_;
  SystemClock clock_;
  mysql::SessionPool pool_;
  mysql::MysqlMessageStore messages_;
  mysql::MysqlRoleStore roles_;
};

// type VARCHAR(32), content_type VARCHAR(255), error TEXT cut at 2000 bytes:
// each value crosses its limit inside a 2-, 3- or 4-byte character. The old
// byte cut (substr) left a partial sequence and strict mode refused the row
// (1366, "Incorrect string value"): the media job dead-lettered.
TEST_F(HostileTextTest, ValuesCutInsideAMultiByteCharacterAreStoredInStrictMode) {
  const std::uint64_t id = stored("cut-1", "pic");
  MediaRecord rec;
  rec.message_id = id;
  rec.idx = 0;
  rec.type = std::string(31, 't') + "\xF0\x9F\x98\x80";          // 😀 at bytes 31..34
  rec.source_url = "https://cdn.test/x";
  rec.content_type = std::string(254, 'c') + "\xE2\x82\xAC";     // € at bytes 254..256
  rec.error = std::string(1999, 'e') + "\xC5\x9F" + "tail";     // ş at bytes 1999..2000
  rec.status = MediaStatus::kFailed;
  const Status s = roles_.save_media(rec);
  ASSERT_TRUE(s.ok()) << s.message;
  const auto row = db_.query("SELECT type, content_type, error FROM media WHERE message_id = " + std::to_string(id));
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0][0].value_or(""), std::string(31, 't'));
  EXPECT_EQ(row[0][1].value_or(""), std::string(254, 'c'));
  EXPECT_EQ(row[0][2].value_or(""), std::string(1999, 'e'));

  // The profile error (a Graph message quoted back) the same way.
  ASSERT_TRUE(roles_.upsert_contact(kAccount, kCustomer, clock_.wall_ms()).ok());
  const Status p = roles_.save_profile_error(kAccount, kCustomer, std::string(1998, 'p') + "\xE3\x81\x82", true);
  ASSERT_TRUE(p.ok()) << p.message;
  EXPECT_EQ(db_.query("SELECT profile_error FROM contact").at(0).at(0).value_or(""), std::string(1998, 'p'));
  // A sequence already broken upstream (a Graph message cut at 300 bytes
  // inside a character) is made printable rather than refused.
  const Status q = roles_.save_profile_error(kAccount, kCustomer, "HTTP 400: Ge\xC3\xA7" "ersiz kullan\xC4 (cut)", true);
  ASSERT_TRUE(q.ok()) << q.message;
  EXPECT_EQ(db_.query("SELECT profile_error FROM contact").at(0).at(0).value_or(""), "HTTP 400: Geçersiz kullan? (cut)");
}

// A message stored with a customer id that is a path (before ids were checked
// at ingest, or written by hand): enrich and reply dead-letter the job with
// the reason and never call the Graph API with it.
TEST_F(HostileTextTest, AStoredMessageWithAHostileCustomerIdIsADeadLetterNotAGraphCall) {
  test::FakeHttpServer graph([](const test::FakeRequest&) {
    test::FakeResponse resp;
    resp.body = R"({"name":"Mallory","message_id":"m"})";
    return resp;
  });
  stored("evil-1", "saat kaç");
  db_.execute("UPDATE message SET customer_id = '123/../../me/accounts', sender_id = '123/../../me/accounts' "
              "WHERE ig_message_id = 'evil-1'");
  GraphOptions g;
  g.base = graph.base();
  g.retry.max_attempts = 1;
  CurlHttpClient http;
  AccountTokens tokens({"", "test-token-not-logged"}, clock_);
  GraphApi api(http, tokens, g, clock_);
  const std::string job = nlohmann::json{{"mid", "evil-1"}}.dump();

  EnrichService enrich(roles_, &api, EnrichOptions{3600s}, clock_);
  const auto e = enrich.handle({job}).at(0);
  EXPECT_EQ(e.verdict, Verdict::kDeadLetter);
  EXPECT_NE(e.reason.find("customer_id is not decimal digits"), std::string::npos) << e.reason;

  const auto rules = ReplyRules::parse(R"({"accounts": {")" + kAccount +
                                           R"(": {"rules": [{"name": "hours", "keywords": ["saat"], "reply": "9-22"}]}}})",
                                       "test");
  ReplyService reply(roles_, api, rules, clock_);
  const auto r = reply.handle({job}).at(0);
  EXPECT_EQ(r.verdict, Verdict::kDeadLetter);
  EXPECT_NE(r.reason.find("customer_id is not decimal digits"), std::string::npos) << r.reason;

  EXPECT_EQ(graph.count("GET", "/"), 0);
  EXPECT_EQ(graph.count("POST", "/"), 0);
  EXPECT_EQ(db_.scalar("SELECT COUNT(*) FROM contact"), 0);
  EXPECT_EQ(db_.scalar("SELECT COUNT(*) FROM reply"), 0);
}

// An operator's rule `.*fiyat` and a customer's 60 KB message: std::regex
// recursed once per character and the ingest worker died with SIGSEGV, then
// the next one on the redelivery. With RE2 the worker stores the message,
// owes its reply job, and keeps running.
TEST(HostileRulesProcessTest, ARuleLikeDotStarFiyatOnA60KbMessageDoesNotKillIngest) {
  test::TestDatabase db("hostile_rules");
  const std::string rules = "/tmp/hm-hostile-rules-" + std::to_string(::getpid()) + ".json";
  std::ofstream(rules) << R"({"accounts": {"17841405309211844": {"rules": [)"
                       << R"({"name": "price", "pattern": ".*fiyat", "reply": "R-price"},)"
                       << R"({"name": "nested", "pattern": "(a*)*b", "reply": "R-nested"}]}}})";
  const std::string stream = "hm:test:hostile-rules:" + std::to_string(::getpid());
  redis::StreamNames names{stream, "hm-worker", stream + ":dead", stream + ":"};
  redis::StreamAdmin admin(redis::parse_redis_url(test::stack_redis_url()), names);
  const long long now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
  admin.enqueue_one(test::text_delivery("huge-fiyat", std::string(60000, 'a') + " fiyat?", now - 1000), 1);
  admin.enqueue_one(test::text_delivery("huge-none", std::string(60000, 'a'), now - 500), 1);
  auto env = test::worker_env_map(db.options());
  env["QUEUE_STREAM"] = stream;
  env["QUEUE_STREAM_PREFIX"] = stream + ":";
  env["REPLY_RULES_PATH"] = rules;
  env["METRICS_PORT"] = "0";
  test::ChildProcess w(HM_WORKER_BINARY, {"run", "--role", "ingest"}, env, "hostile-rules");
  test::eventually([&] { return !w.running() || (admin.lag() == 0 && admin.pending() == 0); }, 60s);
  ASSERT_TRUE(w.running()) << "ingest exited with " << w.wait(0ms).value_or(-1) << " (139: SIGSEGV)\n" << w.err();
  ASSERT_EQ(admin.lag() + admin.pending(), 0) << w.out() << w.err();
  EXPECT_EQ(admin.dead_length(), 0);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM message WHERE LENGTH(text) >= 60000"), 2);
  redis::StreamAdmin reply_jobs(redis::parse_redis_url(test::stack_redis_url()),
                                {stream + ":reply", "hm-worker", stream + ":reply:dead", stream + ":"});
  EXPECT_EQ(reply_jobs.length(), 1);  // only the message that matches `.*fiyat`
  w.signal(SIGTERM);
  EXPECT_EQ(w.wait(20s), 0) << w.err();
  for (const auto& s : {stream, stream + ":dead", stream + ":enrich", stream + ":reply"})
    admin.connection().command({"DEL", s});
  std::remove(rules.c_str());
}

}  // namespace
}  // namespace hm
