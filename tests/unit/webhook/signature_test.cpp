// X-Hub-Signature-256 checks against bodies signed here with OpenSSL's EVP_MAC
// (not the code under test), over the exact bytes Meta sends.
#include "webhook/signature.h"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstdio>
#include <fstream>

#include "hm/config_error.h"

namespace hm::webhook {
namespace {

// sha256=<hex> of HMAC-SHA256(secret, body), through EVP_MAC.
std::string sign(const std::string& secret, const std::string& body) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  EXPECT_EQ(EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), params), 1);
  EXPECT_EQ(EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(body.data()), body.size()), 1);
  unsigned char out[32];
  std::size_t len = 0;
  EXPECT_EQ(EVP_MAC_final(ctx, out, &len, sizeof out), 1);
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  std::string hex = "sha256=";
  char buf[3];
  for (std::size_t i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", out[i]);
    hex += buf;
  }
  return hex;
}

const std::string kSecret = "a3f1c0ffee0d15ea5e0123456789abcd";

// The forms Meta signs: ASCII, \uXXXX escapes (Meta escapes non-ASCII, and
// the signature is over the escaped text), raw UTF-8, and an emoji as a
// surrogate pair.
const std::vector<std::string> kBodies = {
    R"({"object":"instagram","entry":[{"id":"1","time":1,"messaging":[{"message":{"mid":"m1","text":"hello"}}]}]})",
    R"({"object":"instagram","entry":[{"messaging":[{"message":{"text":"\u00c7al\u0131\u015fma saatleri?"}}]}]})",
    R"({"object":"instagram","entry":[{"messaging":[{"message":{"text":"\u0645\u0631\u062d\u0628\u0627"}}]}]})",
    R"({"object":"instagram","entry":[{"messaging":[{"message":{"text":"\ud83d\ude00 \u2615"}}]}]})",
    "{\"object\":\"instagram\",\"entry\":[{\"messaging\":[{\"message\":{\"text\":\"Çalışma مرحبا 😀\"}}]}]}",
    "",
};

TEST(WebhookSignatureTest, MatchesTheRfc4231Vector) {
  EXPECT_EQ(hmac_sha256_hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST(WebhookSignatureTest, AcceptsBodiesSignedWithTheSecret) {
  const SignatureCheck check({kSecret});
  for (const std::string& body : kBodies) {
    const std::string header = sign(kSecret, body);
    EXPECT_EQ(check.verify(&header, body), SignatureVerdict::kValid) << body;
    std::string upper = header;
    for (std::size_t i = 7; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
    EXPECT_EQ(check.verify(&upper, body), SignatureVerdict::kValid) << "upper-case hex";
  }
}

TEST(WebhookSignatureTest, EscapedAndRawUtf8AreDifferentBytesAndDifferentSignatures) {
  // The receiver must never re-serialise: the escaped form's signature does
  // not hold for the same text as raw UTF-8.
  const SignatureCheck check({kSecret});
  const std::string escaped = R"({"t":"\u00e7"})";
  const std::string raw = "{\"t\":\"ç\"}";
  const std::string header = sign(kSecret, escaped);
  EXPECT_EQ(check.verify(&header, escaped), SignatureVerdict::kValid);
  EXPECT_EQ(check.verify(&header, raw), SignatureVerdict::kMismatch);
}

TEST(WebhookSignatureTest, RefusesEveryFlippedByteOfTheBody) {
  const SignatureCheck check({kSecret});
  const std::string body = kBodies[4];
  const std::string header = sign(kSecret, body);
  for (std::size_t i = 0; i < body.size(); ++i) {
    std::string flipped = body;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
    EXPECT_EQ(check.verify(&header, flipped), SignatureVerdict::kMismatch) << "byte " << i;
  }
  EXPECT_EQ(check.verify(&header, body + " "), SignatureVerdict::kMismatch) << "a byte appended";
}

TEST(WebhookSignatureTest, RefusesAFlippedDigitOfTheSignature) {
  const SignatureCheck check({kSecret});
  const std::string body = kBodies[0];
  const std::string header = sign(kSecret, body);
  for (std::size_t i = 7; i < header.size(); ++i) {
    std::string bad = header;
    bad[i] = bad[i] == '0' ? '1' : '0';
    EXPECT_EQ(check.verify(&bad, body), SignatureVerdict::kMismatch) << "digit " << i;
  }
}

TEST(WebhookSignatureTest, RefusesAWrongSecret) {
  const SignatureCheck check({kSecret});
  const std::string header = sign("another-secret", kBodies[0]);
  EXPECT_EQ(check.verify(&header, kBodies[0]), SignatureVerdict::kMismatch);
}

TEST(WebhookSignatureTest, MissingAndMalformedHeadersAreNotMismatches) {
  const SignatureCheck check({kSecret});
  const std::string body = kBodies[0];
  EXPECT_EQ(check.verify(nullptr, body), SignatureVerdict::kMissing);
  const std::string good = sign(kSecret, body);
  for (const std::string& bad :
       {std::string(""), std::string("sha256="), "sha1=" + good.substr(7, 40), good.substr(7), "SHA256=" + good.substr(7),
        good.substr(0, good.size() - 1), good + "0", "sha256=" + std::string(63, 'a') + "g", "sha256 =" + good.substr(7)}) {
    EXPECT_EQ(check.verify(&bad, body), SignatureVerdict::kMalformed) << bad;
  }
}

TEST(WebhookSignatureTest, DuringARotationEitherSecretIsAccepted) {
  const std::string old_secret = "old-0123456789abcdef0123456789ab";
  const SignatureCheck check({old_secret, kSecret});
  const std::string body = kBodies[1];
  const std::string by_old = sign(old_secret, body);
  const std::string by_new = sign(kSecret, body);
  const std::string by_other = sign("neither", body);
  EXPECT_EQ(check.verify(&by_old, body), SignatureVerdict::kValid);
  EXPECT_EQ(check.verify(&by_new, body), SignatureVerdict::kValid);
  EXPECT_EQ(check.verify(&by_other, body), SignatureVerdict::kMismatch);
}

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST(WebhookSignatureTest, TheSecretFileHoldsOneSecretPerLine) {
  const auto secrets = read_app_secrets(write_temp("secrets", "# rotation\n  new-secret \n\nold-secret\r\n"));
  EXPECT_EQ(secrets, (std::vector<std::string>{"new-secret", "old-secret"}));
}

TEST(WebhookSignatureTest, AnEmptyOrMissingSecretFileIsAConfigurationErrorWithoutTheSecret) {
  try {
    read_app_secrets(write_temp("empty", "\n# only a comment\n"));
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.variable(), "APP_SECRET_FILE");
  }
  EXPECT_THROW(read_app_secrets("/nonexistent/secret"), ConfigError);
  EXPECT_THROW(read_verify_token(write_temp("token", " \n")), ConfigError);
  EXPECT_EQ(read_verify_token(write_temp("token2", "tok-123\n")), "tok-123");
}

TEST(WebhookSignatureTest, ConstantTimeEqualComparesLengthAndBytes) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

}  // namespace
}  // namespace hm::webhook
