// WORKER_ROLE=webhook settings that cannot work stop the start naming the
// variable (ConfigError: exit 2), instead of failing later at run time.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "config/webhook_config.h"
#include "hm/config_error.h"

namespace hm {
namespace {

RawConfig webhook_config(const std::map<std::string, std::string>& overrides) {
  RawConfig raw;
  for (const auto& v : known_variables())
    if (!v.default_value.empty()) raw.set(v.name, v.default_value, ValueOrigin::kDefault);
  raw.set("WORKER_ROLE", "webhook", ValueOrigin::kEnvironment);
  raw.set("WEBHOOK_VERIFY_TOKEN_FILE", "/run/secrets/verify-token", ValueOrigin::kEnvironment);
  raw.set("APP_SECRET_FILE", "/run/secrets/app-secret", ValueOrigin::kEnvironment);
  for (const auto& [k, v] : overrides) raw.set(k, v, ValueOrigin::kEnvironment);
  return raw;
}

std::string refused_variable(const std::map<std::string, std::string>& overrides) {
  try {
    config::parse_webhook(webhook_config(overrides));
  } catch (const ConfigError& e) {
    return e.variable();
  }
  return "";
}

TEST(WebhookConfigTest, DefaultsWithTheSecretFilesParse) { EXPECT_EQ(refused_variable({}), ""); }

TEST(WebhookConfigTest, ABindThatIsNotANumericAddressIsRefused) {
  EXPECT_EQ(refused_variable({{"WEBHOOK_BIND", "localhost"}}), "WEBHOOK_BIND");
  EXPECT_EQ(refused_variable({{"WEBHOOK_BIND", "0.0.0.0.0"}}), "WEBHOOK_BIND");
  EXPECT_EQ(refused_variable({{"WEBHOOK_BIND", "::"}}), "");
  EXPECT_EQ(refused_variable({{"WEBHOOK_BIND", "127.0.0.1"}}), "");
}

TEST(WebhookConfigTest, AWaitForReplicasAsLongAsTheRedisTimeoutIsRefused) {
  EXPECT_EQ(refused_variable({{"WEBHOOK_REDIS_REPLICAS", "1"}, {"WEBHOOK_REDIS_WAIT_MS", "5000"}, {"REDIS_TIMEOUT", "5"}}),
            "WEBHOOK_REDIS_WAIT_MS");
  EXPECT_EQ(refused_variable({{"WEBHOOK_REDIS_REPLICAS", "1"}, {"WEBHOOK_REDIS_WAIT_MS", "4999"}, {"REDIS_TIMEOUT", "5"}}),
            "");
  // No WAIT without replicas: the wait does not matter then.
  EXPECT_EQ(refused_variable({{"WEBHOOK_REDIS_REPLICAS", "0"}, {"WEBHOOK_REDIS_WAIT_MS", "9000"}, {"REDIS_TIMEOUT", "5"}}),
            "");
}

}  // namespace
}  // namespace hm
