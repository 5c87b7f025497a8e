#include "webhook/signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <fstream>
#include <sstream>

#include "core/text.h"
#include "hm/config_error.h"

namespace hm::webhook {
namespace {

constexpr std::string_view kPrefix = "sha256=";
constexpr std::size_t kHexDigits = 64;
// More secrets than this in the file is a mistake, not a rotation.
constexpr std::size_t kMaxSecrets = 8;

std::string trimmed(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(first, last - first + 1));
}

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream text;
  text << in.rdbuf();
  out = text.str();
  return !in.bad();
}

// The 32 bytes of a well-formed header, or false.
bool decode(std::string_view header, std::array<unsigned char, 32>& out) {
  if (header.size() != kPrefix.size() + kHexDigits || header.substr(0, kPrefix.size()) != kPrefix) return false;
  const std::string_view hex = header.substr(kPrefix.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_digit_value(hex[2 * i]);
    const int lo = hex_digit_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return true;
}

std::array<unsigned char, 32> hmac(std::string_view key, std::string_view data) {
  std::array<unsigned char, 32> mac{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), mac.data(), &len);
  return mac;
}

}  // namespace

const char* to_string(SignatureVerdict verdict) {
  switch (verdict) {
    case SignatureVerdict::kValid: return "valid";
    case SignatureVerdict::kMissing: return "missing";
    case SignatureVerdict::kMalformed: return "malformed";
    case SignatureVerdict::kMismatch: return "mismatch";
  }
  return "mismatch";
}

std::vector<std::string> read_app_secrets(const std::string& path) {
  std::string text;
  if (path.empty()) throw ConfigError("APP_SECRET_FILE", "is empty: the webhook receiver needs the app secret");
  if (!read_file(path, text)) throw ConfigError("APP_SECRET_FILE", "cannot read '" + path + "'");
  std::vector<std::string> secrets;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::string s = trimmed(line);
    if (s.empty() || s[0] == '#') continue;
    secrets.push_back(std::move(s));
  }
  if (secrets.empty()) throw ConfigError("APP_SECRET_FILE", "'" + path + "' holds no secret");
  if (secrets.size() > kMaxSecrets)
    throw ConfigError("APP_SECRET_FILE", "'" + path + "' holds " + std::to_string(secrets.size()) +
                                             " secrets; at most " + std::to_string(kMaxSecrets));
  return secrets;
}

std::string read_verify_token(const std::string& path) {
  std::string text;
  if (path.empty()) throw ConfigError("WEBHOOK_VERIFY_TOKEN_FILE", "is empty: the webhook receiver needs the verify token");
  if (!read_file(path, text)) throw ConfigError("WEBHOOK_VERIFY_TOKEN_FILE", "cannot read '" + path + "'");
  std::string token = trimmed(text);
  if (token.empty()) throw ConfigError("WEBHOOK_VERIFY_TOKEN_FILE", "'" + path + "' is empty");
  return token;
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  const auto mac = hmac(key, data);
  return hex_encode(mac.data(), mac.size());
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

SignatureCheck::SignatureCheck(std::vector<std::string> secrets) : secrets_(std::move(secrets)) {}

SignatureVerdict SignatureCheck::verify(const std::string* header, std::string_view body) const {
  if (header == nullptr) return SignatureVerdict::kMissing;
  std::array<unsigned char, 32> given{};
  if (!decode(trimmed(*header), given)) return SignatureVerdict::kMalformed;
  bool matched = false;
  for (const std::string& secret : secrets_) {  // all of them: no early exit
    const auto mac = hmac(secret, body);
    matched |= CRYPTO_memcmp(mac.data(), given.data(), mac.size()) == 0;
  }
  return matched ? SignatureVerdict::kValid : SignatureVerdict::kMismatch;
}

}  // namespace hm::webhook
