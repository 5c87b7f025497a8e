#include "config/database_url.h"

#include <sstream>

#include "config/values.h"
#include "core/text.h"

namespace hm::config {
namespace {

// Percent-decoding for URL parts. Errors never quote the input (it may hold a password).
std::string percent_decode(const std::string& s, const char* part) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) {
        throw ConfigError("DATABASE_URL", std::string("bad percent-escape in the ") + part);
      }
      const int hi = hex_digit_value(s[i + 1]);
      const int lo = hex_digit_value(s[i + 2]);
      if (hi < 0 || lo < 0)
        throw ConfigError("DATABASE_URL", std::string("bad percent-escape in the ") + part);
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

DatabaseUrl parse_database_url(const std::string& url) {
  const std::string name = "DATABASE_URL";
  DatabaseUrl parts;
  std::string rest;
  if (url.rfind("mysql://", 0) == 0) {
    rest = url.substr(8);
  } else if (url.rfind("mariadb://", 0) == 0) {
    rest = url.substr(10);
  } else {
    throw ConfigError(name, "must start with mysql:// (mysql://user:password@host:port/db)");
  }
  std::string query;
  if (auto q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest.resize(q);
  }
  const auto slash = rest.find('/');
  if (slash == std::string::npos) throw ConfigError(name, "has no database name (mysql://user:password@host:port/db)");
  std::string authority = rest.substr(0, slash);
  parts.db = percent_decode(rest.substr(slash + 1), "database name");
  if (parts.db.empty()) throw ConfigError(name, "has an empty database name");
  if (parts.db.find('/') != std::string::npos) throw ConfigError(name, "has a '/' in the database name");
  const auto at = authority.rfind('@');
  if (at == std::string::npos) throw ConfigError(name, "has no user (mysql://user:password@host:port/db)");
  const std::string userinfo = authority.substr(0, at);
  const std::string hostport = authority.substr(at + 1);
  const auto colon = userinfo.find(':');
  parts.user = percent_decode(userinfo.substr(0, colon), "user");
  if (colon != std::string::npos) parts.password = percent_decode(userinfo.substr(colon + 1), "password");
  if (parts.user.empty()) throw ConfigError(name, "has an empty user");
  std::string host = hostport;
  if (!hostport.empty() && hostport[0] == '[') {  // [::1]:3306
    const auto close = hostport.find(']');
    if (close == std::string::npos) throw ConfigError(name, "has an unterminated [IPv6] host");
    host = hostport.substr(1, close - 1);
    std::string after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') throw ConfigError(name, "has text after the [IPv6] host");
      parts.port = static_cast<int>(parse_integer(name + " port", after.substr(1), 1, 65535, ""));
    }
  } else if (auto pc = hostport.rfind(':'); pc != std::string::npos) {
    host = hostport.substr(0, pc);
    const std::string port = hostport.substr(pc + 1);
    try {
      parts.port = static_cast<int>(parse_integer(name, port, 1, 65535, ""));
    } catch (const ConfigError&) {
      // Not echoed: in a malformed URL it may be part of a password.
      throw ConfigError(name, "has a bad port (" + std::to_string(port.size()) + " characters), expected 1-65535");
    }
  }
  parts.host = host;
  if (parts.host.empty() && query.find("socket=") == std::string::npos)
    throw ConfigError(name, "has an empty host");
  std::istringstream qs(query);
  std::string kv;
  while (std::getline(qs, kv, '&')) {
    if (kv.empty()) continue;
    const auto eq = kv.find('=');
    const std::string key = kv.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : percent_decode(kv.substr(eq + 1), "query");
    if (key == "socket") {
      parts.socket = value;
    } else if (key == "ssl-mode" || key == "ssl_mode") {
      parts.ssl_mode = value;
    } else {
      throw ConfigError(name, "has an unknown query parameter '" + key + "' (socket= and ssl-mode= are known)");
    }
  }
  return parts;
}

}  // namespace hm::config
