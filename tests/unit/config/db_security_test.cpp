// DB_SSL_* (TLS to the database) and DB_MIGRATE_* (the account migrate uses).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>

#include "config/config.h"

namespace hm {
namespace {

std::map<std::string, std::string> g_env;

std::optional<std::string> fake_env(const char* name) {
  auto it = g_env.find(name);
  if (it == g_env.end()) return std::nullopt;
  return it->second;
}

class DbSecurityConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { g_env.clear(); }
  void TearDown() override {
    for (const auto& f : files_) std::remove(f.c_str());
  }
  Config load() { return parse_config(layer_config("", fake_env, {})); }
  void expect_rejected(const std::string& variable, const std::string& fragment) {
    try {
      load();
      FAIL() << "accepted a bad " << variable;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.variable(), variable) << e.what();
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  }
  std::string write_file(const std::string& text) {
    char path[] = "/tmp/hm-dbsec-XXXXXX";
    const int fd = mkstemp(path);
    close(fd);
    std::ofstream(path) << text;
    files_.push_back(path);
    return path;
  }
  std::vector<std::string> files_;
};

TEST_F(DbSecurityConfigTest, TlsIsPreferredByDefaultAndEveryModeParses) {
  EXPECT_EQ(load().db.ssl_mode, SslMode::kPreferred);
  const std::string ca = write_file("not checked here");
  g_env["DB_SSL_CA"] = ca;
  const std::map<std::string, SslMode> modes = {{"DISABLED", SslMode::kDisabled},
                                                {"preferred", SslMode::kPreferred},
                                                {"REQUIRED", SslMode::kRequired},
                                                {"verify-ca", SslMode::kVerifyCa},
                                                {" VERIFY_IDENTITY ", SslMode::kVerifyIdentity}};
  for (const auto& [text, mode] : modes) {
    g_env["DB_SSL_MODE"] = text;
    const Config c = load();
    EXPECT_EQ(c.db.ssl_mode, mode) << text;
    EXPECT_EQ(c.db.ssl_ca, ca);
  }
}

TEST_F(DbSecurityConfigTest, ABadModeIsRejectedNamingTheVariable) {
  g_env["DB_SSL_MODE"] = "ON";
  expect_rejected("DB_SSL_MODE", "VERIFY_IDENTITY");
  g_env["DB_SSL_MODE"] = "";
  expect_rejected("DB_SSL_MODE", "not an ssl mode");
}

TEST_F(DbSecurityConfigTest, VerifyModesNeedAReadableCa) {
  for (const char* mode : {"VERIFY_CA", "VERIFY_IDENTITY"}) {
    g_env["DB_SSL_MODE"] = mode;
    g_env.erase("DB_SSL_CA");
    expect_rejected("DB_SSL_CA", "is empty");
    g_env["DB_SSL_CA"] = "/nonexistent/ca.pem";
    expect_rejected("DB_SSL_CA", "cannot read '/nonexistent/ca.pem'");
  }
}

TEST_F(DbSecurityConfigTest, ClientCertificateNeedsItsKeyAndBothMustBeReadable) {
  g_env["DB_SSL_CERT"] = write_file("cert");
  expect_rejected("DB_SSL_KEY", "both");
  g_env["DB_SSL_KEY"] = "/nonexistent/key.pem";
  expect_rejected("DB_SSL_KEY", "cannot read");
  g_env["DB_SSL_KEY"] = write_file("key");
  EXPECT_EQ(load().db.ssl_key, g_env["DB_SSL_KEY"]);
}

TEST_F(DbSecurityConfigTest, AUnixSocketCannotVerifyACertificate) {
  g_env["DB_SOCKET"] = "/run/mysqld/mysqld.sock";
  g_env["DB_SSL_CA"] = write_file("ca");
  g_env["DB_SSL_MODE"] = "VERIFY_IDENTITY";
  expect_rejected("DB_SSL_MODE", "DB_SOCKET");
  g_env["DB_SSL_MODE"] = "REQUIRED";  // a socket does not leave the host: accepted
  EXPECT_EQ(load().db.ssl_mode, SslMode::kRequired);
}

TEST_F(DbSecurityConfigTest, DatabaseUrlMayCarryTheModeAndDbSslModeWins) {
  g_env["DATABASE_URL"] = "mysql://app:hunter2@db.internal/hm?ssl-mode=required";
  EXPECT_EQ(load().db.ssl_mode, SslMode::kRequired);
  g_env["DB_SSL_MODE"] = "DISABLED";
  EXPECT_EQ(load().db.ssl_mode, SslMode::kDisabled);
  g_env.erase("DB_SSL_MODE");
  g_env["DATABASE_URL"] = "mysql://app:hunter2@db.internal/hm?ssl-mode=sometimes";
  try {
    load();
    FAIL() << "accepted ssl-mode=sometimes";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.variable(), "DATABASE_URL");
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  }
}

TEST_F(DbSecurityConfigTest, MigrateUsesTheWorkersAccountUnlessDbMigrateUserIsSet) {
  g_env["DB_USER"] = "hm_app";
  g_env["DB_PASSWORD"] = "app-secret";
  Config c = load();
  EXPECT_EQ(c.migrate_db.user, "hm_app");
  EXPECT_EQ(c.migrate_db.password, "app-secret");
  g_env["DB_MIGRATE_USER"] = "hm_ddl";
  g_env["DB_MIGRATE_PASSWORD"] = "ddl-secret";
  c = load();
  EXPECT_EQ(c.db.user, "hm_app");
  EXPECT_EQ(c.db.password, "app-secret");
  EXPECT_EQ(c.migrate_db.user, "hm_ddl");
  EXPECT_EQ(c.migrate_db.password, "ddl-secret");
  EXPECT_EQ(c.migrate_db.name, c.db.name);
  g_env["DB_MIGRATE_PASSWORD_FILE"] = write_file("ddl-from-file\n");
  EXPECT_EQ(load().migrate_db.password, "ddl-from-file");
}

TEST_F(DbSecurityConfigTest, AMigratePasswordWithoutAMigrateUserIsRejected) {
  g_env["DB_MIGRATE_PASSWORD"] = "ddl-secret";
  expect_rejected("DB_MIGRATE_PASSWORD", "DB_MIGRATE_USER");
  g_env.erase("DB_MIGRATE_PASSWORD");
  g_env["DB_MIGRATE_USER"] = "hm_ddl";
  g_env["DB_MIGRATE_PASSWORD_FILE"] = "/nonexistent/secret";
  expect_rejected("DB_MIGRATE_PASSWORD_FILE", "cannot read");
}

TEST_F(DbSecurityConfigTest, TheMigratePasswordIsASecret) {
  const VariableSpec* v = find_variable("DB_MIGRATE_PASSWORD");
  ASSERT_NE(v, nullptr);
  EXPECT_TRUE(v->secret);
  g_env["DB_MIGRATE_USER"] = "hm_ddl";
  g_env["DB_MIGRATE_PASSWORD"] = "ddl-secret";
  for (const auto& line : describe_config(layer_config("", fake_env, {})))
    EXPECT_EQ(line.find("ddl-secret"), std::string::npos) << line;
}

}  // namespace
}  // namespace hm
