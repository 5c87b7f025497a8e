#pragma once
// The Graph API token of each Instagram account. A Page or Instagram user
// token speaks for one account, and deliveries carry several (entry[].id):
// GRAPH_ACCESS_TOKENS_FILE is a JSON object {"<account id>": "<token>", ...}
// (a mounted Kubernetes Secret), looked at again every `recheck` and re-read
// when it changed, as Kubernetes swaps a mounted Secret's files in place.
// Without the file, the single GRAPH_ACCESS_TOKEN serves every account (one
// account per deployment); with it, an account missing from the file has no
// token (the fallback would send as another account: /me is the token's).
// Tokens are secrets: they are never logged, and errors name the file, never
// its content.
// Thread-safe.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "hm/clock.h"

namespace hm {

struct AccountTokensOptions {
  std::string path;      // GRAPH_ACCESS_TOKENS_FILE; empty: the fallback only
  std::string fallback;  // GRAPH_ACCESS_TOKEN(_FILE), used only without a file; empty: none
  std::chrono::milliseconds recheck{10000};  // how often the file's signature is looked at
};

class AccountTokens {
 public:
  // Reads the file once: a ConfigError (GRAPH_ACCESS_TOKENS_FILE) when it
  // cannot be read or is not a JSON object of decimal account ids to
  // non-empty strings.
  AccountTokens(AccountTokensOptions options, Clock& clock);

  // The token for `account_id` (the file's; without a file, the fallback), or empty.
  std::optional<std::string> token_for(const std::string& account_id);
  // True when no token at all is configured.
  bool empty();
  // Changes each time new tokens are loaded (a rotated token may cure an
  // account whose token was refused).
  std::uint64_t generation();

 private:
  void reload_if_due();  // with mutex_ held
  AccountTokensOptions options_;
  Clock& clock_;
  std::mutex mutex_;
  std::map<std::string, std::string> tokens_;
  std::string signature_;  // inode, size and modification time of the file last read
  Clock::time_point next_check_{};
  std::uint64_t generation_ = 0;
  bool warned_ = false;
};

// Parses the file's content; throws ConfigError(GRAPH_ACCESS_TOKENS_FILE)
// naming the problem (never a token). For tests.
std::map<std::string, std::string> parse_account_tokens(const std::string& json_text);

}  // namespace hm
