// Golden equivalence of the payload parser: every fixture payload, every
// input of the fuzz corpus and a set of tricky inline deliveries are parsed,
// and a full textual summary of each result (ok, the error, every event with
// every field) is compared with tests/fixtures/payload_golden.txt. The
// expectations were written by the nlohmann parser, before the switch to
// simdjson; the switch must not change one line. The rest of an "invalid
// JSON: ..." error is parser-specific: the summary keeps the prefix only, and
// checks that the rest is printable UTF-8.
//   HM_UPDATE_GOLDEN=1 build/tests/hm_unit_tests --gtest_filter='PayloadGolden*'
// rewrites the file (only ever with a parser known to be right).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/text.h"
#include "ingest/payload.h"
#include "support/fakes.h"

namespace hm {
namespace {

std::string quoted(const std::string& s) {
  if (s.size() > 160) {
    std::uint64_t h = 1469598103934665603ULL;  // FNV-1a
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
    return "<" + std::to_string(s.size()) + " bytes, fnv " + std::to_string(h) + ">";
  }
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f || c == '\\' || c == '"') {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string opt(const std::optional<std::string>& s) { return s ? quoted(*s) : "none"; }

struct Summarizer {
  std::ostringstream& o;
  void operator()(const NewMessage& m) const {
    o << "  message mid=" << quoted(m.mid) << " account=" << quoted(m.account_id) << " sender=" << quoted(m.sender_id)
      << " recipient=" << quoted(m.recipient_id) << " direction=" << to_string(m.direction) << " kind=" << to_string(m.kind)
      << " ts=" << m.timestamp_ms << "\n    text=" << opt(m.text) << "\n    attachments=" << opt(m.attachments_json)
      << "\n    reply_to_mid=" << opt(m.reply_to_mid) << " story_id=" << opt(m.reply_to_story_id)
      << " story_url=" << opt(m.reply_to_story_url) << " postback_payload=" << opt(m.postback_payload) << "\n";
  }
  void operator()(const MessageDeletion& d) const {
    o << "  deletion mid=" << quoted(d.mid) << " account=" << quoted(d.account_id) << " sender=" << quoted(d.sender_id)
      << " ts=" << d.timestamp_ms << "\n";
  }
  void operator()(const MessageEdit& e) const {
    o << "  edit mid=" << quoted(e.mid) << " account=" << quoted(e.account_id) << " sender=" << quoted(e.sender_id)
      << " text=" << quoted(e.text) << " num_edit=" << e.num_edit << " ts=" << e.timestamp_ms << "\n";
  }
  void operator()(const Reaction& r) const {
    o << "  reaction mid=" << quoted(r.mid) << " account=" << quoted(r.account_id) << " sender=" << quoted(r.sender_id)
      << " action=" << quoted(to_string(r.action)) << " reaction=" << quoted(r.reaction) << " emoji=" << quoted(r.emoji)
      << " ts=" << r.timestamp_ms << "\n";
  }
  void operator()(const ReadReceipt& r) const {
    o << "  read mid=" << quoted(r.mid) << " account=" << quoted(r.account_id) << " reader=" << quoted(r.reader_id)
      << " ts=" << r.timestamp_ms << "\n";
  }
  void operator()(const SkippedEvent& s) const { o << "  skipped kind=" << quoted(s.kind) << "\n"; }
};

std::string summary(const std::string& input) {
  const ParseResult r = parse_delivery(input);
  std::ostringstream o;
  if (!r.ok) {
    const std::string prefix = "invalid JSON: ";
    if (r.error.rfind(prefix, 0) == 0) {
      const bool printable = printable_utf8(r.error) == r.error;
      o << "error: invalid JSON: ..." << (printable ? "" : " (NOT PRINTABLE UTF-8)") << "\n";
    } else {
      o << "error: " << quoted(r.error) << "\n";
    }
    return o.str();
  }
  o << "ok, " << r.delivery.events.size() << " events\n";
  for (const auto& e : r.delivery.events) std::visit(Summarizer{o}, e);
  return o.str();
}

// A valid delivery, one messaging event: `message` is the event's message
// object (raw JSON), `extra` more members of the event (raw, with a leading comma).
std::string one(const std::string& message, const std::string& ts = "1768396566941", const std::string& extra = "") {
  return R"({"object":"instagram","entry":[{"id":"17841405309211844","time":1768396567320,"messaging":[{"sender":{"id":"1284930675412097"},"recipient":{"id":"17841405309211844"},"timestamp":)" +
         ts + R"(,"message":)" + message + extra + "}]}]}";
}
std::string msg(const std::string& more) { return one(R"({"mid":"aWdfZAG1",)" + more + "}"); }
// One event given whole, entry.time `time` (raw; empty: none).
std::string event(const std::string& ev, const std::string& time = "1768396567320") {
  const std::string t = time.empty() ? "" : R"("time":)" + time + ",";
  return R"({"object":"instagram","entry":[{"id":"17841405309211844",)" + t + R"("messaging":[)" + ev + "]}]}";
}
const std::string kWho = R"("sender":{"id":"1284930675412097"},"recipient":{"id":"17841405309211844"})";
std::string nested(int levels, const std::string& inner) {
  return std::string(static_cast<std::size_t>(levels), '[') + inner + std::string(static_cast<std::size_t>(levels), ']');
}

std::vector<std::pair<std::string, std::string>> inline_cases() {
  std::vector<std::pair<std::string, std::string>> c;
  const std::string ok = msg(R"("text":"hi")");
  c.emplace_back("base", ok);
  // Framing: empty, whitespace, NUL, trailing garbage, BOM.
  c.emplace_back("empty", "");
  c.emplace_back("whitespace", " \n\t\r ");
  c.emplace_back("nul byte", std::string(1, '\0'));
  c.emplace_back("nul after value", ok + std::string(1, '\0'));
  c.emplace_back("raw nul in text", msg(std::string("\"text\":\"a\0b\"", 12)));
  c.emplace_back("escaped nul in text", msg(R"("text":"a\u0000b")"));
  c.emplace_back("nul then garbage", ok + std::string("\0garbage", 8));
  c.emplace_back("whitespace nul garbage", ok + std::string(" \n\0}}}", 6));
  c.emplace_back("nul inside document", ok.substr(0, 20) + std::string(1, '\0') + ok.substr(20));
  c.emplace_back("deep then nul", nested(100, "") + std::string("\0x", 2));
  c.emplace_back("bigint then nul", R"({"object":"instagram","n":123456789012345678901234567890})" + std::string("\0x", 2));
  c.emplace_back("trailing garbage", ok + " x");
  c.emplace_back("trailing second value", ok + "{}");
  c.emplace_back("trailing whitespace", ok + " \n\r\t");
  c.emplace_back("leading whitespace", "\n " + ok);
  c.emplace_back("form feed", "\f" + ok);
  c.emplace_back("bom", "\xEF\xBB\xBF" + ok);
  c.emplace_back("two boms", "\xEF\xBB\xBF\xEF\xBB\xBF" + ok);
  c.emplace_back("half bom", "\xEF\xBB" + ok);
  c.emplace_back("space then bom", " \xEF\xBB\xBF" + ok);
  c.emplace_back("root true", "true");
  c.emplace_back("root null", "null");
  c.emplace_back("root number", "12");
  c.emplace_back("root string", "\"instagram\"");
  c.emplace_back("root array", "[]");
  c.emplace_back("truncated", ok.substr(0, ok.size() - 3));
  c.emplace_back("single quotes", "{'object':'instagram'}");
  c.emplace_back("trailing comma", msg(R"("text":"hi",)"));
  // Timestamps, entry.time and num_edit: integers, floats, signs, huge numbers.
  for (const std::string ts : {"1768396566941", "1768396566941.0", "1.768396566941e12", "1768396566941e0", "-1768396566941",
                               "0", "-0", "-0.0", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
                               "-9223372036854775809", "18446744073709551615", "18446744073709551616",
                               "123456789012345678901234567890", "1e400", "-1e400", "1e-400", "01768396566941",
                               "+1768396566941", "1768396566941.", ".5", "true", "null", "\"1768396566941\"", "[]", "{}"}) {
    c.emplace_back("timestamp " + ts, one(R"({"mid":"aWdfZAG1"})", ts));
    c.emplace_back("entry.time " + ts, event("{" + kWho + R"(,"message":{"mid":"aWdfZAG1"}})", ts));
    c.emplace_back("num_edit " + ts, event("{" + kWho + R"(,"timestamp":1768396566941,"message_edit":{"mid":"aWdfZAG1","num_edit":)" + ts + "}}"));
  }
  c.emplace_back("entry.time seconds", event("{" + kWho + R"(,"message":{"mid":"aWdfZAG1"}})", "1768396566"));
  c.emplace_back("no time anywhere", event("{" + kWho + R"(,"message":{"mid":"aWdfZAG1"}})", ""));
  // Huge or odd numbers where nothing reads them.
  c.emplace_back("huge int in unknown field", msg(R"("text":"hi","n":123456789012345678901234567890)"));
  c.emplace_back("uint64+1 in unknown field", msg(R"("text":"hi","n":18446744073709551616)"));
  c.emplace_back("negative huge in unknown field", msg(R"("text":"hi","n":-9223372036854775809)"));
  c.emplace_back("1e400 in unknown field", msg(R"("text":"hi","n":1e400)"));
  c.emplace_back("1e-400 in unknown field", msg(R"("text":"hi","n":1e-400)"));
  c.emplace_back("long float in unknown field", msg(R"("text":"hi","n":0.)" + std::string(500, '1') + "e-3"));
  // Attachments: kept as nlohmann's dump (sorted keys, last duplicate, its number format).
  c.emplace_back("attachments numbers", msg(R"("attachments":[{"n":[1E3,-0.0,-0,1e-400,0.1,1.5e300,18446744073709551615,-9223372036854775808,18446744073709551616,2.5,100,1e21,1e15,1e16,123456.789e-10,5e-324,-1.0]}])"));
  c.emplace_back("attachments strings", msg(R"("attachments":[{"type":"x","s":"\u00e9\/\"\\\b\f\n\r\t\u0001\u001f\u007f\ud83d\ude00 é","payload":{"url":"https://x/y?a=1&b=2"}}])"));
  c.emplace_back("attachments keys", msg(R"("attachments":[{"z":1,"a":2,"Z":3,"é":4,"a":5,"":6,"aa":null,"b":true,"c":false,"d":{},"e":[]}])"));
  c.emplace_back("attachments whitespace", msg("\"attachments\" : [ { \"type\" : \"image\" , \"payload\" : { \"url\" : \"u\" } } , { } ]"));
  c.emplace_back("attachments empty", msg(R"("attachments":[])"));
  c.emplace_back("attachments null", msg(R"("attachments":null)"));
  c.emplace_back("attachments item not object", msg(R"("attachments":[{},1])"));
  c.emplace_back("attachments dup", msg(R"("attachments":"x","attachments":[{"type":"image"}])"));
  c.emplace_back("attachments dup last bad", msg(R"("attachments":[{"type":"image"}],"attachments":5)"));
  // Duplicate keys: the last one counts.
  c.emplace_back("dup mid", msg(R"("mid":"second","text":"hi")"));
  c.emplace_back("dup mid last bad", one(R"({"mid":"aWdfZAG1","mid":5})"));
  c.emplace_back("dup mid first bad", one(R"({"mid":5,"mid":"aWdfZAG1"})"));
  c.emplace_back("dup text", msg(R"("text":"first","text":"second")"));
  c.emplace_back("dup text null last", msg(R"("text":"first","text":null)"));
  c.emplace_back("dup is_echo", msg(R"("is_echo":true,"is_echo":false)"));
  c.emplace_back("dup is_deleted", msg(R"("is_deleted":false,"is_deleted":true)"));
  c.emplace_back("dup message", one(R"({"mid":"first"})", "1768396566941", R"(,"message":{"mid":"second","text":"t"})"));
  c.emplace_back("dup timestamp", one(R"({"mid":"aWdfZAG1"})", "\"x\",\"timestamp\":1768396566942"));
  c.emplace_back("dup sender", event("{" + kWho + R"(,"sender":{"id":"42"},"timestamp":1768396566941,"message":{"mid":"m"}})"));
  c.emplace_back("dup object", R"({"object":"page","object":"instagram","entry":[{"id":"1","changes":[{}]}]})");
  c.emplace_back("dup object last bad", R"({"object":"instagram","object":"page","entry":[{"id":"1","changes":[{}]}]})");
  c.emplace_back("dup entry", R"({"object":"instagram","entry":5,"entry":[{"id":"1","changes":[{"field":"a"}]}]})");
  c.emplace_back("dup entry id", R"({"object":"instagram","entry":[{"id":"1","id":"2","changes":[{}]}]})");
  c.emplace_back("dup change field", R"({"object":"instagram","entry":[{"id":"1","changes":[{"field":"a","field":"b"},{"field":"c","field":5}]}]})");
  c.emplace_back("dup reply_to mid", msg(R"("reply_to":{"mid":"a","mid":"b"})"));
  c.emplace_back("dup story", msg(R"("reply_to":{"story":{"id":"1","url":"u1","id":"2","url":"u2"}})"));
  c.emplace_back("dup reaction", event("{" + kWho + R"(,"timestamp":1768396566941,"reaction":{"mid":"m","action":"react","action":"unreact","emoji":"a","emoji":"b"}})"));
  // Skipped kinds: the first key in key order (nlohmann's map), not in the document's.
  c.emplace_back("skipped key order", event("{" + kWho + R"(,"timestamp":1768396566941,"zeta":1,"alpha":2})"));
  c.emplace_back("skipped upper first", event("{" + kWho + R"(,"timestamp":1768396566941,"optin":1,"Referral":2})"));
  c.emplace_back("skipped only known", event("{" + kWho + R"(,"timestamp":1768396566941})"));
  c.emplace_back("skipped long key", event("{" + kWho + R"(,"timestamp":1768396566941,")" + std::string(100, 'k') + "\":1}"));
  c.emplace_back("skipped utf8 key", event("{" + kWho + R"(,"timestamp":1768396566941,")" + std::string(39, 'k') + "é\":1}"));
  c.emplace_back("kinds order", event("{" + kWho + R"(,"timestamp":1768396566941,"read":{"mid":"r"},"postback":{"mid":"p","title":"t"}})"));
  // UTF-8 and escapes.
  c.emplace_back("invalid utf8 in text", msg("\"text\":\"a\xff b\""));
  c.emplace_back("invalid utf8 in key", msg("\"te\xc3xt\":\"a\""));
  c.emplace_back("invalid utf8 in unknown", msg("\"x\":\"\xed\xa0\x80\",\"text\":\"a\""));
  c.emplace_back("overlong utf8", msg("\"text\":\"\xc0\xaf\""));
  c.emplace_back("utf8 above U+10FFFF", msg("\"text\":\"\xf4\x90\x80\x80\""));
  c.emplace_back("invalid utf8 outside strings", ok + "\xff");
  c.emplace_back("lone high surrogate", msg(R"("text":"a\ud800")"));
  c.emplace_back("lone low surrogate", msg(R"("text":"a\udc00")"));
  c.emplace_back("surrogate pair", msg(R"("text":"\ud83d\ude00")"));
  c.emplace_back("bad escape", msg(R"("text":"\x41")"));
  c.emplace_back("short unicode escape", msg(R"("text":"\u12")"));
  c.emplace_back("raw control char", msg("\"text\":\"a\x01\""));
  c.emplace_back("raw tab in text", msg("\"text\":\"a\tb\""));
  c.emplace_back("raw 0x7f in text", msg("\"text\":\"a\x7f\""));
  c.emplace_back("escaped slash mid", one(R"({"mid":"a\/b"})"));
  c.emplace_back("unicode escape in mid", one(R"({"mid":"\u0041\u00e9"})"));
  c.emplace_back("1 MB text", msg("\"text\":\"" + std::string(1 << 20, 'x') + "\""));
  c.emplace_back("1 MB mid", one("{\"mid\":\"" + std::string(1 << 20, 'x') + "\"}"));
  c.emplace_back("1 MB unterminated string", msg("\"text\":\"" + std::string(1 << 20, 'x')));
  // Depth: 32 levels below the root at most, as nlohmann's depth_of counted.
  for (int n : {30, 31, 32, 33, 34}) {
    c.emplace_back("nested " + std::to_string(n) + " empty", nested(n, ""));
    c.emplace_back("nested " + std::to_string(n) + " one", nested(n, "1"));
  }
  // The message sits 5 levels below the root: extra at 6.
  for (int n : {25, 26, 27, 28, 29}) {
    c.emplace_back("extra nested " + std::to_string(n) + " empty", msg("\"extra\":" + nested(n, "")));
    c.emplace_back("extra nested " + std::to_string(n) + " one", msg("\"extra\":" + nested(n, "1")));
    c.emplace_back("extra nested objects " + std::to_string(n),
                   msg("\"extra\":" + [n] { std::string s; for (int i = 0; i < n; ++i) s += "{\"a\":"; s += "1"; return s + std::string(static_cast<std::size_t>(n), '}'); }()));
  }
  c.emplace_back("deep 5000", nested(5000, ""));
  c.emplace_back("deep 100000 unclosed", std::string(100000, '['));
  c.emplace_back("deep then syntax error", nested(100, "") + ",");
  c.emplace_back("deep then bad number", "[" + nested(100, "") + ",01]");
  c.emplace_back("deep then huge int", "[" + nested(100, "") + ",123456789012345678901234567890]");
  c.emplace_back("deep then 1e400", "[" + nested(100, "") + ",1e400]");
  c.emplace_back("deep in valid delivery", msg("\"extra\":" + nested(100, "")));
  c.emplace_back("deep mismatched", std::string(100, '[') + std::string(100, '}'));
  c.emplace_back("bad number then deep", "[01," + nested(100, "") + "]");
  c.emplace_back("huge int then deep", "[123456789012345678901234567890," + nested(100, "") + "]");
  // Many events.
  {
    std::string evs;
    for (int i = 0; i < 1000; ++i) evs += (i ? "," : "") + std::string("{") + kWho + R"(,"timestamp":1768396566941,"read":{"mid":"m)" + std::to_string(i) + "\"}}";
    c.emplace_back("1000 events", event(evs));
  }
  return c;
}

std::map<std::string, std::string> all_summaries() {
  std::map<std::string, std::string> out;
  namespace fs = std::filesystem;
  for (const auto& f : fs::directory_iterator(std::string(HM_FIXTURES_DIR) + "/payloads"))
    out["fixture " + f.path().filename().string()] = summary(test::fixture(f.path().filename().string()));
  for (const auto& f : fs::directory_iterator(std::string(HM_SOURCE_DIR) + "/tests/fuzz/corpus")) {
    std::ifstream in(f.path(), std::ios::binary);
    out["corpus " + f.path().filename().string()] = summary(std::string(std::istreambuf_iterator<char>(in), {}));
  }
  for (const auto& [name, payload] : inline_cases()) {
    EXPECT_EQ(out.count("inline " + name), 0u) << "two cases named " << name;
    out["inline " + name] = summary(payload);
  }
  return out;
}

const std::string kGolden = std::string(HM_FIXTURES_DIR) + "/payload_golden.txt";

// The file: "== name\n" then the summary, for every case in name order.
std::map<std::string, std::string> read_golden() {
  std::ifstream in(kGolden, std::ios::binary);
  std::map<std::string, std::string> out;
  std::string line;
  std::string name;
  while (std::getline(in, line)) {
    if (line.rfind("== ", 0) == 0) {
      name = line.substr(3);
      out[name];
    } else {
      out[name] += line + "\n";
    }
  }
  return out;
}

TEST(PayloadGoldenTest, EveryCaseGivesTheResultTheNlohmannParserGave) {
  const auto now = all_summaries();
  if (std::getenv("HM_UPDATE_GOLDEN") != nullptr) {
    std::ofstream out(kGolden, std::ios::binary | std::ios::trunc);
    for (const auto& [name, s] : now) out << "== " << name << "\n" << s;
    GTEST_SKIP() << "wrote " << now.size() << " cases to " << kGolden;
  }
  const auto golden = read_golden();
  ASSERT_GE(golden.size(), 200u) << kGolden;
  EXPECT_EQ(golden.size(), now.size());
  int differ = 0;
  for (const auto& [name, expected] : golden) {
    auto it = now.find(name);
    if (it == now.end()) {
      ADD_FAILURE() << "case gone: " << name;
      continue;
    }
    if (it->second != expected) {
      ++differ;
      ADD_FAILURE() << name << "\n--- expected\n" << expected.substr(0, 2000) << "--- got\n" << it->second.substr(0, 2000);
    }
  }
  EXPECT_EQ(differ, 0);
}

}  // namespace
}  // namespace hm
