#pragma once
// DATABASE_URL, split into its parts (internal to src/config/). parse_config
// applies the parts, then any DB_* variable set explicitly overrides its part.
//
// Thread-safety: a pure function.

#include <optional>
#include <string>

namespace hm::config {

struct DatabaseUrl {
  std::string user;
  std::optional<std::string> password;  // secret; nullopt when the URL has none
  std::string host;                     // empty only with ?socket=
  std::optional<int> port;              // nullopt: DB_PORT's value
  std::string db;                       // the database (schema) name
  std::optional<std::string> socket;    // ?socket=/path
  std::optional<std::string> ssl_mode;  // ?ssl-mode=VERIFY_IDENTITY (DB_SSL_MODE's values), not yet checked
};

// mysql://user:password@host:port/db[?socket=/path][&ssl-mode=MODE] (or mariadb://), parts
// percent-decoded. Throws ConfigError naming DATABASE_URL; never quotes the
// password.
DatabaseUrl parse_database_url(const std::string& url);

}  // namespace hm::config
