#pragma once
// Auto-reply rules, per business account, from a JSON file (REPLY_RULES_PATH):
//
//   {"accounts": {"<account id>": {
//      "rules": [{"name": "hours", "keywords": ["saat", "hours"], "reply": "..."},
//                {"name": "price", "pattern": "fiyat|price", "reply": "..."}],
//      "away":  {"utc_offset_minutes": 180, "from": "22:00", "to": "08:00", "reply": "..."}}}}
//
// The first rule whose keyword occurs in the text (case-insensitive for ASCII
// letters) or whose pattern (ECMAScript regex, case-insensitive) matches wins;
// otherwise, inside the away hours (local time of the offset; may wrap
// midnight), the away message. Immutable after loading; thread-safe.

#include <optional>
#include <regex>
#include <string>
#include <unordered_map>
#include <vector>

namespace hm {

struct ReplyDecision {
  std::string rule;  // the rule's name, or "away"
  std::string text;  // what to send
};

class ReplyRules {
 public:
  ReplyRules() = default;
  // Throws ConfigError naming REPLY_RULES_PATH, the file and the JSON path of the problem.
  static ReplyRules parse(const std::string& json, const std::string& source);
  static ReplyRules load(const std::string& path);

  std::optional<ReplyDecision> match(const std::string& account_id, const std::string& text, long long now_ms) const;
  bool empty() const { return accounts_.empty(); }

 private:
  struct Rule {
    std::string name;
    std::vector<std::string> keywords;  // lower-cased
    std::optional<std::regex> pattern;
    std::string reply;
  };
  struct Away {
    int utc_offset_minutes = 0;
    int from_minute = 0;  // minutes after local midnight
    int to_minute = 0;
    std::string reply;
  };
  struct Account {
    std::vector<Rule> rules;
    std::optional<Away> away;
  };
  std::unordered_map<std::string, Account> accounts_;
};

}  // namespace hm
