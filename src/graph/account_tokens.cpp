#include "graph/account_tokens.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "hm/config_error.h"
#include "hm/events.h"

namespace hm {
namespace {

constexpr const char* kVariable = "GRAPH_ACCESS_TOKENS_FILE";

// "" when the file cannot be looked at.
std::string file_signature(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  return std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

std::map<std::string, std::string> read_tokens(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(kVariable, "'" + path + "' cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_account_tokens(text.str());
}

}  // namespace

std::map<std::string, std::string> parse_account_tokens(const std::string& json_text) {
  const auto j = nlohmann::json::parse(json_text, nullptr, false);
  if (!j.is_object()) throw ConfigError(kVariable, "is not a JSON object of account id -> token");
  std::map<std::string, std::string> out;
  for (const auto& [account, token] : j.items()) {
    // A key is described, never quoted: in a file written the wrong way round it is a token.
    if (!instagram_id_problem(account).empty())
      throw ConfigError(kVariable, "key " + std::to_string(out.size() + 1) + " (" + std::to_string(account.size()) +
                                       " characters) is not an account id (decimal digits)");
    if (!token.is_string() || token.get<std::string>().empty())
      throw ConfigError(kVariable, "account " + account + ": the token is not a non-empty string");
    for (const char c : token.get<std::string>())
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
        throw ConfigError(kVariable, "account " + account + ": the token holds a space or control character");
    out[account] = token.get<std::string>();
  }
  return out;
}

AccountTokens::AccountTokens(AccountTokensOptions options, Clock& clock) : options_(std::move(options)), clock_(clock) {
  if (options_.path.empty()) return;
  signature_ = file_signature(options_.path);
  tokens_ = read_tokens(options_.path);
  next_check_ = clock_.now() + options_.recheck;
  generation_ = 1;
}

void AccountTokens::reload_if_due() {
  if (options_.path.empty() || clock_.now() < next_check_) return;
  next_check_ = clock_.now() + options_.recheck;
  const std::string signature = file_signature(options_.path);
  if (signature == signature_) return;
  try {
    tokens_ = read_tokens(options_.path);
    signature_ = signature;
    ++generation_;
    warned_ = false;
    spdlog::info("{}: tokens re-read, {} accounts", kVariable, tokens_.size());
  } catch (const ConfigError& e) {
    // Mid-update, or a bad new version: keep the tokens we have.
    if (!warned_) spdlog::warn("{}; keeping the {} tokens read before", e.what(), tokens_.size());
    warned_ = true;
  }
}

std::optional<std::string> AccountTokens::token_for(const std::string& account_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  reload_if_due();
  if (auto it = tokens_.find(account_id); it != tokens_.end()) return it->second;
  // With a file, an account missing from it has no token: the fallback would
  // send as another account (/me is the token's account).
  if (options_.path.empty() && !options_.fallback.empty()) return options_.fallback;
  return std::nullopt;
}

bool AccountTokens::empty() {
  std::lock_guard<std::mutex> lock(mutex_);
  reload_if_due();
  return tokens_.empty() && options_.fallback.empty();
}

std::uint64_t AccountTokens::generation() {
  std::lock_guard<std::mutex> lock(mutex_);
  reload_if_due();
  return generation_;
}

}  // namespace hm
