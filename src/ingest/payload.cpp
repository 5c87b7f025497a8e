#include "ingest/payload.h"

#include <nlohmann/json.hpp>

#include "core/text.h"

namespace hm {
namespace {

using json = nlohmann::json;

// Thrown inside this file only; parse_delivery turns it into ParseResult.
struct Invalid {
  std::string message;
};

// Deeper nesting than any real delivery has is refused before it is walked.
constexpr int kMaxDepth = 32;
// Earliest and latest accepted event time: 2001-01-01 and 2100-01-01 (ms).
constexpr std::int64_t kMinTimestampMs = 978307200000LL;
constexpr std::int64_t kMaxTimestampMs = 4102444800000LL;

const char* type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return "a number";
    default: return "an unsupported value";
  }
}

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw Invalid{path + ": " + problem};
}

const json& member(const json& obj, const char* key, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end()) fail(path + "." + key, "is missing");
  return *it;
}

std::string string_field(const json& obj, const char* key, const std::string& path, std::size_t max_len) {
  const json& v = member(obj, key, path);
  if (!v.is_string()) fail(path + "." + key, std::string("is ") + type_name(v) + ", expected a string");
  const auto& s = v.get_ref<const std::string&>();
  if (s.empty()) fail(path + "." + key, "is empty");
  if (s.size() > max_len)
    fail(path + "." + key, "is " + std::to_string(s.size()) + " bytes, longer than the limit of " + std::to_string(max_len));
  return s;
}

std::optional<std::string> optional_string(const json& obj, const char* key, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) fail(path + "." + key, std::string("is ") + type_name(*it) + ", expected a string");
  return it->get<std::string>();
}

// Instagram mids are base64 (url-safe or standard): printable ASCII, no spaces.
std::string mid_field(const json& obj, const std::string& path) {
  std::string mid = string_field(obj, "mid", path, kMaxMidLength);
  for (unsigned char c : mid) {
    if (c <= 0x20 || c >= 0x7f) fail(path + ".mid", "holds a character that is not printable ASCII");
  }
  return mid;
}

// A decimal Instagram id at obj.key (a string): anything else would become a
// Graph API path later.
std::string decimal_id(const json& obj, const char* key, const std::string& path) {
  std::string id = string_field(obj, key, path, kMaxIgIdLength);
  if (const std::string problem = instagram_id_problem(id); !problem.empty()) fail(path + "." + key, problem);
  return id;
}

// Sender and recipient: {"id": "<decimal digits>"}.
std::string id_field(const json& obj, const char* key, const std::string& path) {
  const json& holder = member(obj, key, path);
  if (!holder.is_object()) fail(path + "." + key, std::string("is ") + type_name(holder) + ", expected an object");
  return decimal_id(holder, "id", path + "." + key);
}

std::int64_t timestamp_field(const json& obj, const char* key, const std::string& path) {
  const json& v = member(obj, key, path);
  if (!v.is_number_integer()) fail(path + "." + key, std::string("is ") + type_name(v) + ", expected milliseconds since 1970");
  const std::int64_t ts = v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)
                              ? kMaxTimestampMs + 1
                              : v.get<std::int64_t>();
  if (ts < kMinTimestampMs || ts >= kMaxTimestampMs) fail(path + "." + key, "is out of range (expected milliseconds between 2001 and 2100)");
  return ts;
}

// entry.time: Meta sends milliseconds on messaging entries but seconds on
// changes[] entries (comments, mentions). A value below kMinTimestampMs
// (2001 in milliseconds) is taken for seconds; either is then held to the
// same 2001..2100 range.
std::int64_t entry_time_field(const json& entry, const std::string& path) {
  const json& v = member(entry, "time", path);
  if (!v.is_number_integer()) fail(path + ".time", std::string("is ") + type_name(v) + ", expected milliseconds (or seconds) since 1970");
  const bool huge = v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX);
  std::int64_t t = huge ? kMaxTimestampMs : v.get<std::int64_t>();
  if (t > 0 && t < kMinTimestampMs) t *= 1000;  // seconds: t < 978307200000, so no overflow
  if (t < kMinTimestampMs || t >= kMaxTimestampMs)
    fail(path + ".time", "is out of range (expected seconds or milliseconds between 2001 and 2100)");
  return t;
}

int depth_of(const json& j, int depth) {
  if (depth > kMaxDepth) return depth;
  int deepest = depth;
  if (j.is_object() || j.is_array()) {
    for (const auto& child : j) {
      deepest = std::max(deepest, depth_of(child, depth + 1));
      if (deepest > kMaxDepth) break;
    }
  }
  return deepest;
}

// One messaging event as far as every kind shares it.
struct EventContext {
  const json& ev;
  const std::string& account_id;
  std::int64_t ts;
  const std::string& path;
};

// ev.<key>, which must be an object; its path in *sub_path.
const json& object_member(const EventContext& c, const char* key, std::string* sub_path) {
  *sub_path = c.path + "." + key;
  const json& v = *c.ev.find(key);
  if (!v.is_object()) fail(*sub_path, std::string("is ") + type_name(v) + ", expected an object");
  return v;
}

std::optional<bool> optional_bool(const json& obj, const char* key, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) fail(path + "." + key, std::string("is ") + type_name(*it) + ", expected a boolean");
  return it->get<bool>();
}

void parse_attachments(const json& m, const std::string& mpath, NewMessage& msg) {
  auto a = m.find("attachments");
  if (a == m.end() || a->is_null()) return;
  if (!a->is_array()) fail(mpath + ".attachments", std::string("is ") + type_name(*a) + ", expected an array");
  for (std::size_t i = 0; i < a->size(); ++i) {
    if (!(*a)[i].is_object())
      fail(mpath + ".attachments[" + std::to_string(i) + "]", std::string("is ") + type_name((*a)[i]) + ", expected an object");
  }
  msg.attachments_json = a->dump();
}

// message.reply_to.story: {"id": ..., "url": ...}, a reply to a story. The
// id is printable ASCII like a mid; the URL is kept as received.
void parse_reply_to_story(const json& st, const std::string& path, NewMessage& msg) {
  if (!st.is_object()) fail(path, std::string("is ") + type_name(st) + ", expected an object");
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
  const json& m = object_member(c, "message", &mpath);
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
  if (auto r = m.find("reply_to"); r != m.end() && r->is_object()) {
    if (auto rm = r->find("mid"); rm != r->end() && !rm->is_null()) msg.reply_to_mid = mid_field(*r, mpath + ".reply_to");
    if (auto st = r->find("story"); st != r->end() && !st->is_null()) parse_reply_to_story(*st, mpath + ".reply_to.story", msg);
  }
  out.events.push_back(std::move(msg));
}

void parse_postback(const EventContext& c, Delivery& out) {
  std::string ppath;
  const json& p = object_member(c, "postback", &ppath);
  // Meta sends postback.mid from webhook version v11.0 on; without it the
  // postback cannot be stored idempotently.
  if (!p.contains("mid"))
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
  const json& e = object_member(c, "message_edit", &epath);
  MessageEdit edit;
  edit.mid = mid_field(e, epath);
  edit.account_id = c.account_id;
  edit.sender_id = id_field(c.ev, "sender", c.path);
  edit.text = optional_string(e, "text", epath).value_or("");
  const json& n = member(e, "num_edit", epath);
  if (!n.is_number_integer()) fail(epath + ".num_edit", std::string("is ") + type_name(n) + ", expected a whole number");
  edit.num_edit = n.get<std::int64_t>();
  if (edit.num_edit < 0 || edit.num_edit > 1000000) fail(epath + ".num_edit", "is out of range");
  edit.timestamp_ms = c.ts;
  out.events.push_back(std::move(edit));
}

void parse_reaction(const EventContext& c, Delivery& out) {
  std::string rpath;
  const json& r = object_member(c, "reaction", &rpath);
  Reaction re;
  re.mid = mid_field(r, rpath);
  re.account_id = c.account_id;
  re.sender_id = id_field(c.ev, "sender", c.path);
  re.action = optional_string(r, "action", rpath).value_or("react");
  if (re.action != "react" && re.action != "unreact") fail(rpath + ".action", "is '" + utf8_truncate(re.action, 32) + "', expected react or unreact");
  re.reaction = optional_string(r, "reaction", rpath).value_or("");
  re.emoji = optional_string(r, "emoji", rpath).value_or("");
  if (re.reaction.size() > 64) fail(rpath + ".reaction", "is longer than 64 bytes");
  if (re.emoji.size() > 64) fail(rpath + ".emoji", "is longer than 64 bytes");
  re.timestamp_ms = c.ts;
  out.events.push_back(std::move(re));
}

void parse_read(const EventContext& c, Delivery& out) {
  std::string rpath;
  const json& r = object_member(c, "read", &rpath);
  ReadReceipt rr;
  rr.mid = mid_field(r, rpath);
  rr.account_id = c.account_id;
  rr.reader_id = id_field(c.ev, "sender", c.path);
  rr.timestamp_ms = c.ts;
  out.events.push_back(std::move(rr));
}

// referral, optin, message_reactions..., or something new: not stored.
void skip_event(const EventContext& c, Delivery& out) {
  std::string kind = "unknown";
  for (const auto& [key, value] : c.ev.items()) {
    if (key != "sender" && key != "recipient" && key != "timestamp") {
      kind = utf8_truncate(key, 40);
      break;
    }
  }
  out.events.push_back(SkippedEvent{kind});
}

void parse_messaging(const json& ev, const std::string& account_id, std::int64_t entry_time,
                     const std::string& path, Delivery& out) {
  if (!ev.is_object()) fail(path, std::string("is ") + type_name(ev) + ", expected an object");
  // Timestamp: the event's own, else the entry's.
  std::int64_t ts = entry_time;
  if (ev.contains("timestamp")) ts = timestamp_field(ev, "timestamp", path);
  if (ts == 0) fail(path + ".timestamp", "is missing (and the entry has no time)");
  const EventContext c{ev, account_id, ts, path};
  // The first kind present decides, in this order.
  static constexpr std::pair<const char*, void (*)(const EventContext&, Delivery&)> kKinds[] = {
      {"message", parse_message}, {"postback", parse_postback}, {"message_edit", parse_edit},
      {"reaction", parse_reaction}, {"read", parse_read}};
  for (const auto& [key, parse] : kKinds) {
    if (ev.contains(key)) {
      parse(c, out);
      return;
    }
  }
  skip_event(c, out);
}

// entry[].changes[] (comments, mentions...) and entry[].standby[] (events of
// a thread another app owns, under the handover protocol): not stored, each
// one a SkippedEvent, never a dead letter and never a reply. Returns how many.
std::size_t skip_changes_and_standby(const json& entry, Delivery& out) {
  std::size_t n = 0;
  if (auto c = entry.find("changes"); c != entry.end() && c->is_array()) {
    for (const auto& change : *c) {
      std::string field = "changes";
      if (change.is_object()) {
        if (auto f = change.find("field"); f != change.end() && f->is_string())
          field = "changes:" + utf8_truncate(f->get_ref<const std::string&>(), 40);
      }
      out.events.push_back(SkippedEvent{field});
      ++n;
    }
  }
  if (auto sb = entry.find("standby"); sb != entry.end() && sb->is_array()) {
    for (std::size_t j = 0; j < sb->size(); ++j) out.events.push_back(SkippedEvent{"standby"});
    n += sb->size();
  }
  return n;
}

void parse_entry(const json& entry, const std::string& epath, Delivery& out) {
  if (!entry.is_object()) fail(epath, std::string("is ") + type_name(entry) + ", expected an object");
  const json& id = member(entry, "id", epath);
  if (!id.is_string()) fail(epath + ".id", std::string("is ") + type_name(id) + ", expected a string");
  const std::string account_id = decimal_id(entry, "id", epath);
  std::int64_t entry_time = 0;
  if (entry.contains("time")) entry_time = entry_time_field(entry, epath);
  bool any = false;
  if (auto m = entry.find("messaging"); m != entry.end()) {
    if (!m->is_array()) fail(epath + ".messaging", std::string("is ") + type_name(*m) + ", expected an array");
    for (std::size_t j = 0; j < m->size(); ++j) {
      parse_messaging((*m)[j], account_id, entry_time, epath + ".messaging[" + std::to_string(j) + "]", out);
      any = true;
    }
  }
  if (skip_changes_and_standby(entry, out) > 0) any = true;
  if (!any) fail(epath, "has neither messaging, changes nor standby");
}

Delivery parse_or_throw(std::string_view text) {
  json root = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/true);
  if (depth_of(root, 0) > kMaxDepth) fail("delivery", "is nested deeper than " + std::to_string(kMaxDepth) + " levels");
  if (!root.is_object()) fail("delivery", std::string("is ") + type_name(root) + ", expected an object");
  const json& object = member(root, "object", "delivery");
  if (!object.is_string()) fail("delivery.object", std::string("is ") + type_name(object) + ", expected \"instagram\"");
  if (object.get<std::string>() != "instagram")
    fail("delivery.object", "is '" + utf8_truncate(object.get_ref<const std::string&>(), 40) + "', expected \"instagram\"");
  const json& entries = member(root, "entry", "delivery");
  if (!entries.is_array()) fail("delivery.entry", std::string("is ") + type_name(entries) + ", expected an array");
  if (entries.empty()) fail("delivery.entry", "is empty");
  Delivery out;
  for (std::size_t i = 0; i < entries.size(); ++i) parse_entry(entries[i], "entry[" + std::to_string(i) + "]", out);
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
  } catch (const nlohmann::json::exception& e) {
    // nlohmann's messages name the byte position but never echo the input.
    r.error = std::string("invalid JSON: ") + printable_utf8(e.what());
  } catch (const std::exception& e) {
    r.error = std::string("cannot parse delivery: ") + e.what();
  }
  return r;
}

}  // namespace hm
