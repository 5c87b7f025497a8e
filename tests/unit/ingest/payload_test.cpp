#include "ingest/payload.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/text.h"
#include "support/fakes.h"

namespace hm {
namespace {

using test::fixture;

template <class T>
T only(const ParseResult& r) {
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.delivery.events.size(), 1u);
  return std::get<T>(r.delivery.events.at(0));
}

TEST(PayloadTest, TextMessage) {
  const auto r = parse_delivery(fixture("text.json"));
  const auto m = only<NewMessage>(r);
  EXPECT_EQ(m.mid.substr(0, 10), "aWdfZAG1fa");
  EXPECT_EQ(m.account_id, "17841405309211844");
  EXPECT_EQ(m.sender_id, "1284930675412097");
  EXPECT_EQ(m.recipient_id, "17841405309211844");
  EXPECT_EQ(m.direction, Direction::kInbound);
  EXPECT_EQ(m.kind, MessageKind::kMessage);
  EXPECT_EQ(m.timestamp_ms, 1768396566941);
  ASSERT_TRUE(m.text);
  EXPECT_NE(m.text->find("Şöyle cam kenarı"), std::string::npos);
  EXPECT_NE(m.text->find("🙏☕"), std::string::npos);
  EXPECT_FALSE(m.attachments_json);
}

TEST(PayloadTest, EchoIsOutbound) {
  const auto m = only<NewMessage>(parse_delivery(fixture("echo.json")));
  EXPECT_EQ(m.direction, Direction::kEcho);
  EXPECT_EQ(m.sender_id, "17841405309211844");
  EXPECT_NE(m.text->find("وعليكم السلام"), std::string::npos);
}

TEST(PayloadTest, AttachmentsAreKeptAsJson) {
  const auto m = only<NewMessage>(parse_delivery(fixture("attachments_multi.json")));
  ASSERT_TRUE(m.attachments_json);
  const auto a = nlohmann::json::parse(*m.attachments_json);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[2]["type"], "video");
  EXPECT_FALSE(m.text);
  const auto img = only<NewMessage>(parse_delivery(fixture("image.json")));
  EXPECT_EQ(nlohmann::json::parse(*img.attachments_json).size(), 1u);
}

TEST(PayloadTest, DeletionEditReactionReadPostback) {
  const auto d = only<MessageDeletion>(parse_delivery(fixture("deleted.json")));
  EXPECT_EQ(d.sender_id, "1284930675412097");
  const auto e = only<MessageEdit>(parse_delivery(fixture("edit.json")));
  EXPECT_EQ(e.num_edit, 1);
  EXPECT_NE(e.text.find("20:00"), std::string::npos);
  EXPECT_EQ(e.mid, d.mid);
  const auto re = only<Reaction>(parse_delivery(fixture("reaction.json")));
  EXPECT_EQ(re.action, ReactionAction::kReact);
  EXPECT_EQ(re.reaction, "love");
  EXPECT_EQ(re.emoji, "❤️");
  const auto rd = only<ReadReceipt>(parse_delivery(fixture("seen.json")));
  EXPECT_EQ(rd.reader_id, "7459812036650348");
  const auto p = only<NewMessage>(parse_delivery(fixture("postback.json")));
  EXPECT_EQ(p.kind, MessageKind::kPostback);
  EXPECT_EQ(*p.postback_payload, "ICEBREAKER_HOURS");
  EXPECT_EQ(*p.text, "Çalışma saatleriniz nedir? 🕘");
}

TEST(PayloadTest, SeveralEntriesAndEvents) {
  const auto r = parse_delivery(fixture("multi_entry.json"));
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.delivery.events.size(), 6u);
  EXPECT_EQ(describe(r.delivery.events[0]), "message");
  EXPECT_EQ(describe(r.delivery.events[2]), "message");
  EXPECT_EQ(std::get<NewMessage>(r.delivery.events[2]).account_id, "17841463007281952");
  EXPECT_EQ(describe(r.delivery.events[3]), "read");
  EXPECT_EQ(describe(r.delivery.events[4]), "echo");
  EXPECT_EQ(describe(r.delivery.events[5]), "reaction");
}

TEST(PayloadTest, UnknownFieldsIgnoredUnknownKindsSkipped) {
  nlohmann::json j = nlohmann::json::parse(fixture("text.json"));
  j["brand_new_field"] = {{"x", 1}};
  j["entry"][0]["messaging"][0]["message"]["future"] = true;
  j["entry"][0]["messaging"].push_back(
      {{"sender", {{"id", "1"}}}, {"recipient", {{"id", "2"}}}, {"timestamp", 1768396566941LL}, {"referral", {{"ref", "ad"}}}});
  j["entry"].push_back({{"id", "17841405309211844"}, {"time", 1768396566941LL}, {"changes", {{{"field", "comments"}}}}});
  const auto r = parse_delivery(j.dump());
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.delivery.events.size(), 3u);
  EXPECT_EQ(describe(r.delivery.events[1]), "skipped:referral");
  EXPECT_EQ(describe(r.delivery.events[2]), "skipped:changes:comments");
}

struct BadCase {
  std::string name;
  std::string payload;
  std::string expected;  // a fragment of the error
};

std::string with(const std::function<void(nlohmann::json&)>& change) {
  nlohmann::json j = nlohmann::json::parse(fixture("text.json"));
  change(j);
  return j.dump();
}

TEST(PayloadTest, RejectsBadDeliveriesWithAClearReason) {
  const std::vector<BadCase> cases = {
      {"invalid json", "{\"object\":\"instagram\",", "invalid JSON"},
      {"truncated", fixture("text.json").substr(0, 100), "invalid JSON"},
      {"not an object", "[1,2,3]", "expected an object"},
      {"wrong object", with([](auto& j) { j["object"] = "page"; }), "delivery.object"},
      {"no entry", with([](auto& j) { j.erase("entry"); }), "delivery.entry: is missing"},
      {"empty entry", with([](auto& j) { j["entry"] = nlohmann::json::array(); }), "delivery.entry: is empty"},
      {"entry not array", with([](auto& j) { j["entry"] = "x"; }), "expected an array"},
      {"no mid", with([](auto& j) { j["entry"][0]["messaging"][0]["message"].erase("mid"); }), "message.mid: is missing"},
      {"numeric mid", with([](auto& j) { j["entry"][0]["messaging"][0]["message"]["mid"] = 12345; }), "is a number, expected a string"},
      {"empty mid", with([](auto& j) { j["entry"][0]["messaging"][0]["message"]["mid"] = ""; }), "mid: is empty"},
      {"long mid", with([](auto& j) { j["entry"][0]["messaging"][0]["message"]["mid"] = std::string(256, 'a'); }), "longer than the limit of 255"},
      {"mid with space", with([](auto& j) { j["entry"][0]["messaging"][0]["message"]["mid"] = "a b"; }), "not printable ASCII"},
      {"numeric text", with([](auto& j) { j["entry"][0]["messaging"][0]["message"]["text"] = 5; }), "message.text: is a number"},
      {"no sender", with([](auto& j) { j["entry"][0]["messaging"][0].erase("sender"); }), "sender: is missing"},
      {"numeric sender", with([](auto& j) { j["entry"][0]["messaging"][0]["sender"]["id"] = 1284930675412097LL; }), "sender.id: is a number"},
      {"string timestamp", with([](auto& j) { j["entry"][0]["messaging"][0]["timestamp"] = "yesterday"; }), "timestamp: is a string"},
      {"ancient timestamp", with([](auto& j) { j["entry"][0]["messaging"][0]["timestamp"] = 5; }), "out of range"},
      {"no time at all", with([](auto& j) { j["entry"][0].erase("time"); j["entry"][0]["messaging"][0].erase("timestamp"); }), "timestamp: is missing"},
      {"echo flag wrong type", with([](auto& j) { j["entry"][0]["messaging"][0]["message"]["is_echo"] = "yes"; }), "is_echo: is a string"},
      {"attachments not array", with([](auto& j) { j["entry"][0]["messaging"][0]["message"]["attachments"] = "x"; }), "attachments: is a string"},
      {"entry without events", with([](auto& j) { j["entry"][0].erase("messaging"); }), "neither messaging, changes nor standby"},
      {"deep nesting", std::string(5000, '[') + std::string(5000, ']'), ""},
      {"invalid utf8", with([](auto&) {}).replace(60, 1, "\xff"), "invalid JSON"},
  };
  for (const auto& c : cases) {
    const auto r = parse_delivery(c.payload);
    EXPECT_FALSE(r.ok) << c.name;
    EXPECT_FALSE(r.error.empty()) << c.name;
    EXPECT_NE(r.error.find(c.expected), std::string::npos) << c.name << ": " << r.error;
  }
}

// Ids become Graph API paths (/<igsid>, /<account>/messages): only decimal
// digits pass. Before, any printable ASCII did, `/../../me/accounts` included.
TEST(PayloadTest, IdsThatAreNotDecimalDigitsMakeADeadLetterNamingTheField) {
  auto sender = [](std::string id) { return with([id](auto& j) { j["entry"][0]["messaging"][0]["sender"]["id"] = id; }); };
  const std::vector<BadCase> cases = {
      {"path in sender", sender("123/../../me/accounts"), "entry[0].messaging[0].sender.id: is not decimal digits"},
      {"letter in sender", sender("12a"), "entry[0].messaging[0].sender.id: is not decimal digits"},
      {"query in sender", sender("123?fields=access_token"), "sender.id: is not decimal digits"},
      {"sign in sender", sender("-123"), "sender.id: is not decimal digits"},
      {"empty sender", sender(""), "entry[0].messaging[0].sender.id: is empty"},
      {"40 digits", sender(std::string(40, '7')), "sender.id: is 40 digits, longer than the limit of 32"},
      {"path in recipient",
       with([](auto& j) { j["entry"][0]["messaging"][0]["recipient"]["id"] = "17841405309211844/messages"; }),
       "entry[0].messaging[0].recipient.id: is not decimal digits"},
      {"path in account", with([](auto& j) { j["entry"][0]["id"] = "../me/accounts"; }),
       "entry[0].id: is not decimal digits"},
      {"unicode digits in account", with([](auto& j) { j["entry"][0]["id"] = "١٢٣"; }), "entry[0].id: is not decimal digits"},
  };
  for (const auto& c : cases) {
    const auto r = parse_delivery(c.payload);
    EXPECT_FALSE(r.ok) << c.name;
    EXPECT_NE(r.error.find(c.expected), std::string::npos) << c.name << ": " << r.error;
  }
  // 32 digits is the longest id accepted.
  EXPECT_TRUE(parse_delivery(sender(std::string(32, '9'))).ok);
}

// Every real delivery shape (tests/fixtures/payloads = /work/shared/payloads)
// still parses with the stricter ids.
TEST(PayloadTest, EveryRealPayloadShapeStillParses) {
  int n = 0;
  for (const auto& f : std::filesystem::directory_iterator(std::string(HM_FIXTURES_DIR) + "/payloads")) {
    const auto r = parse_delivery(fixture(f.path().filename().string()));
    EXPECT_TRUE(r.ok) << f.path() << ": " << r.error;
    ++n;
  }
  EXPECT_GE(n, 10);
}

TEST(PayloadTest, DeepNestingInsideAValidDeliveryIsRefused) {
  std::string deep = std::string(100, '[') + std::string(100, ']');
  const auto payload = with([&](auto& j) { j["entry"][0]["messaging"][0]["message"]["extra"] = nlohmann::json::parse(deep); });
  const auto r = parse_delivery(payload);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("nested deeper"), std::string::npos) << r.error;
}

TEST(PayloadTest, NulBytesAndMetacharactersSurviveInText) {
  const std::string text = std::string("a\0b", 3) + "'; DROP TABLE message; --";
  const auto payload = with([&](auto& j) { j["entry"][0]["messaging"][0]["message"]["text"] = text; });
  const auto m = only<NewMessage>(parse_delivery(payload));
  EXPECT_EQ(*m.text, text);
}


// Comments and mentions (changes[]) carry entry.time in seconds. The parser
// used to hold it to milliseconds and dead-letter the whole delivery.
TEST(PayloadTest, ChangesWithEntryTimeInSecondsAreSkippedNotDeadLettered) {
  const auto r = parse_delivery(fixture("changes_seconds.json"));
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.delivery.events.size(), 2u);
  EXPECT_EQ(describe(r.delivery.events[0]), "skipped:changes:comments");
  EXPECT_EQ(describe(r.delivery.events[1]), "skipped:changes:mentions");
}

// entry.time in seconds is the fallback time of a messaging event too.
TEST(PayloadTest, EntryTimeInSecondsOrMillisecondsGivesTheSameEventTime) {
  auto at = [](long long entry_time) {
    return with([entry_time](auto& j) {
      j["entry"][0]["time"] = entry_time;
      j["entry"][0]["messaging"][0].erase("timestamp");
    });
  };
  EXPECT_EQ(only<NewMessage>(parse_delivery(at(1768396566))).timestamp_ms, 1768396566000);
  EXPECT_EQ(only<NewMessage>(parse_delivery(at(1768396566941))).timestamp_ms, 1768396566941);
  // Out of range either way: before 2001 in seconds, after 2100 in seconds.
  for (long long bad : {5LL, 978307199LL, 4102444800LL, -1768396566LL}) {
    const auto r = parse_delivery(at(bad));
    EXPECT_FALSE(r.ok) << bad;
    EXPECT_NE(r.error.find("entry[0].time: is out of range"), std::string::npos) << bad << ": " << r.error;
  }
}

// Standby: another app owns the thread. Not stored, not replied to, and not
// a dead letter (it used to be: "has neither messaging nor changes").
TEST(PayloadTest, StandbyEntriesAreSkipped) {
  const auto r = parse_delivery(fixture("standby.json"));
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.delivery.events.size(), 1u);
  EXPECT_EQ(describe(r.delivery.events[0]), "skipped:standby");
}

// postback.mid exists from webhook version v11.0 on: the dead letter says so.
TEST(PayloadTest, PostbackWithoutMidIsADeadLetterNamingTheWebhookVersion) {
  const auto r = parse_delivery(fixture("../dead_letters/postback_without_mid.json"));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("entry[0].messaging[0].postback.mid: is missing"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("v11.0 or later"), std::string::npos) << r.error;
}

// A reply to a story keeps the story's id and URL (they used to be dropped).
TEST(PayloadTest, ReplyToStoryKeepsTheStoryIdAndUrl) {
  const auto m = only<NewMessage>(parse_delivery(fixture("story_reply.json")));
  ASSERT_TRUE(m.reply_to_story_id);
  EXPECT_EQ(*m.reply_to_story_id, "3301234567890123456");
  ASSERT_TRUE(m.reply_to_story_url);
  EXPECT_EQ(m.reply_to_story_url->rfind("https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17999012345678901", 0), 0u);
  EXPECT_FALSE(m.reply_to_mid);
  EXPECT_FALSE(m.attachments_json);  // the story is not an attachment: the media role never downloads it
  EXPECT_EQ(*m.text, "Bu çanta hâlâ var mı? 👜");
  const auto plain = only<NewMessage>(parse_delivery(fixture("text.json")));
  EXPECT_FALSE(plain.reply_to_story_id);
  EXPECT_FALSE(plain.reply_to_story_url);
}

TEST(PayloadTest, ReplyToStoryOfTheWrongShapeIsADeadLetter) {
  auto story = [](nlohmann::json s) {
    return with([s](auto& j) { j["entry"][0]["messaging"][0]["message"]["reply_to"] = {{"story", s}}; });
  };
  const std::vector<BadCase> cases = {
      {"story not object", story("x"), "reply_to.story: is a string"},
      {"no id", story({{"url", "https://lookaside.fbsbx.com/x"}}), "reply_to.story.id: is missing"},
      {"id with space", story({{"id", "1 2"}}), "reply_to.story.id: holds a character"},
      {"long url", story({{"id", "1"}, {"url", std::string(5000, 'u')}}), "reply_to.story.url: is 5000 bytes"},
  };
  for (const auto& c : cases) {
    const auto r = parse_delivery(c.payload);
    EXPECT_FALSE(r.ok) << c.name;
    EXPECT_NE(r.error.find(c.expected), std::string::npos) << c.name << ": " << r.error;
  }
}

TEST(PayloadTest, SharedPostArrivesAsTwoAttachmentsKeptAsReceived) {
  const auto m = only<NewMessage>(parse_delivery(fixture("share_two_attachments.json")));
  const auto a = nlohmann::json::parse(*m.attachments_json);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0]["type"], "share");
  EXPECT_EQ(a[1]["type"], "ig_post");
  EXPECT_EQ(a[0]["payload"]["url"], a[1]["payload"]["url"]);
}

}  // namespace
}  // namespace hm

namespace hm {
namespace {

std::string raw_message(const std::string& message_members) {
  return R"({"object":"instagram","entry":[{"id":"17841405309211844","messaging":[{"sender":{"id":"1284930675412097"},)"
         R"("recipient":{"id":"17841405309211844"},"timestamp":1768396566941,"message":{)" +
         message_members + "}}]}]}";
}

// nlohmann kept the last of a duplicated key; the simdjson parser does too
// (simdjson's own at_key would find the first).
TEST(PayloadTest, DuplicatedKeysTheLastOneCounts) {
  const auto m = only<NewMessage>(parse_delivery(raw_message(R"("mid":"first","text":"one","mid":"second","text":"two")")));
  EXPECT_EQ(m.mid, "second");
  EXPECT_EQ(*m.text, "two");
  const auto bad_last = parse_delivery(raw_message(R"("mid":"first","mid":7)"));
  EXPECT_FALSE(bad_last.ok);
  EXPECT_EQ(bad_last.error, "entry[0].messaging[0].message.mid: is a number, expected a string");
  EXPECT_TRUE(parse_delivery(raw_message(R"("mid":7,"mid":"second")")).ok);
}

TEST(PayloadTest, InvalidUtf8InAStringIsInvalidJsonAndNeverEchoed) {
  for (const std::string bad : {"\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "SECRET\xe2\x82"}) {
    const auto r = parse_delivery(raw_message(R"("mid":"m","text":"SECRET)" + bad + "\""));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error.rfind("invalid JSON: ", 0), 0u) << r.error;
    EXPECT_EQ(r.error.find("SECRET"), std::string::npos) << r.error;
    EXPECT_EQ(printable_utf8(r.error), r.error);
  }
}

// Numbers as nlohmann read them: integers beyond 64 bits were floating point
// numbers (not whole), 1e400 was invalid JSON, -0 was the integer 0.
TEST(PayloadTest, NumbersOutsideInt64KeepTheirOutcome) {
  auto at = [](const std::string& ts) {
    return parse_delivery(R"({"object":"instagram","entry":[{"id":"17841405309211844","messaging":[{"sender":{"id":"1"},)"
                          R"("recipient":{"id":"2"},"timestamp":)" + ts + R"(,"message":{"mid":"m"}}]}]})");
  };
  const std::string path = "entry[0].messaging[0].timestamp: ";
  EXPECT_EQ(at("18446744073709551616").error, path + "is a number, expected milliseconds since 1970");
  EXPECT_EQ(at("1768396566941.0").error, path + "is a number, expected milliseconds since 1970");
  EXPECT_EQ(at("18446744073709551615").error, path + "is out of range (expected milliseconds between 2001 and 2100)");
  EXPECT_EQ(at("-1768396566941").error, path + "is out of range (expected milliseconds between 2001 and 2100)");
  EXPECT_EQ(at("-0").error, path + "is out of range (expected milliseconds between 2001 and 2100)");
  EXPECT_EQ(at("1e400").error.rfind("invalid JSON: ", 0), 0u);
  // Where nothing reads it, a huge integer is no reason to refuse a delivery.
  EXPECT_TRUE(parse_delivery(raw_message(R"("mid":"m","n":123456789012345678901234567890)")).ok);
}

TEST(PayloadTest, FramingOfTheDocumentKeepsItsOutcome) {
  const std::string ok = raw_message(R"("mid":"m")");
  EXPECT_FALSE(parse_delivery("").ok);
  EXPECT_FALSE(parse_delivery(" \n\t").ok);
  EXPECT_FALSE(parse_delivery(ok + " x").ok);
  EXPECT_TRUE(parse_delivery("\xEF\xBB\xBF" + ok).ok);                     // one BOM, as nlohmann skipped it
  EXPECT_TRUE(parse_delivery(ok + std::string("\0garbage", 8)).ok);        // nlohmann stopped at a NUL
  EXPECT_FALSE(parse_delivery(ok.substr(0, 10) + std::string(1, '\0') + ok.substr(10)).ok);
  const auto deep_then_bad = parse_delivery(std::string(100, '[') + std::string(100, ']') + ",");
  EXPECT_EQ(deep_then_bad.error.rfind("invalid JSON: ", 0), 0u) << deep_then_bad.error;
  EXPECT_EQ(parse_delivery(std::string(33, '[') + std::string(33, ']')).error, "delivery: is an array, expected an object");
  EXPECT_EQ(parse_delivery(std::string(33, '[') + "1" + std::string(33, ']')).error, "delivery: is nested deeper than 32 levels");
}

}  // namespace
}  // namespace hm
