#pragma once
// Text helpers for bytes that come from outside: UTF-8 validity, a printable
// form for messages that quote input, and base64 for bytes that are not text.

#include <string>

namespace hm {

bool is_valid_utf8(const std::string& s);
// s with every invalid UTF-8 sequence and control character (but tab) replaced
// by '?', for messages that quote input (a reason must always be printable).
std::string printable_utf8(const std::string& s);
std::string base64_encode(const std::string& bytes);

}  // namespace hm
