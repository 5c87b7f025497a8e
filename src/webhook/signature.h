#pragma once
// Meta's payload signature: X-Hub-Signature-256 is "sha256=" and the lower-
// or upper-case hex HMAC-SHA256 of the raw body bytes, keyed with the app
// secret. Several secrets may be valid at once (rotation): a signature made
// with any of them is accepted. Comparisons are constant-time
// (CRYPTO_memcmp) and every secret is tried, so the time taken does not say
// which one matched or how much of the signature was right.
//
// Thread-safety: a SignatureCheck is immutable after construction.

#include <string>
#include <string_view>
#include <vector>

namespace hm::webhook {

enum class SignatureVerdict {
  kValid,      // made with one of the secrets
  kMissing,    // no header
  kMalformed,  // not "sha256=" and 64 hex digits (e.g. the old "sha1=" header)
  kMismatch,   // well formed, made with none of the secrets (or over other bytes)
};

const char* to_string(SignatureVerdict verdict);

// The app secrets of APP_SECRET_FILE: one per line; surrounding whitespace
// and empty lines are ignored, lines starting with '#' are comments. Throws
// ConfigError naming APP_SECRET_FILE when the file cannot be read or holds no
// secret (the secret itself never appears in the message).
std::vector<std::string> read_app_secrets(const std::string& path);

// The verify token of WEBHOOK_VERIFY_TOKEN_FILE (the whole file, trimmed).
// Throws ConfigError naming WEBHOOK_VERIFY_TOKEN_FILE when unreadable or empty.
std::string read_verify_token(const std::string& path);

// HMAC-SHA256(key, data) as 64 lower-case hex digits (tests and the bench sign with it).
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// Constant-time equality of two strings (the lengths are not secret).
bool constant_time_equal(std::string_view a, std::string_view b);

class SignatureCheck {
 public:
  explicit SignatureCheck(std::vector<std::string> secrets);

  // `header` is nullptr when the request has no X-Hub-Signature-256.
  SignatureVerdict verify(const std::string* header, std::string_view body) const;

 private:
  std::vector<std::string> secrets_;
};

}  // namespace hm::webhook
