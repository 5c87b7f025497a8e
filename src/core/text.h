#pragma once
// Text helpers for bytes that come from outside: UTF-8 validity, a printable
// form for messages that quote input, a cut that respects characters, and
// base64 and hex for bytes that are not text.

#include <cstddef>
#include <string>
#include <string_view>

namespace hm {

bool is_valid_utf8(std::string_view s);
// s with every invalid UTF-8 sequence and control character (but tab) replaced
// by '?', for messages that quote input (a reason must always be printable).
std::string printable_utf8(const std::string& s);
// The longest prefix of s that is at most max_bytes long and does not end
// inside a character: a multi-byte UTF-8 sequence is kept whole or dropped
// whole, never split (a column in strict mode refuses a split one, error 1366).
// Invalid input is cut by the same rule, each byte that does not begin a
// well-formed sequence counting as one character: the result is always a
// prefix of s, at most max_bytes long, and valid UTF-8 whenever s is.
std::string utf8_truncate(std::string_view s, std::size_t max_bytes);
std::string base64_encode(const std::string& bytes);
// Lower-case hex of n bytes ("00ff...").
std::string hex_encode(const unsigned char* bytes, std::size_t n);
// The value of one hex digit (either case), or -1.
int hex_digit_value(char c);

}  // namespace hm
