#pragma once
// Auto-reply rules, per business account, from a JSON file (REPLY_RULES_PATH):
//
//   {"accounts": {"<account id>": {
//      "rules": [{"name": "hours", "keywords": ["saat", "hours"], "reply": "..."},
//                {"name": "price", "pattern": "fiyat|price", "reply": "..."}],
//      "away":  {"utc_offset_minutes": 180, "from": "22:00", "to": "08:00", "reply": "..."}}}}
//
// The first rule whose keyword occurs in the text (case-insensitive for ASCII
// letters) or whose pattern matches anywhere in the text wins; otherwise,
// inside the away hours (local time of the offset; may wrap midnight), the
// away message. Immutable after loading; thread-safe.
//
// Patterns are RE2 syntax (https://github.com/google/re2/wiki/Syntax),
// case-insensitive, over UTF-8: matching takes time linear in the text and
// never recurses, so customer text (up to 64 KB) cannot crash or stall the
// worker whatever the pattern. A pattern RE2 cannot compile (backreferences
// `\1`, lookaround `(?=x)`, `\uXXXX` escapes: RE2 writes `\x{XXXX}`) or that
// exceeds kPatternMaxMem or kPatternMaxProgramSize is refused at load.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace re2 {
class RE2;
}

namespace hm {

// The memory one compiled pattern may use (its programs and DFA caches), bytes.
inline constexpr std::int64_t kPatternMaxMem = 2 << 20;
// The largest compiled pattern accepted, in RE2 program instructions. Search
// time is linear in the text, but when the DFA cache fills it falls back to an
// NFA whose cost per byte grows with the program: `.{1000}x` (8005
// instructions) takes seconds on 64 KB; at this limit, tens of milliseconds.
// Real rules (`fiyat|price|ücret`) are tens of instructions.
inline constexpr int kPatternMaxProgramSize = 2000;
// The longest reply text, in UTF-8 bytes: Meta's Send API for Instagram says
// "Message text must be UTF-8 and be 1000 bytes or less". A longer reply (or
// one not valid UTF-8) is refused when the rules load, not at send time.
inline constexpr std::size_t kMaxReplyTextBytes = 1000;

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
    std::shared_ptr<const re2::RE2> pattern;  // null: keywords only
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
