#pragma once
// The webhook payload parser's JSON layer (src/ingest only): simdjson's DOM,
// with what the nlohmann parser it replaced did, kept exactly:
// - a document nlohmann takes is taken (a UTF-8 BOM; integers beyond 64 bits,
//   which become floating point numbers), one it refuses is refused;
// - nesting: a value more than kMaxJsonDepth levels below the root is refused;
// - a duplicated key: the last one counts (nlohmann's map kept the last);
// - dump_like_nlohmann writes what nlohmann's dump() wrote (sorted keys,
//   its escapes and number format).
// Not thread-safe per view: a JsonDocument is valid until the same thread
// parses again.

#include <cstddef>
#include <optional>
#include <simdjson.h>
#include <string>
#include <string_view>

namespace hm::ingest {

using JsonValue = simdjson::dom::element;

inline constexpr int kMaxJsonDepth = 32;

struct JsonDocument {
  enum class Status { kOk, kInvalid, kTooDeep };
  Status status = Status::kInvalid;
  JsonValue root;
  std::string error;  // kInvalid: a printable reason that never quotes the input
};

// Parses `text` with a per-thread parser (buffers reused: no allocation per
// value); the root stays valid until this thread's next parse_json.
JsonDocument parse_json(std::string_view text);

// The object or array v is (check its type first): a copy, never a reference
// into simdjson's temporary result, so it can be iterated with a range-for.
inline simdjson::dom::object object_of(const JsonValue& v) { return v.get_object().value_unsafe(); }
inline simdjson::dom::array array_of(const JsonValue& v) { return v.get_array().value_unsafe(); }

// "an object", "a string", "a number"... as the error texts name them.
const char* type_name(const JsonValue& v);

// The last member `key` of object `obj` (none when obj is not an object).
std::optional<JsonValue> find_last(const JsonValue& obj, std::string_view key);

// Appends v serialized as nlohmann::json::dump() did for the same document.
void dump_like_nlohmann(const JsonValue& v, std::string& out);

}  // namespace hm::ingest
