#include "core/dead_letter_file.h"
#include "core/text.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

namespace hm {
namespace {

TEST(DeadLetterTest, JsonLineKeepsTheOriginalDelivery) {
  DeadLetter l;
  l.payload = "{\"object\":\"instagram\",\"text\":\"Şöyle 🙏\"}";
  l.size = l.payload.size();
  l.reason = "bad payload: delivery.entry: is missing";
  l.time_ms = 1768396567320;
  l.origin = "file:x.jsonl:3";
  const auto j = nlohmann::json::parse(dead_letter_json(l));
  EXPECT_EQ(j["delivery"], l.payload);
  EXPECT_EQ(j["reason"], l.reason);
  EXPECT_EQ(j["time"], "2026-01-14T13:16:07.320Z");
  EXPECT_EQ(j["origin"], "file:x.jsonl:3");
}

TEST(DeadLetterTest, InvalidUtf8IsKeptAsBase64) {
  DeadLetter l;
  l.payload = std::string("ab\xff\xfe", 4);
  const auto j = nlohmann::json::parse(dead_letter_json(l));
  EXPECT_FALSE(j.contains("delivery"));
  EXPECT_EQ(j["delivery_base64"], "YWL//g==");
}

TEST(DeadLetterTest, Utf8Validation) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("Türkçe عربي 🙏"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf0\x9f\x99"));      // truncated
  EXPECT_EQ(base64_encode("Man"), "TWFu");
  EXPECT_EQ(base64_encode("Ma"), "TWE=");
  EXPECT_EQ(base64_encode("M"), "TQ==");
}

TEST(DeadLetterTest, ReasonsQuotingBadInputStayPrintable) {
  EXPECT_EQ(printable_utf8("ok é 🙏"), "ok é 🙏");
  EXPECT_EQ(printable_utf8(std::string("last read: 'caf\xc3(\x01'", 19)), "last read: 'caf?(?'");
  DeadLetter l;
  l.reason = std::string("bad \xff byte");
  EXPECT_EQ(nlohmann::json::parse(dead_letter_json(l))["reason"], "bad ? byte");
}

TEST(DeadLetterTest, FileSinkAppendsLines) {
  char path[] = "/tmp/hm-dlq-XXXXXX";
  close(mkstemp(path));
  {
    FileDeadLetterSink sink(path);
    DeadLetter l;
    l.payload = "one";
    ASSERT_TRUE(sink.put(l).ok());
    l.payload = "two";
    ASSERT_TRUE(sink.put(l).ok());
  }
  std::ifstream in(path);
  std::string a, b;
  std::getline(in, a);
  std::getline(in, b);
  EXPECT_EQ(nlohmann::json::parse(a)["delivery"], "one");
  EXPECT_EQ(nlohmann::json::parse(b)["delivery"], "two");
  std::remove(path);
}

TEST(DeadLetterTest, UnwritablePathFailsNamingTheVariable) {
  FileDeadLetterSink sink("/nonexistent-dir/dlq.jsonl");
  const Status st = sink.put(DeadLetter{});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message.find("DEAD_LETTER_PATH"), std::string::npos);
}

TEST(DeadLetterTest, StreamLettersCarryTheirIdsInTheSameShape) {
  DeadLetter l;
  l.payload = "{}";
  l.id = "2-0";
  l.entry_id = "1-0";
  const auto j = nlohmann::json::parse(dead_letter_json(l));
  EXPECT_EQ(j["id"], "2-0");
  EXPECT_EQ(j["entry_id"], "1-0");
  EXPECT_EQ(j["delivery"], "{}");
  EXPECT_FALSE(nlohmann::json::parse(dead_letter_json(DeadLetter{})).contains("id"));
}

}  // namespace
}  // namespace hm
