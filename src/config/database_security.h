#pragma once
// The database's TLS settings (DB_SSL_*) and the account `migrate` uses
// (DB_MIGRATE_*), validated (internal to src/config/). Every rejection is a
// ConfigError naming the variable; a password is never quoted.
//
// Thread-safety: pure functions (they read the files they are given, to fail
// at start rather than at the first connection).

#include <optional>
#include <string>

#include "config/config.h"

namespace hm::config {

// "VERIFY_CA", "verify-ca"... -> SslMode; anything else is a ConfigError
// naming `variable` (DB_SSL_MODE, or DATABASE_URL for its ?ssl-mode=).
SslMode parse_ssl_mode(const std::string& raw, const std::string& variable);

// Fills db.ssl_* from DB_SSL_MODE (explicitly set: wins over `url_mode`, the
// DATABASE_URL's ?ssl-mode=), DB_SSL_CA, DB_SSL_CERT and DB_SSL_KEY, and checks
// them together with the rest of db (a unix socket cannot verify anything).
void parse_db_tls(const RawConfig& raw, const std::optional<std::string>& url_mode, DbOptions& db);

// db with DB_MIGRATE_USER and DB_MIGRATE_PASSWORD(_FILE) when DB_MIGRATE_USER
// is set; db itself otherwise (then a migrate password alone is an error).
DbOptions parse_migrate_account(const RawConfig& raw, const DbOptions& db);

}  // namespace hm::config
