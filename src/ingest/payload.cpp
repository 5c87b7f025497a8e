#include "ingest/payload.h"

#include "core/text.h"
#include "ingest/json_view.h"

namespace hm {
namespace {

using ingest::array_of;
using ingest::find_last;
using ingest::object_of;
using ingest::JsonValue;
using ingest::type_name;
using Type = simdjson::dom::element_type;

// Thrown inside this file only; parse_delivery turns it into ParseResult.
struct Invalid {
  std::string message;
};

// Deeper nesting than any real delivery has is refused before it is walked.
constexpr int kMaxDepth = ingest::kMaxJsonDepth;
// Earliest and latest accepted event time: 2001-01-01 and 2100-01-01 (ms).
constexpr std::int64_t kMinTimestampMs = 978307200000LL;
constexpr std::int64_t kMaxTimestampMs = 4102444800000LL;

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw Invalid{path + ": " + problem};
}

bool is(const JsonValue& v, Type t) { return v.type() == t; }
bool is_null(const JsonValue& v) { return is(v, Type::NULL_VALUE); }
bool is_whole(const JsonValue& v) { return is(v, Type::INT64) || is(v, Type::UINT64); }
std::string_view str(const JsonValue& v) { return v.get_string().value_unsafe(); }
bool contains(const JsonValue& obj, const char* key) { return find_last(obj, key).has_value(); }

// A whole number as nlohmann's get<std::int64_t>() gave it (beyond INT64_MAX: wrapped).
std::int64_t as_int64(const JsonValue& v) {
  return is(v, Type::UINT64) ? static_cast<std::int64_t>(v.get_uint64().value_unsafe()) : v.get_int64().value_unsafe();
}

JsonValue member(const JsonValue& obj, const char* key, const std::string& path) {
  auto v = find_last(obj, key);
  if (!v) fail(path + "." + key, "is missing");
  return *v;
}

std::string string_field(const JsonValue& obj, const char* key, const std::string& path, std::size_t max_len) {
  const JsonValue v = member(obj, key, path);
  if (!is(v, Type::STRING)) fail(path + "." + key, std::string("is ") + type_name(v) + ", expected a string");
  const std::string_view s = str(v);
  if (s.empty()) fail(path + "." + key, "is empty");
  if (s.size() > max_len)
    fail(path + "." + key, "is " + std::to_string(s.size()) + " bytes, longer than the limit of " + std::to_string(max_len));
  return std::string(s);
}

std::optional<std::string> optional_string(const JsonValue& obj, const char* key, const std::string& path) {
  auto it = find_last(obj, key);
  if (!it || is_null(*it)) return std::nullopt;
  if (!is(*it, Type::STRING)) fail(path + "." + key, std::string("is ") + type_name(*it) + ", expected a string");
  return std::string(str(*it));
}

// Instagram mids are base64 (url-safe or standard): printable ASCII, no spaces.
std::string mid_field(const JsonValue& obj, const std::string& path) {
  std::string mid = string_field(obj, "mid", path, kMaxMidLength);
  for (unsigned char c : mid) {
    if (c <= 0x20 || c >= 0x7f) fail(path + ".mid", "holds a character that is not printable ASCII");
  }
  return mid;
}

// A decimal Instagram id at obj.key (a string): anything else would become a
// Graph API path later.
std::string decimal_id(const JsonValue& obj, const char* key, const std::string& path) {
  std::string id = string_field(obj, key, path, kMaxIgIdLength);
  if (const std::string problem = instagram_id_problem(id); !problem.empty()) fail(path + "." + key, problem);
  return id;
}

// Sender and recipient: {"id": "<decimal digits>"}.
std::string id_field(const JsonValue& obj, const char* key, const std::string& path) {
  const JsonValue holder = member(obj, key, path);
  if (!is(holder, Type::OBJECT)) fail(path + "." + key, std::string("is ") + type_name(holder) + ", expected an object");
  return decimal_id(holder, "id", path + "." + key);
}

std::int64_t timestamp_field(const JsonValue& obj, const char* key, const std::string& path) {
  const JsonValue v = member(obj, key, path);
  if (!is_whole(v)) fail(path + "." + key, std::string("is ") + type_name(v) + ", expected milliseconds since 1970");
  // simdjson: UINT64 only beyond INT64_MAX.
  const std::int64_t ts = is(v, Type::UINT64) ? kMaxTimestampMs + 1 : v.get_int64().value_unsafe();
  if (ts < kMinTimestampMs || ts >= kMaxTimestampMs) fail(path + "." + key, "is out of range (expected milliseconds between 2001 and 2100)");
  return ts;
}

// entry.time: Meta sends milliseconds on messaging entries but seconds on
// changes[] entries (comments, mentions). A value below kMinTimestampMs
// (2001 in milliseconds) is taken for seconds; either is then held to the
// same 2001..2100 range.
std::int64_t entry_time_field(const JsonValue& entry, const std::string& path) {
  const JsonValue v = member(entry, "time", path);
  if (!is_whole(v)) fail(path + ".time", std::string("is ") + type_name(v) + ", expected milliseconds (or seconds) since 1970");
  std::int64_t t = is(v, Type::UINT64) ? kMaxTimestampMs : v.get_int64().value_unsafe();
  if (t > 0 && t < kMinTimestampMs) t *= 1000;  // seconds: t < 978307200000, so no overflow
  if (t < kMinTimestampMs || t >= kMaxTimestampMs)
    fail(path + ".time", "is out of range (expected seconds or milliseconds between 2001 and 2100)");
  return t;
}

// One messaging event as far as every kind shares it.
struct EventContext {
  JsonValue ev;
  const std::string& account_id;
  std::int64_t ts;
  const std::string& path;
};

// ev.<key>, which must be an object; its path in *sub_path.
JsonValue object_member(const EventContext& c, const char* key, std::string* sub_path) {
  *sub_path = c.path + "." + key;
  const JsonValue v = *find_last(c.ev, key);
  if (!is(v, Type::OBJECT)) fail(*sub_path, std::string("is ") + type_name(v) + ", expected an object");
  return v;
}

std::optional<bool> optional_bool(const JsonValue& obj, const char* key, const std::string& path) {
  auto it = find_last(obj, key);
  if (!it || is_null(*it)) return std::nullopt;
  if (!is(*it, Type::BOOL)) fail(path + "." + key, std::string("is ") + type_name(*it) + ", expected a boolean");
  return it->get_bool().value_unsafe();
}

void parse_attachments(const JsonValue& m, const std::string& mpath, NewMessage& msg) {
  auto a = find_last(m, "attachments");
  if (!a || is_null(*a)) return;
  if (!is(*a, Type::ARRAY)) fail(mpath + ".attachments", std::string("is ") + type_name(*a) + ", expected an array");
  std::size_t i = 0;
  for (const JsonValue item : array_of(*a)) {
    if (!is(item, Type::OBJECT))
      fail(mpath + ".attachments[" + std::to_string(i) + "]", std::string("is ") + type_name(item) + ", expected an object");
    ++i;
  }
  std::string dumped;
  ingest::dump_like_nlohmann(*a, dumped);
  msg.attachments_json = std::move(dumped);
}

// message.reply_to.story: {"id": ..., "url": ...}, a reply to a story. The
// id is printable ASCII like a mid; the URL is kept as received.
void parse_reply_to_story(const JsonValue& st, const std::string& path, NewMessage& msg) {
  if (!is(st, Type::OBJECT)) fail(path, std::string("is ") + type_name(st) + ", expected an object");
  std::string id = string_field(st, "id", path, kMaxStoryIdLength);
  for (unsigned char c : id) {
    if (c <= 0x20 || c >= 0x7f) fail(path + ".id", "holds a character that is not printable ASCII");
  }
  msg.reply_to_story_id = std::move(id);
  if (auto url = optional_string(st, "url", path); url && !url->empty()) {
    if (url->size() > kMaxStoryUrlLength)
      fail(path + ".url", "is " + std::to_string(url->size()) + " bytes, longer than the limit of " + std::to_string(kMaxStoryUrlLength));
    msg.reply_to_story_url = std::move(url);
  }
}

// "message": a new message, an echo, or a deletion (is_deleted).
void parse_message(const EventContext& c, Delivery& out) {
  std::string mpath;
  const JsonValue m = object_member(c, "message", &mpath);
  const std::string sender = id_field(c.ev, "sender", c.path);
  const std::string recipient = id_field(c.ev, "recipient", c.path);
  const std::string mid = mid_field(m, mpath);
  if (optional_bool(m, "is_deleted", mpath).value_or(false)) {
    out.events.push_back(MessageDeletion{mid, c.account_id, sender, c.ts});
    return;
  }
  NewMessage msg;
  msg.mid = mid;
  msg.account_id = c.account_id;
  msg.sender_id = sender;
  msg.recipient_id = recipient;
  msg.timestamp_ms = c.ts;
  if (optional_bool(m, "is_echo", mpath).value_or(false)) msg.direction = Direction::kEcho;
  msg.text = optional_string(m, "text", mpath);
  parse_attachments(m, mpath, msg);
  if (auto r = find_last(m, "reply_to"); r && is(*r, Type::OBJECT)) {
    if (auto rm = find_last(*r, "mid"); rm && !is_null(*rm)) msg.reply_to_mid = mid_field(*r, mpath + ".reply_to");
    if (auto st = find_last(*r, "story"); st && !is_null(*st)) parse_reply_to_story(*st, mpath + ".reply_to.story", msg);
  }
  out.events.push_back(std::move(msg));
}

void parse_postback(const EventContext& c, Delivery& out) {
  std::string ppath;
  const JsonValue p = object_member(c, "postback", &ppath);
  // Meta sends postback.mid from webhook version v11.0 on; without it the
  // postback cannot be stored idempotently.
  if (!contains(p, "mid"))
    fail(ppath + ".mid", "is missing (Meta sends it from webhook version v11.0 on: set the app's webhook version to v11.0 or later)");
  NewMessage msg;
  msg.kind = MessageKind::kPostback;
  msg.mid = mid_field(p, ppath);
  msg.account_id = c.account_id;
  msg.sender_id = id_field(c.ev, "sender", c.path);
  msg.recipient_id = id_field(c.ev, "recipient", c.path);
  msg.timestamp_ms = c.ts;
  msg.text = optional_string(p, "title", ppath);
  msg.postback_payload = optional_string(p, "payload", ppath);
  out.events.push_back(std::move(msg));
}

void parse_edit(const EventContext& c, Delivery& out) {
  std::string epath;
  const JsonValue e = object_member(c, "message_edit", &epath);
  MessageEdit edit;
  edit.mid = mid_field(e, epath);
  edit.account_id = c.account_id;
  edit.sender_id = id_field(c.ev, "sender", c.path);
  edit.text = optional_string(e, "text", epath).value_or("");
  const JsonValue n = member(e, "num_edit", epath);
  if (!is_whole(n)) fail(epath + ".num_edit", std::string("is ") + type_name(n) + ", expected a whole number");
  edit.num_edit = as_int64(n);
  if (edit.num_edit < 0 || edit.num_edit > 1000000) fail(epath + ".num_edit", "is out of range");
  edit.timestamp_ms = c.ts;
  out.events.push_back(std::move(edit));
}

void parse_reaction(const EventContext& c, Delivery& out) {
  std::string rpath;
  const JsonValue r = object_member(c, "reaction", &rpath);
  Reaction re;
  re.mid = mid_field(r, rpath);
  re.account_id = c.account_id;
  re.sender_id = id_field(c.ev, "sender", c.path);
  const std::string action = optional_string(r, "action", rpath).value_or("react");
  if (action != "react" && action != "unreact") fail(rpath + ".action", "is '" + utf8_truncate(action, 32) + "', expected react or unreact");
  re.action = action == "unreact" ? ReactionAction::kUnreact : ReactionAction::kReact;
  re.reaction = optional_string(r, "reaction", rpath).value_or("");
  re.emoji = optional_string(r, "emoji", rpath).value_or("");
  if (re.reaction.size() > 64) fail(rpath + ".reaction", "is longer than 64 bytes");
  if (re.emoji.size() > 64) fail(rpath + ".emoji", "is longer than 64 bytes");
  re.timestamp_ms = c.ts;
  out.events.push_back(std::move(re));
}

void parse_read(const EventContext& c, Delivery& out) {
  std::string rpath;
  const JsonValue r = object_member(c, "read", &rpath);
  ReadReceipt rr;
  rr.mid = mid_field(r, rpath);
  rr.account_id = c.account_id;
  rr.reader_id = id_field(c.ev, "sender", c.path);
  rr.timestamp_ms = c.ts;
  out.events.push_back(std::move(rr));
}

// referral, optin, message_reactions..., or something new: not stored. The
// kind is the first other key in byte order (nlohmann's std::map order).
void skip_event(const EventContext& c, Delivery& out) {
  std::optional<std::string_view> first;
  for (const auto field : object_of(c.ev)) {
    const std::string_view key = field.key;
    if (key != "sender" && key != "recipient" && key != "timestamp" && (!first || key < *first)) first = key;
  }
  out.events.push_back(SkippedEvent{first ? utf8_truncate(*first, 40) : std::string("unknown")});
}

void parse_messaging(const JsonValue& ev, const std::string& account_id, std::int64_t entry_time,
                     const std::string& path, Delivery& out) {
  if (!is(ev, Type::OBJECT)) fail(path, std::string("is ") + type_name(ev) + ", expected an object");
  // Timestamp: the event's own, else the entry's.
  std::int64_t ts = entry_time;
  if (contains(ev, "timestamp")) ts = timestamp_field(ev, "timestamp", path);
  if (ts == 0) fail(path + ".timestamp", "is missing (and the entry has no time)");
  const EventContext c{ev, account_id, ts, path};
  // The first kind present decides, in this order.
  static constexpr std::pair<const char*, void (*)(const EventContext&, Delivery&)> kKinds[] = {
      {"message", parse_message}, {"postback", parse_postback}, {"message_edit", parse_edit},
      {"reaction", parse_reaction}, {"read", parse_read}};
  for (const auto& [key, parse] : kKinds) {
    if (contains(ev, key)) {
      parse(c, out);
      return;
    }
  }
  skip_event(c, out);
}

// entry[].changes[] (comments, mentions...) and entry[].standby[] (events of
// a thread another app owns, under the handover protocol): not stored, each
// one a SkippedEvent, never a dead letter and never a reply. Returns how many.
std::size_t skip_changes_and_standby(const JsonValue& entry, Delivery& out) {
  std::size_t n = 0;
  if (auto c = find_last(entry, "changes"); c && is(*c, Type::ARRAY)) {
    for (const JsonValue change : array_of(*c)) {
      std::string field = "changes";
      if (auto f = find_last(change, "field"); f && is(*f, Type::STRING)) field = "changes:" + utf8_truncate(str(*f), 40);
      out.events.push_back(SkippedEvent{field});
      ++n;
    }
  }
  if (auto sb = find_last(entry, "standby"); sb && is(*sb, Type::ARRAY)) {
    for ([[maybe_unused]] const JsonValue item : array_of(*sb)) {
      out.events.push_back(SkippedEvent{"standby"});
      ++n;
    }
  }
  return n;
}

void parse_entry(const JsonValue& entry, const std::string& epath, Delivery& out) {
  if (!is(entry, Type::OBJECT)) fail(epath, std::string("is ") + type_name(entry) + ", expected an object");
  const JsonValue id = member(entry, "id", epath);
  if (!is(id, Type::STRING)) fail(epath + ".id", std::string("is ") + type_name(id) + ", expected a string");
  const std::string account_id = decimal_id(entry, "id", epath);
  std::int64_t entry_time = 0;
  if (contains(entry, "time")) entry_time = entry_time_field(entry, epath);
  bool any = false;
  if (auto m = find_last(entry, "messaging")) {
    if (!is(*m, Type::ARRAY)) fail(epath + ".messaging", std::string("is ") + type_name(*m) + ", expected an array");
    std::size_t j = 0;
    for (const JsonValue ev : array_of(*m)) {
      parse_messaging(ev, account_id, entry_time, epath + ".messaging[" + std::to_string(j++) + "]", out);
      any = true;
    }
  }
  if (skip_changes_and_standby(entry, out) > 0) any = true;
  if (!any) fail(epath, "has neither messaging, changes nor standby");
}

Delivery parse_or_throw(std::string_view text) {
  const ingest::JsonDocument doc = ingest::parse_json(text);
  if (doc.status == ingest::JsonDocument::Status::kTooDeep)
    fail("delivery", "is nested deeper than " + std::to_string(kMaxDepth) + " levels");
  if (doc.status != ingest::JsonDocument::Status::kOk) throw Invalid{doc.error};
  const JsonValue root = doc.root;
  if (!is(root, Type::OBJECT)) fail("delivery", std::string("is ") + type_name(root) + ", expected an object");
  const JsonValue object = member(root, "object", "delivery");
  if (!is(object, Type::STRING)) fail("delivery.object", std::string("is ") + type_name(object) + ", expected \"instagram\"");
  if (str(object) != "instagram")
    fail("delivery.object", "is '" + utf8_truncate(str(object), 40) + "', expected \"instagram\"");
  const JsonValue entries = member(root, "entry", "delivery");
  if (!is(entries, Type::ARRAY)) fail("delivery.entry", std::string("is ") + type_name(entries) + ", expected an array");
  Delivery out;
  std::size_t i = 0;
  for (const JsonValue entry : array_of(entries)) parse_entry(entry, "entry[" + std::to_string(i++) + "]", out);
  if (i == 0) fail("delivery.entry", "is empty");
  return out;
}

}  // namespace

ParseResult parse_delivery(std::string_view text) {
  ParseResult r;
  try {
    r.delivery = parse_or_throw(text);
    r.ok = true;
  } catch (const Invalid& e) {
    r.error = e.message;
  } catch (const std::exception& e) {
    r.error = std::string("cannot parse delivery: ") + e.what();
  }
  return r;
}

}  // namespace hm
