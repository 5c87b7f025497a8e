#pragma once
// Text helpers for bytes that come from outside: UTF-8 validity, a printable
// form for messages that quote input, and base64 for bytes that are not text.

#include <string>
#include <string_view>

namespace hm {

bool is_valid_utf8(const std::string& s);
// s with every invalid UTF-8 sequence and control character (but tab) replaced
// by '?', for messages that quote input (a reason must always be printable).
std::string printable_utf8(const std::string& s);

// The longest prefix of s of at most max_bytes that does not end inside a
// UTF-8 sequence (a column limit never cuts a character in two).
std::string utf8_truncate(std::string_view s, std::size_t max_bytes);
std::string base64_encode(const std::string& bytes);

}  // namespace hm
