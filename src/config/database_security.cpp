#include "config/database_security.h"

#include <algorithm>
#include <fstream>

#include "config/values.h"

namespace hm::config {
namespace {

bool is_set(const RawConfig& raw, const char* name) { return raw.is_set(name) && !trim(*raw.get(name)).empty(); }

std::string value(const RawConfig& raw, const char* name) { return trim(raw.get(name).value_or("")); }

// A file the client library will read at every connect: refuse it now.
void require_readable(const char* variable, const std::string& path) {
  if (path.empty()) return;
  std::ifstream in(path);
  if (!in) throw ConfigError(variable, "cannot read '" + path + "'");
}

}  // namespace

SslMode parse_ssl_mode(const std::string& raw, const std::string& variable) {
  std::string s = upper(trim(raw));
  std::replace(s.begin(), s.end(), '-', '_');
  if (s == "DISABLED") return SslMode::kDisabled;
  if (s == "PREFERRED") return SslMode::kPreferred;
  if (s == "REQUIRED") return SslMode::kRequired;
  if (s == "VERIFY_CA") return SslMode::kVerifyCa;
  if (s == "VERIFY_IDENTITY") return SslMode::kVerifyIdentity;
  throw ConfigError(variable, "'" + trim(raw) +
                                  "' is not an ssl mode; use DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY");
}

void parse_db_tls(const RawConfig& raw, const std::optional<std::string>& url_mode, DbOptions& db) {
  db.ssl_mode = parse_ssl_mode(value(raw, "DB_SSL_MODE"), "DB_SSL_MODE");
  if (url_mode && !raw.is_set("DB_SSL_MODE")) db.ssl_mode = parse_ssl_mode(*url_mode, "DATABASE_URL");
  db.ssl_ca = value(raw, "DB_SSL_CA");
  db.ssl_cert = value(raw, "DB_SSL_CERT");
  db.ssl_key = value(raw, "DB_SSL_KEY");
  const bool verify = db.ssl_mode == SslMode::kVerifyCa || db.ssl_mode == SslMode::kVerifyIdentity;
  const std::string mode = std::string("DB_SSL_MODE=") + to_string(db.ssl_mode);
  if (verify && !db.socket.empty())
    throw ConfigError("DB_SSL_MODE", mode + " needs a TCP connection, but DB_SOCKET is set (a unix socket carries no TLS)");
  if (verify && db.ssl_ca.empty())
    throw ConfigError("DB_SSL_CA", "is empty: " + mode + " needs the CA certificate the server's certificate chains to");
  if (db.ssl_cert.empty() != db.ssl_key.empty())
    throw ConfigError(db.ssl_key.empty() ? "DB_SSL_KEY" : "DB_SSL_CERT",
                      "is empty: a client certificate needs both DB_SSL_CERT and DB_SSL_KEY");
  if (db.ssl_mode == SslMode::kDisabled) return;
  require_readable("DB_SSL_CA", db.ssl_ca);
  require_readable("DB_SSL_CERT", db.ssl_cert);
  require_readable("DB_SSL_KEY", db.ssl_key);
}

DbOptions parse_migrate_account(const RawConfig& raw, const DbOptions& db) {
  DbOptions m = db;
  if (!is_set(raw, "DB_MIGRATE_USER")) {
    for (const char* name : {"DB_MIGRATE_PASSWORD", "DB_MIGRATE_PASSWORD_FILE"})
      if (is_set(raw, name)) throw ConfigError(name, "is set but DB_MIGRATE_USER is not");
    return m;
  }
  m.user = value(raw, "DB_MIGRATE_USER");
  m.password = raw.get("DB_MIGRATE_PASSWORD").value_or("");
  if (is_set(raw, "DB_MIGRATE_PASSWORD_FILE"))
    m.password = read_secret_file("DB_MIGRATE_PASSWORD_FILE", value(raw, "DB_MIGRATE_PASSWORD_FILE"));
  return m;
}

}  // namespace hm::config
