#include "ingest/json_view.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

namespace hm::ingest {
namespace {

using simdjson::dom::element_type;

// simdjson counts a scalar as a level of its own: its max_depth 33 refuses
// exactly what nlohmann's depth walk refused (a value more than 32 levels
// below the root; 33 nested empty arrays pass), and bounds its stacks.
constexpr std::size_t kParserMaxDepth = kMaxJsonDepth + 1;
constexpr std::size_t kInitialCapacity = std::size_t{64} * 1024;
// A parser grown for a bigger delivery (its buffers are ~10 to 25 times the
// input) is shrunk back by the next one under this size, so a thread keeps
// at most ~25 * kKeepCapacity after a rare big delivery.
constexpr std::size_t kKeepCapacity = std::size_t{256} * 1024;

struct ThreadParser {
  simdjson::dom::parser parser;
  std::unique_ptr<char[]> buffer;  // the input, copied, padded as simdjson needs
  std::size_t buffer_size = 0;
  simdjson::error_code setup = parser.allocate(kInitialCapacity, kParserMaxDepth);
};

ThreadParser& thread_parser() {
  thread_local ThreadParser p;
  return p;
}

// nlohmann's escapes, as dump(-1, ' ', false) wrote them.
void escape_into(std::string_view s, std::string& out) {
  out += '"';
  for (const char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[(static_cast<unsigned char>(ch) >> 4) & 0xf];
          out += kHex[static_cast<unsigned char>(ch) & 0xf];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

// Re-writes a document nlohmann accepts as one simdjson accepts with the same
// meaning: integers beyond 64 bits, which nlohmann reads as floating point
// numbers (simdjson refuses them), get a ".0". Reached only when simdjson
// refused a number or the depth, so never on a real delivery.
class Normalizer final : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit Normalizer(std::string& out) : out_(out) {}
  std::size_t error_byte = 0;

  bool null() override { return scalar("null"); }
  bool boolean(bool v) override { return scalar(v ? "true" : "false"); }
  bool number_integer(number_integer_t v) override { return scalar(std::to_string(v)); }
  bool number_unsigned(number_unsigned_t v) override { return scalar(std::to_string(v)); }
  bool number_float(number_float_t, const string_t& token) override {
    const bool integral = token.find_first_of(".eE") == std::string::npos;
    return scalar(integral ? token + ".0" : token);
  }
  bool string(string_t& v) override {
    comma();
    escape_into(v, out_);
    return true;
  }
  bool binary(binary_t&) override { return false; }
  bool start_object(std::size_t) override { return open('{'); }
  bool key(string_t& k) override {
    comma();
    escape_into(k, out_);
    out_ += ':';
    fresh_ = true;
    return true;
  }
  bool end_object() override { return close('}'); }
  bool start_array(std::size_t) override { return open('['); }
  bool end_array() override { return close(']'); }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) override {
    error_byte = position;
    return false;
  }

 private:
  void comma() {
    if (!fresh_) out_ += ',';
    fresh_ = false;
  }
  bool scalar(const std::string& text) {
    comma();
    out_ += text;
    return true;
  }
  bool open(char c) {
    comma();
    out_ += c;
    fresh_ = true;
    return true;
  }
  bool close(char c) {
    out_ += c;
    fresh_ = false;
    return true;
  }
  std::string& out_;
  bool fresh_ = true;  // at the start of a container or after a key: no comma
};

JsonDocument invalid(const std::string& reason) {
  JsonDocument d;
  d.error = "invalid JSON: " + reason;
  return d;
}

// Out of memory is no property of the delivery: worded as parse_delivery
// words a std::bad_alloc, never "invalid JSON".
JsonDocument failed(simdjson::error_code code) {
  JsonDocument d;
  d.error = std::string("cannot parse delivery: ") + simdjson::error_message(code);
  return d;
}

JsonDocument simd_parse(ThreadParser& p, std::string_view text, simdjson::error_code* code) {
  if (p.setup) p.setup = p.parser.allocate(kInitialCapacity, kParserMaxDepth);  // out of memory last time: again
  *code = p.setup;
  if (p.setup) return failed(p.setup);
  if (text.size() > p.parser.max_capacity()) {
    *code = simdjson::CAPACITY;
    JsonDocument d;
    d.error = "delivery: is " + std::to_string(text.size()) + " bytes, more than the JSON parser takes (" +
              std::to_string(p.parser.max_capacity()) + ")";
    return d;
  }
  if (p.parser.capacity() > kKeepCapacity && text.size() <= kKeepCapacity) {
    p.buffer.reset();
    p.buffer_size = 0;
    p.parser = simdjson::dom::parser{};  // allocate() alone would keep the document's tape
    p.setup = p.parser.allocate(kInitialCapacity, kParserMaxDepth);
    *code = p.setup;
    if (p.setup) return failed(p.setup);
  }
  const std::size_t need = text.size() + simdjson::SIMDJSON_PADDING;
  if (need > p.buffer_size) {
    p.buffer = std::make_unique_for_overwrite<char[]>(need);
    p.buffer_size = need;
  }
  if (!text.empty()) std::memcpy(p.buffer.get(), text.data(), text.size());
  std::memset(p.buffer.get() + text.size(), 0, simdjson::SIMDJSON_PADDING);
  JsonDocument d;
  const auto result = p.parser.parse(p.buffer.get(), text.size(), /*realloc_if_needed=*/false);
  *code = result.error();
  if (result.error() == simdjson::SUCCESS) {
    d.status = JsonDocument::Status::kOk;
    d.root = result.value_unsafe();
  } else if (result.error() == simdjson::DEPTH_ERROR) {
    d.status = JsonDocument::Status::kTooDeep;
  } else {
    d = result.error() == simdjson::MEMALLOC ? failed(result.error()) : invalid(simdjson::error_message(result.error()));
  }
  return d;
}

}  // namespace

JsonDocument parse_json(std::string_view text) {
  ThreadParser& p = thread_parser();
  // nlohmann's lexer took a NUL byte for the end of the input: a valid
  // document followed by NUL and anything was valid. (A NUL inside a string
  // or before the document ends is invalid either way.)
  text = text.substr(0, text.find('\0'));
  // nlohmann skipped one UTF-8 byte order mark at the very start.
  const std::string_view body = text.substr(0, 3) == "\xEF\xBB\xBF" ? text.substr(3) : text;
  simdjson::error_code code = simdjson::SUCCESS;
  JsonDocument d = simd_parse(p, body, &code);
  // simdjson stops at the first problem it meets, nlohmann read the whole
  // document first: too deep but invalid further on was invalid. And simdjson
  // refuses integers beyond 64 bits. Either way, nlohmann's own parser (SAX:
  // no tree, one bit per level) decides, and what it accepts is parsed again.
  if (code != simdjson::DEPTH_ERROR && code != simdjson::NUMBER_ERROR) return d;
  std::string normal;
  Normalizer sax(normal);
  if (!nlohmann::json::sax_parse(text.begin(), text.end(), &sax)) return invalid("syntax error at byte " + std::to_string(sax.error_byte));
  return simd_parse(p, normal, &code);
}

const char* type_name(const JsonValue& v) {
  switch (v.type()) {
    case element_type::NULL_VALUE: return "null";
    case element_type::OBJECT: return "an object";
    case element_type::ARRAY: return "an array";
    case element_type::STRING: return "a string";
    case element_type::BOOL: return "a boolean";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE: return "a number";
  }
  return "an unsupported value";
}

std::optional<JsonValue> find_last(const JsonValue& obj, std::string_view key) {
  if (obj.type() != element_type::OBJECT) return std::nullopt;
  std::optional<JsonValue> found;
  for (const auto field : object_of(obj)) {
    if (field.key == key) found = field.value;
  }
  return found;
}

void dump_like_nlohmann(const JsonValue& v, std::string& out) {
  switch (v.type()) {
    case element_type::OBJECT: {
      // nlohmann kept objects in a std::map: keys in byte order, the last duplicate.
      std::vector<std::pair<std::string_view, JsonValue>> fields;
      for (const auto field : object_of(v)) fields.emplace_back(field.key, field.value);
      std::stable_sort(fields.begin(), fields.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      out += '{';
      bool first = true;
      for (std::size_t i = 0; i < fields.size(); ++i) {
        if (i + 1 < fields.size() && fields[i + 1].first == fields[i].first) continue;  // a later duplicate wins
        if (!first) out += ',';
        first = false;
        escape_into(fields[i].first, out);
        out += ':';
        dump_like_nlohmann(fields[i].second, out);
      }
      out += '}';
      return;
    }
    case element_type::ARRAY: {
      out += '[';
      bool first = true;
      for (const auto item : array_of(v)) {
        if (!first) out += ',';
        first = false;
        dump_like_nlohmann(item, out);
      }
      out += ']';
      return;
    }
    case element_type::STRING: escape_into(v.get_string().value_unsafe(), out); return;
    case element_type::INT64: out += std::to_string(v.get_int64().value_unsafe()); return;
    case element_type::UINT64: out += std::to_string(v.get_uint64().value_unsafe()); return;
    case element_type::DOUBLE: out += nlohmann::json(v.get_double().value_unsafe()).dump(); return;
    case element_type::BOOL: out += v.get_bool().value_unsafe() ? "true" : "false"; return;
    case element_type::NULL_VALUE: out += "null"; return;
  }
}

}  // namespace hm::ingest
