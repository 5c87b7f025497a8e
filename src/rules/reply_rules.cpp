#include "rules/reply_rules.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <re2/re2.h>

#include "core/text.h"
#include "hm/config_error.h"

namespace hm {
namespace {

using json = nlohmann::json;

std::string lower_ascii(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

struct Problem {
  std::string where;
  std::string what;
};

const json& need(const json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end()) throw Problem{where, std::string("needs \"") + key + "\""};
  return *it;
}

std::string need_string(const json& obj, const char* key, const std::string& where) {
  const json& v = need(obj, key, where);
  if (!v.is_string() || v.get<std::string>().empty())
    throw Problem{where + "." + key, "must be a non-empty string"};
  return v.get<std::string>();
}

// obj.reply: a non-empty UTF-8 string Instagram accepts (kMaxReplyTextBytes).
std::string reply_text(const json& obj, const std::string& where, const std::string& rule) {
  std::string text = need_string(obj, "reply", where);
  if (!is_valid_utf8(text)) throw Problem{where + ".reply", "rule '" + rule + "': is not valid UTF-8"};
  if (text.size() > kMaxReplyTextBytes)
    throw Problem{where + ".reply", "rule '" + rule + "': is " + std::to_string(text.size()) +
                                        " bytes, over Instagram's limit of " + std::to_string(kMaxReplyTextBytes) +
                                        " bytes (UTF-8) for a message text"};
  return text;
}

int parse_hhmm(const std::string& s, const std::string& where) {
  if (s.size() != 5 || s[2] != ':' || !std::isdigit(static_cast<unsigned char>(s[0])) ||
      !std::isdigit(static_cast<unsigned char>(s[1])) || !std::isdigit(static_cast<unsigned char>(s[3])) ||
      !std::isdigit(static_cast<unsigned char>(s[4])))
    throw Problem{where, "'" + s + "' is not HH:MM"};
  const int h = (s[0] - '0') * 10 + (s[1] - '0');
  const int m = (s[3] - '0') * 10 + (s[4] - '0');
  if (h > 23 || m > 59) throw Problem{where, "'" + s + "' is not a time of day"};
  return h * 60 + m;
}

// RE2 with the rules' semantics: case-insensitive, UTF-8, bounded memory,
// errors reported by us rather than logged to stderr.
std::shared_ptr<const re2::RE2> compile_pattern(const std::string& pattern, const std::string& rule,
                                                const std::string& where) {
  re2::RE2::Options options;
  options.set_case_sensitive(false);
  options.set_encoding(re2::RE2::Options::EncodingUTF8);
  options.set_max_mem(kPatternMaxMem);
  options.set_log_errors(false);
  auto re = std::make_shared<const re2::RE2>(pattern, options);
  if (!re->ok())
    throw Problem{where, "rule '" + rule + "': '" + pattern + "' is not a valid regular expression (RE2 syntax): " +
                             re->error()};
  if (re->ProgramSize() > kPatternMaxProgramSize)
    throw Problem{where, "rule '" + rule + "': '" + pattern + "' is too large (" + std::to_string(re->ProgramSize()) +
                             " RE2 instructions, the limit is " + std::to_string(kPatternMaxProgramSize) +
                             "): make it simpler"};
  return re;
}

}  // namespace

ReplyRules ReplyRules::parse(const std::string& text, const std::string& source) {
  ReplyRules out;
  try {
    const json root = json::parse(text);
    if (!root.is_object()) throw Problem{"(top)", "must be an object with \"accounts\""};
    const json& accounts = need(root, "accounts", "(top)");
    if (!accounts.is_object()) throw Problem{"accounts", "must be an object keyed by account id"};
    for (const auto& [account_id, a] : accounts.items()) {
      const std::string where = "accounts." + account_id;
      if (!a.is_object()) throw Problem{where, "must be an object"};
      Account acc;
      if (auto r = a.find("rules"); r != a.end()) {
        if (!r->is_array()) throw Problem{where + ".rules", "must be an array"};
        for (std::size_t i = 0; i < r->size(); ++i) {
          const json& rule = (*r)[i];
          const std::string rw = where + ".rules[" + std::to_string(i) + "]";
          if (!rule.is_object()) throw Problem{rw, "must be an object"};
          Rule parsed;
          parsed.name = rule.value("name", "rule " + std::to_string(i));
          parsed.reply = reply_text(rule, rw, parsed.name);
          if (auto k = rule.find("keywords"); k != rule.end()) {
            if (!k->is_array() || k->empty()) throw Problem{rw + ".keywords", "must be a non-empty array of strings"};
            for (const auto& kw : *k) {
              if (!kw.is_string() || kw.get<std::string>().empty())
                throw Problem{rw + ".keywords", "must hold non-empty strings"};
              parsed.keywords.push_back(lower_ascii(kw.get<std::string>()));
            }
          }
          if (auto p = rule.find("pattern"); p != rule.end()) {
            if (!p->is_string()) throw Problem{rw + ".pattern", "must be a string"};
            parsed.pattern = compile_pattern(p->get<std::string>(), parsed.name, rw + ".pattern");
          }
          if (parsed.keywords.empty() && !parsed.pattern) throw Problem{rw, "needs \"keywords\" or \"pattern\""};
          acc.rules.push_back(std::move(parsed));
        }
      }
      if (auto w = a.find("away"); w != a.end()) {
        const std::string aw = where + ".away";
        if (!w->is_object()) throw Problem{aw, "must be an object"};
        Away away;
        away.reply = reply_text(*w, aw, "away");
        away.from_minute = parse_hhmm(need_string(*w, "from", aw), aw + ".from");
        away.to_minute = parse_hhmm(need_string(*w, "to", aw), aw + ".to");
        if (auto o = w->find("utc_offset_minutes"); o != w->end()) {
          if (!o->is_number_integer() || o->get<int>() < -14 * 60 || o->get<int>() > 14 * 60)
            throw Problem{aw + ".utc_offset_minutes", "must be a whole number between -840 and 840"};
          away.utc_offset_minutes = o->get<int>();
        }
        acc.away = away;
      }
      out.accounts_[account_id] = std::move(acc);
    }
  } catch (const Problem& p) {
    throw ConfigError("REPLY_RULES_PATH", source + ": " + p.where + ": " + p.what);
  } catch (const json::exception& e) {
    throw ConfigError("REPLY_RULES_PATH", source + ": not valid JSON: " + e.what());
  }
  return out;
}

ReplyRules ReplyRules::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("REPLY_RULES_PATH", "cannot read '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

std::optional<ReplyDecision> ReplyRules::match(const std::string& account_id, const std::string& text,
                                               long long now_ms) const {
  auto it = accounts_.find(account_id);
  if (it == accounts_.end()) return std::nullopt;
  const Account& a = it->second;
  const std::string lowered = lower_ascii(text);
  for (const Rule& r : a.rules) {
    for (const auto& kw : r.keywords)
      if (lowered.find(kw) != std::string::npos) return ReplyDecision{r.name, r.reply};
    if (r.pattern && re2::RE2::PartialMatch(text, *r.pattern)) return ReplyDecision{r.name, r.reply};
  }
  if (a.away) {
    const long long local_minutes = ((now_ms / 60000 + a.away->utc_offset_minutes) % 1440 + 1440) % 1440;
    const int from = a.away->from_minute;
    const int to = a.away->to_minute;
    const bool inside = from <= to ? (local_minutes >= from && local_minutes < to)
                                   : (local_minutes >= from || local_minutes < to);
    if (inside) return ReplyDecision{"away", a.away->reply};
  }
  return std::nullopt;
}

}  // namespace hm
