#include "core/text.h"

#include <gtest/gtest.h>

namespace hm {
namespace {

// "ş" is 2 bytes, "€" 3, "😀" 4: a cut at every byte inside each keeps the
// whole character or drops it, never a part (a partial sequence is what
// strict MariaDB refuses with 1366).
TEST(Utf8TruncateTest, CutsOnCharacterBoundaries) {
  for (const std::string ch : {"\xC5\x9F", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"}) {
    const std::string s = "ab" + ch + "cd";
    for (std::size_t max = 2; max < 2 + ch.size(); ++max) {
      EXPECT_EQ(utf8_truncate(s, max), "ab") << ch.size() << "-byte character, max " << max;
    }
    EXPECT_EQ(utf8_truncate(s, 2 + ch.size()), "ab" + ch);
    EXPECT_EQ(utf8_truncate(s, 3 + ch.size()), "ab" + ch + "c");
  }
}

TEST(Utf8TruncateTest, TheResultIsValidAndNoLongerThanTheLimit) {
  const std::string text = "Çalışma saatleri? 🙏☕ مرحبا 👨‍👩‍👧 ok";
  ASSERT_TRUE(is_valid_utf8(text));
  for (std::size_t max = 0; max <= text.size() + 2; ++max) {
    const std::string cut = utf8_truncate(text, max);
    EXPECT_LE(cut.size(), max);
    EXPECT_TRUE(is_valid_utf8(cut)) << max;
    EXPECT_EQ(text.compare(0, cut.size(), cut), 0) << "not a prefix at " << max;
    // The longest such prefix: one more character would not fit.
    if (cut.size() < text.size()) EXPECT_GT(cut.size() + 4, max) << max;
  }
  EXPECT_EQ(utf8_truncate(text, text.size()), text);
  EXPECT_EQ(utf8_truncate(text, 1000), text);
  EXPECT_EQ(utf8_truncate("", 5), "");
  EXPECT_EQ(utf8_truncate("😀", 0), "");
}

// Invalid input: each byte that begins no well-formed sequence counts as one
// character; a well-formed sequence is still never split.
TEST(Utf8TruncateTest, InvalidInputIsCutByteByByteButNeverSplitsAValidCharacter) {
  EXPECT_EQ(utf8_truncate("a\xFF\xFE" "b", 3), "a\xFF\xFE");
  EXPECT_EQ(utf8_truncate("\x80\x80\x80", 2), "\x80\x80");             // stray continuation bytes
  EXPECT_EQ(utf8_truncate("ab\xF0\x9F\x98", 4), "ab\xF0\x9F");         // a truncated sequence: bytes
  EXPECT_EQ(utf8_truncate("\xC0\xAF" "\xC5\x9F", 3), "\xC0\xAF");      // overlong pair, then ş whole or not at all
  EXPECT_EQ(utf8_truncate(std::string("a\0b", 3), 2), std::string("a\0", 2));
}

TEST(HexTest, EncodesLowerCaseAndDecodesEitherCase) {
  const unsigned char bytes[] = {0x00, 0x0f, 0xa5, 0xff};
  EXPECT_EQ(hex_encode(bytes, sizeof bytes), "000fa5ff");
  EXPECT_EQ(hex_encode(bytes, 0), "");
  EXPECT_EQ(hex_digit_value('0'), 0);
  EXPECT_EQ(hex_digit_value('9'), 9);
  EXPECT_EQ(hex_digit_value('a'), 10);
  EXPECT_EQ(hex_digit_value('F'), 15);
  EXPECT_EQ(hex_digit_value('g'), -1);
  EXPECT_EQ(hex_digit_value('/'), -1);
  EXPECT_EQ(hex_digit_value(':'), -1);
  EXPECT_EQ(hex_digit_value('\0'), -1);
}

}  // namespace
}  // namespace hm
