#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "config/config.h"
#include "graph/graph_api.h"
#include "ingest/ingest_service.h"
#include "rules/reply_rules.h"
#include "support/fakes.h"
#include "support/process.h"

namespace hm {
namespace {

const char* kRules = R"({"accounts": {"17841405309211844": {
  "rules": [{"name": "hours", "keywords": ["Saat", "hours"], "reply": "R-hours"},
            {"name": "price", "pattern": "fiyat|pr[i1]ce", "reply": "R-price"}],
  "away": {"utc_offset_minutes": 180, "from": "22:00", "to": "08:00", "reply": "R-away"}}}})";

const char* const kAcc = "17841405309211844";
const char* const kCust = "1284930675412097";

// 2026-01-14 12:00 UTC = 15:00 local (+3), inside working hours.
constexpr long long kNoonUtc = 1768392000000LL;

TEST(ReplyRulesTest, KeywordsPatternsAndAwayHours) {
  const auto r = ReplyRules::parse(kRules, "rules.json");
  EXPECT_EQ(r.match(kAcc, "Çalışma SAATLERİ?", kNoonUtc)->rule, "hours");  // ASCII letters case-insensitive
  EXPECT_EQ(r.match(kAcc, "PRICE please", kNoonUtc)->text, "R-price");
  EXPECT_FALSE(r.match(kAcc, "merhaba", kNoonUtc).has_value());
  EXPECT_FALSE(r.match("other", "hours", kNoonUtc).has_value());
  // 20:00 UTC = 23:00 local: away; 04:00 UTC = 07:00 local: away (wraps midnight); 05:00 UTC = 08:00: not.
  EXPECT_EQ(r.match(kAcc, "merhaba", kNoonUtc + 8 * 3600000LL)->rule, "away");
  EXPECT_EQ(r.match(kAcc, "merhaba", kNoonUtc - 8 * 3600000LL)->rule, "away");
  EXPECT_FALSE(r.match(kAcc, "merhaba", kNoonUtc - 7 * 3600000LL).has_value());
  EXPECT_EQ(r.match(kAcc, "hours", kNoonUtc + 8 * 3600000LL)->rule, "hours");  // rules win over away
}

TEST(ReplyRulesTest, BadRuleFilesNameTheProblem) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"{", "not valid JSON"},
      {R"({"accounts": []})", "accounts: must be an object"},
      {R"({"accounts": {"a": {"rules": [{"name": "x", "reply": "r"}]}}})", "rules[0]: needs \"keywords\" or \"pattern\""},
      {R"({"accounts": {"a": {"rules": [{"keywords": ["k"]}]}}})", "rules[0]: needs \"reply\""},
      {R"({"accounts": {"a": {"rules": [{"pattern": "(", "reply": "r"}]}}})", "rules[0].pattern: rule 'rule 0': '(' is not a valid regular expression"},
      {R"({"accounts": {"a": {"away": {"from": "25:00", "to": "08:00", "reply": "r"}}}})", "away.from: '25:00' is not a time of day"},
      {R"({"accounts": {"a": {"rules": [{"keywords": [], "reply": "r"}]}}})", "keywords: must be a non-empty array"},
  };
  for (const auto& [text, fragment] : bad) {
    try {
      ReplyRules::parse(text, "rules.json");
      ADD_FAILURE() << text;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.variable(), "REPLY_RULES_PATH");
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("rules.json"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(ReplyRules::load("/nonexistent/rules.json"), ConfigError);
}

// Meta's Send API: "Message text must be UTF-8 and be 1000 bytes or less". A
// longer reply used to load and fail at every send; now the file is refused.
TEST(ReplyRulesTest, ReplyTextsOverInstagramsLimitAreRefusedAtLoad) {
  auto rules = [](const std::string& reply, const std::string& away) {
    return nlohmann::json{{"accounts",
                           {{"1", {{"rules", {{{"name", "long"}, {"keywords", {"k"}}, {"reply", reply}}}},
                                   {"away", {{"from", "22:00"}, {"to", "08:00"}, {"reply", away}}}}}}}}
        .dump();
  };
  const std::string at_limit(1000, 'a');
  // 334 three-byte letters: 334 characters, 1002 bytes.
  std::string multibyte;
  for (int i = 0; i < 334; ++i) multibyte += "€";
  ASSERT_EQ(multibyte.size(), 1002u);
  EXPECT_NO_THROW(ReplyRules::parse(rules(at_limit, "away"), "rules.json"));
  const std::vector<std::tuple<std::string, std::string, std::string>> bad = {
      {at_limit + "a", "away", "accounts.1.rules[0].reply: rule 'long': is 1001 bytes, over Instagram's limit of 1000 bytes"},
      {multibyte, "away", "rule 'long': is 1002 bytes"},
      {"ok", std::string(2000, 'z'), "accounts.1.away.reply: rule 'away': is 2000 bytes"},
  };
  for (const auto& [reply, away, fragment] : bad) {
    try {
      ReplyRules::parse(rules(reply, away), "rules.json");
      ADD_FAILURE() << fragment;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.variable(), "REPLY_RULES_PATH");
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  }
}

// Patterns that made libstdc++'s std::regex recurse once per character (a
// SIGSEGV on 60 KB) or backtrack exponentially: with RE2 each search over
// 64 KB completes, linear in the text. Timing is printed, not asserted.
TEST(ReplyRulesTest, PathologicalPatternsOn64KbOfTextComplete) {
  const auto r = ReplyRules::parse(R"({"accounts": {"1": {"rules": [
      {"name": "dotstar", "pattern": ".*fiyat", "reply": "a"},
      {"name": "nested", "pattern": "(a*)*b", "reply": "b"},
      {"name": "nested-any", "pattern": "(.*)*x", "reply": "c"},
      {"name": "big", "pattern": "(.{25}){5}y", "reply": "d"}]}}})",
                                   "rules.json");
  std::string plain(64 * 1024, 'a');
  std::string multibyte;
  while (multibyte.size() < 64 * 1024) multibyte += "ş😀\n";
  for (const std::string* text : {&plain, &multibyte}) {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(r.match("1", *text, kNoonUtc).has_value());
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
    std::cout << "[ info     ] four patterns over " << text->size() << " bytes, no match: " << us.count() << " us\n";
  }
  EXPECT_EQ(r.match("1", plain + " FIYAT", kNoonUtc)->rule, "dotstar");  // case-insensitive, as before
  EXPECT_EQ(r.match("1", plain + "b", kNoonUtc)->rule, "nested");
  EXPECT_EQ(r.match("1", "ne kadar\nfiyatı", kNoonUtc)->rule, "dotstar");  // unanchored: any line
}

// What RE2 cannot compile (and std::regex could) is refused at load, naming
// the variable, the file, the rule, the pattern and RE2's reason.
TEST(ReplyRulesTest, PatternsRe2CannotRunAreRefusedAtLoad) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"((a)\1)", "invalid escape sequence: \\1"},
      {"(?=x)fiyat", "invalid perl operator: (?="},
      {"(?!x)", "invalid perl operator"},
      {R"(\u00e7)", "invalid escape sequence"},
      {".{1000}x", "is too large"},
  };
  for (const auto& [pattern, fragment] : bad) {
    const nlohmann::json rules = {
        {"accounts", {{"1", {{"rules", {{{"name", "price"}, {"pattern", pattern}, {"reply", "r"}}}}}}}}};
    try {
      ReplyRules::parse(rules.dump(), "rules.json");
      ADD_FAILURE() << "accepted " << pattern;
    } catch (const ConfigError& e) {
      const std::string what = e.what();
      EXPECT_EQ(e.variable(), "REPLY_RULES_PATH");
      for (const std::string& part : {std::string("rules.json"), std::string("accounts.1.rules[0].pattern"),
                                      std::string("rule 'price'"), "'" + pattern + "'", fragment})
        EXPECT_NE(what.find(part), std::string::npos) << part << " not in: " << what;
    }
  }
}

HttpResult answer(long status, const std::string& body, HttpFailure failure = HttpFailure::kNone, bool sent = true) {
  HttpResult r;
  r.status = status;
  r.body = body;
  r.failure = failure;
  r.request_sent = sent;
  return r;
}

TEST(GraphApiTest, ClassifiesAnswers) {
  std::string e;
  EXPECT_EQ(classify_graph_answer(answer(200, "{}"), false, &e), GraphOutcome::kOk);
  EXPECT_EQ(classify_graph_answer(answer(429, "{}"), false, &e), GraphOutcome::kRateLimited);
  EXPECT_EQ(classify_graph_answer(answer(400, R"({"error":{"code":4}})"), false, &e), GraphOutcome::kRateLimited);
  EXPECT_EQ(classify_graph_answer(answer(400, R"({"error":{"code":80002}})"), false, &e), GraphOutcome::kRateLimited);
  EXPECT_EQ(classify_graph_answer(answer(503, "oops"), false, &e), GraphOutcome::kRetryable);
  EXPECT_EQ(classify_graph_answer(answer(400, R"({"error":{"code":100,"message":"bad id"}})"), false, &e),
            GraphOutcome::kPermanent);
  EXPECT_NE(e.find("Graph error 100: bad id"), std::string::npos);
  EXPECT_EQ(classify_graph_answer(answer(0, "", HttpFailure::kNotSent, false), true, &e), GraphOutcome::kRetryable);
  // No answer after the request went out: a read is repeated, a send is not.
  EXPECT_EQ(classify_graph_answer(answer(0, "", HttpFailure::kTimeout, true), false, &e), GraphOutcome::kRetryable);
  EXPECT_EQ(classify_graph_answer(answer(0, "", HttpFailure::kTimeout, true), true, &e), GraphOutcome::kUnknown);
}

// A send answered by a gateway or a failing server may have been processed:
// only a refusal (429, a rate-limit code, another 4xx) or a request that never
// left may be retried or recorded as failed.
TEST(GraphApiTest, ASendIsRepeatedOnlyWhenTheAnswerProvesItWasRefused) {
  std::string e;
  for (long status : {500L, 502L, 503L, 504L})
    EXPECT_EQ(classify_graph_answer(answer(status, "<html>bad gateway</html>"), true, &e), GraphOutcome::kUnknown)
        << status;
  EXPECT_EQ(classify_graph_answer(answer(500, R"({"error":{"code":2,"is_transient":true}})"), true, &e),
            GraphOutcome::kUnknown);
  EXPECT_EQ(classify_graph_answer(answer(500, R"({"error":{"code":1}})"), true, &e), GraphOutcome::kUnknown);
  EXPECT_EQ(classify_graph_answer(answer(302, ""), true, &e), GraphOutcome::kUnknown);
  EXPECT_EQ(classify_graph_answer(answer(429, "{}"), true, &e), GraphOutcome::kRateLimited);
  EXPECT_EQ(classify_graph_answer(answer(400, R"({"error":{"code":613}})"), true, &e), GraphOutcome::kRateLimited);
  EXPECT_EQ(classify_graph_answer(answer(400, R"({"error":{"code":100}})"), true, &e), GraphOutcome::kPermanent);
  // A profile read may be repeated on the same answers.
  EXPECT_EQ(classify_graph_answer(answer(502, ""), false, &e), GraphOutcome::kRetryable);
}

TEST(GraphApiTest, FieldsOfUnexpectedTypesInAnAnswerNeverThrow) {
  std::string e;
  const char* bodies[] = {R"({"error":{"code":"190","message":42,"is_transient":"yes"}})", R"({"error":[1,2]})",
                          R"({"error":"x"})", R"([1])", R"("s")", "null", "{"};
  for (const char* b : bodies) {
    EXPECT_NO_THROW(classify_graph_answer(answer(400, b), true, &e)) << b;
    EXPECT_NO_THROW(classify_graph_answer(answer(400, b), false, &e)) << b;
  }
  // A cut message keeps whole characters.
  const std::string long_message(299, 'x');
  classify_graph_answer(answer(400, nlohmann::json{{"error", {{"code", 100}, {"message", long_message + "é"}}}}.dump()),
                        true, &e);
  EXPECT_EQ(e.substr(e.size() - 3), "xxx");
}

// Graph error codes by what they mean (Meta's Graph API error handling and
// Instagram messaging docs).
TEST(GraphApiTest, ErrorsAreClassifiedByWhatTheyMean) {
  std::string e;
  auto classify = [&](long status, const std::string& error, bool send) {
    return classify_graph_answer(answer(status, R"({"error":)" + error + "}"), send, &e);
  };
  for (const char* rate : {R"({"code":4})", R"({"code":17})", R"({"code":32})", R"({"code":613})",
                           R"({"code":80006})", R"({"code":341})", R"({"code":368})", R"({"code":1200})"})
    for (bool send : {true, false}) EXPECT_EQ(classify(400, rate, send), GraphOutcome::kRateLimited) << rate;
  for (const char* auth : {R"({"code":190,"error_subcode":463})", R"({"code":102})", R"({"code":3})",
                           R"({"code":10})", R"({"code":200})", R"({"code":299})"})
    for (bool send : {true, false}) EXPECT_EQ(classify(400, auth, send), GraphOutcome::kAuth) << auth;
  for (const char* refused : {R"({"code":10,"error_subcode":2534022})", R"({"code":10,"error_subcode":2018278})",
                              R"({"code":551})", R"({"code":100})"})
    for (bool send : {true, false}) EXPECT_EQ(classify(400, refused, send), GraphOutcome::kPermanent) << refused;
  EXPECT_EQ(classify(400, R"({"code":1})", true), GraphOutcome::kUnknown);
  EXPECT_EQ(classify(500, R"({"code":1})", false), GraphOutcome::kRetryable);
  EXPECT_EQ(classify(400, R"({"code":10,"error_subcode":2534022,"message":"outside of allowed window"})", true),
            GraphOutcome::kPermanent);
  EXPECT_NE(e.find("Graph error 10/2534022"), std::string::npos) << e;
}

TEST(GraphApiTest, OnlyDecimalIdsAreGraphIds) {
  EXPECT_TRUE(is_graph_id("17841400000000001"));
  for (const char* bad : {"", "12a", "123/../../me/accounts", "1?fields=x", "1#", "..", "%2e",
                          "123456789012345678901234567890123"})
    EXPECT_FALSE(is_graph_id(bad)) << bad;
}

std::string delivery_with(const nlohmann::json& message, bool echo = false) {
  nlohmann::json m = message;
  if (echo) m["is_echo"] = true;
  nlohmann::json d = {{"object", "instagram"},
                      {"entry",
                       {{{"id", kAcc},
                         {"time", 1768396566941LL},
                         {"messaging",
                          {{{"sender", {{"id", echo ? kAcc : kCust}}},
                            {"recipient", {{"id", echo ? kCust : kAcc}}},
                            {"timestamp", 1768396566941LL},
                            {"message", m}}}}}}}};
  return d.dump();
}

TEST(FanOutTest, IngestOwesJobsForInboundAttachmentsAndMatchingRules) {
  test::FakeStore store;
  test::FakeClock clock;
  const auto rules = ReplyRules::parse(kRules, "rules.json");
  IngestService svc(store, clock, {RetryOptions{}, 0, {true, &rules}});
  auto roles_of = [](const DeliveryOutcome& o) {
    std::vector<std::string> roles;
    for (const auto& j : o.jobs) roles.push_back(to_string(j.role));
    return roles;
  };
  const auto out = svc.ingest_batch({
      delivery_with({{"mid", "m-text"}, {"text", "merhaba"}}),
      delivery_with({{"mid", "m-hours"}, {"text", "hours?"}}),
      delivery_with({{"mid", "m-pic"}, {"attachments", {{{"type", "image"}, {"payload", {{"url", "u"}}}}}}}),
      delivery_with({{"mid", "m-echo"}, {"text", "hours"}, {"attachments", {{{"type", "image"}}}}}, true),
  });
  EXPECT_EQ(roles_of(out[0]), std::vector<std::string>{"enrich"});
  EXPECT_EQ(roles_of(out[1]), (std::vector<std::string>{"enrich", "reply"}));
  EXPECT_EQ(roles_of(out[2]), (std::vector<std::string>{"enrich", "media"}));
  EXPECT_EQ(roles_of(out[3]), std::vector<std::string>{"media"});  // echoes: no enrich, never a reply
  EXPECT_EQ(nlohmann::json::parse(out[0].jobs[0].payload)["mid"], "m-text");
  // A redelivery of a stored message owes its jobs again.
  store.script({test::result(StoreStatus::kDuplicate)});
  EXPECT_EQ(roles_of(svc.ingest(delivery_with({{"mid", "m-text"}, {"text", "merhaba"}}))),
            std::vector<std::string>{"enrich"});
  // Without fan-out (the file source), no jobs.
  IngestService plain(store, clock, {RetryOptions{}, 0, {}});
  EXPECT_TRUE(plain.ingest(delivery_with({{"mid", "m2"}, {"text", "hours"}})).jobs.empty());
}

// INGEST_FAN_OUT_ROLES: a role left out of the list gets no job at all.
TEST(FanOutTest, OnlyTheListedRolesGetJobs) {
  test::FakeStore store;
  test::FakeClock clock;
  const auto rules = ReplyRules::parse(kRules, "rules.json");
  IngestService svc(store, clock, {RetryOptions{}, 0, {true, &rules, {Role::kReply}}});
  const auto out = svc.ingest_batch({
      delivery_with({{"mid", "m-hours"}, {"text", "hours?"}, {"attachments", {{{"type", "image"}}}}}),
  });
  ASSERT_EQ(out[0].jobs.size(), 1u);
  EXPECT_EQ(out[0].jobs[0].role, Role::kReply);
  IngestService none(store, clock, {RetryOptions{}, 0, {true, &rules, {}}});
  EXPECT_TRUE(none.ingest(delivery_with({{"mid", "m-x"}, {"text", "hours?"}})).jobs.empty());
}

}  // namespace
}  // namespace hm
