#include "config/config.h"

#include "redis/redis_url.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

namespace hm {
namespace {

std::string trim(const std::string& s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Strict non-negative integer: digits only, no sign, no trailing text.
long long parse_integer(const std::string& name, const std::string& raw, long long min,
                        long long max, const char* unit) {
  const std::string s = trim(raw);
  if (s.empty()) throw ConfigError(name, "is empty, expected a whole number" + std::string(unit));
  if (s[0] == '-') throw ConfigError(name, "is negative ('" + s + "'), expected a whole number >= " + std::to_string(min) + unit);
  long long value = 0;
  const char* first = s.data();
  const char* last = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec == std::errc::result_out_of_range)
    throw ConfigError(name, "'" + s + "' is too large, the maximum is " + std::to_string(max) + unit);
  if (ec != std::errc() || ptr != last)
    throw ConfigError(name, "'" + s + "' is not a number, expected a whole number" + std::string(unit));
  if (value < min)
    throw ConfigError(name, "'" + s + "' is too small, the minimum is " + std::to_string(min) + unit);
  if (value > max)
    throw ConfigError(name, "'" + s + "' is too large, the maximum is " + std::to_string(max) + unit);
  return value;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding for URL parts. Errors never quote the input (it may hold a password).
std::string percent_decode(const std::string& s, const char* part) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) {
        throw ConfigError("DATABASE_URL", std::string("bad percent-escape in the ") + part);
      }
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
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

struct UrlParts {
  std::string user;
  std::optional<std::string> password;
  std::string host;
  std::optional<int> port;
  std::string db;
  std::optional<std::string> socket;
};

// mysql://user:password@host:port/db[?socket=/path]
UrlParts parse_database_url(const std::string& url) {
  const std::string name = "DATABASE_URL";
  UrlParts parts;
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
      throw ConfigError(name, "has a bad port '" + port + "', expected 1-65535");
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
    } else {
      throw ConfigError(name, "has an unknown query parameter '" + key + "' (only socket= is known)");
    }
  }
  return parts;
}

IsolationLevel parse_isolation(const std::string& raw) {
  std::string s = upper(trim(raw));
  std::replace(s.begin(), s.end(), '-', ' ');
  std::replace(s.begin(), s.end(), '_', ' ');
  if (s == "READ UNCOMMITTED") return IsolationLevel::kReadUncommitted;
  if (s == "READ COMMITTED") return IsolationLevel::kReadCommitted;
  if (s == "REPEATABLE READ") return IsolationLevel::kRepeatableRead;
  if (s == "SERIALIZABLE") return IsolationLevel::kSerializable;
  throw ConfigError("DB_ISOLATION_LEVEL",
                    "'" + trim(raw) +
                        "' is not an isolation level; use READ UNCOMMITTED, READ COMMITTED, "
                        "REPEATABLE READ or SERIALIZABLE");
}

std::string read_secret_file(const std::string& variable, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(variable, "cannot read '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string value = ss.str();
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  return value;
}

// scheme://user:password@host... -> scheme://user:<redacted>@host...
std::string redact_url_password(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const auto at = url.find('@', scheme + 3);
  if (at == std::string::npos) return url;
  const auto colon = url.find(':', scheme + 3);
  const std::size_t start = (colon != std::string::npos && colon < at) ? colon + 1 : scheme + 3;
  return url.substr(0, start) + "<redacted>" + url.substr(at);
}

}  // namespace

const std::vector<VariableSpec>& known_variables() {
  static const std::vector<VariableSpec> vars = {
      {"DATABASE_URL", "", "mysql://user:password@host:port/db; DB_* variables that are set override its parts", true},
      {"DB_HOST", "127.0.0.1", "database host name or address"},
      {"DB_PORT", "3306", "database TCP port"},
      {"DB_SOCKET", "", "unix socket path; when set, DB_HOST and DB_PORT are not used"},
      {"DB_NAME", "hm", "database (schema) name"},
      {"DB_USER", "hm", "database user"},
      {"DB_PASSWORD", "", "database password", true},
      {"DB_PASSWORD_FILE", "", "file holding the database password (a mounted Kubernetes secret); wins over DB_PASSWORD"},
      {"DB_POOL_SIZE", "10", "connections the pool keeps open"},
      {"DB_MAX_OVERFLOW", "5", "extra connections allowed under load, closed when returned"},
      {"DB_POOL_TIMEOUT", "30", "seconds a checkout waits for a free connection before failing with 'pool exhausted'"},
      {"DB_POOL_RECYCLE", "3600", "seconds after which a connection is replaced at checkout (0 = never)"},
      {"DB_POOL_PRE_PING", "30", "seconds of idleness after which a connection is pinged before use (0 = always)"},
      {"DB_QUERY_TIMEOUT", "30", "read and write timeout of every connection, seconds"},
      {"DB_CONNECT_TIMEOUT", "10", "seconds to establish a connection"},
      {"DB_LOCK_WAIT_TIMEOUT", "5", "session innodb_lock_wait_timeout, seconds; must be below DB_QUERY_TIMEOUT"},
      {"DB_ISOLATION_LEVEL", "READ COMMITTED", "READ UNCOMMITTED, READ COMMITTED, REPEATABLE READ or SERIALIZABLE"},
      {"DB_RETRY_ATTEMPTS", "5", "tries of a unit of work on lock wait timeout, deadlock or lost connection"},
      {"DB_RETRY_BASE_MS", "100", "first backoff ceiling, milliseconds (exponential, full jitter)"},
      {"DB_RETRY_MAX_MS", "5000", "largest single backoff, milliseconds"},
      {"DB_RETRY_MAX_TOTAL_MS", "30000", "time budget for all tries of one unit, milliseconds"},
      {"REDIS_URL", "redis://127.0.0.1:6379/0", "redis://host:port/db or unix:///path?db=N (a password in it is never printed)"},
      {"REDIS_PASSWORD", "", "Redis password (AUTH)", true},
      {"REDIS_PASSWORD_FILE", "", "file holding the Redis password (a mounted Kubernetes secret); wins over REDIS_PASSWORD"},
      {"REDIS_TIMEOUT", "5", "Redis connect and command timeout, seconds; must exceed QUEUE_BLOCK_MS"},
      {"QUEUE_STREAM_PREFIX", "hm:", "prefix of the role streams: hm:ingest, hm:enrich, hm:media, hm:reply"},
      {"QUEUE_STREAM", "", "stream the role consumes (default PREFIX + ROLE)"},
      {"QUEUE_GROUP", "hm-worker", "consumer group on the stream"},
      {"QUEUE_DEAD_LETTER_STREAM", "", "stream for deliveries that cannot be stored (default STREAM:dead)"},
      {"CONSUMER_NAME", "", "this consumer's name in the group (default $HOSTNAME, the pod name)"},
      {"QUEUE_VISIBILITY_TIMEOUT", "120", "seconds an entry may stay unacknowledged before another consumer reclaims it; must exceed the slowest batch"},
      {"QUEUE_MAX_DELIVERIES", "10", "deliveries of one entry before it is dead-lettered"},
      {"QUEUE_BLOCK_MS", "1000", "longest XREADGROUP BLOCK wait, milliseconds (bounds how fast a stop is noticed)"},
      {"INGEST_BATCH_SIZE", "100", "messages stored together in one transaction (1 = the per-message path)"},
      {"QUEUE_READ_COUNT", "", "entries taken per read, stored INGEST_BATCH_SIZE at a time and acknowledged together (default INGEST_BATCH_SIZE; at least that)"},
      {"INGEST_BATCH_LINGER_MS", "20", "how long to wait to fill a batch after its first entry, milliseconds"},
      {"WORKER_CONCURRENCY", "2", "worker threads per process, each with its own Redis connection"},
      {"SHUTDOWN_TIMEOUT", "20", "seconds to finish in-flight batches after SIGTERM (keep below the pod's grace period)"},
      {"GRAPH_API_BASE", "https://graph.facebook.com/v21.0", "Graph API address with its version, no trailing slash"},
      {"GRAPH_ACCESS_TOKEN", "", "Graph API access token (enrich profiles, reply sends)", true},
      {"GRAPH_ACCESS_TOKEN_FILE", "", "file holding the access token (a mounted Kubernetes secret); wins over GRAPH_ACCESS_TOKEN"},
      {"GRAPH_TIMEOUT", "10", "Graph API call timeout, seconds"},
      {"GRAPH_RETRY_ATTEMPTS", "4", "tries of a Graph API call on rate limits, server and network errors"},
      {"PROFILE_TTL", "86400", "seconds before a contact's profile is fetched again"},
      {"MEDIA_DIR", "/var/lib/hm-worker/media", "where media files are stored, content-addressed by SHA-256"},
      {"MEDIA_MAX_BYTES", "26214400", "largest attachment downloaded, bytes"},
      {"MEDIA_CONNECT_TIMEOUT", "5", "seconds to connect to the CDN"},
      {"MEDIA_TIMEOUT", "60", "seconds for one whole download"},
      {"MEDIA_MAX_REDIRECTS", "5", "redirects followed for one download"},
      {"REPLY_RULES_PATH", "", "JSON file of auto-reply rules (required by the reply role; ingest uses it to decide reply jobs)"},
      {"METRICS_PORT", "9400", "port of /metrics, /healthz and /readyz (0 = no HTTP server)"},
      {"METRICS_BIND", "0.0.0.0", "address the HTTP server binds (numeric IPv4 or IPv6)"},
      {"DEAD_LETTER_PATH", "dead-letters.jsonl", "JSONL file for deliveries that cannot be stored (file source)"},
      {"MAX_DELIVERY_BYTES", "1048576", "largest accepted delivery (one line), bytes"},
      {"LOG_LEVEL", "info", "trace, debug, info, warn, error, critical or off"},
      {"LOG_FORMAT", "text", "text or json (one JSON object per line)"},
      {"WORKER_ROLE", "ingest", "ingest, reply, enrich or media"},
  };
  return vars;
}

const VariableSpec* find_variable(const std::string& name) {
  for (const auto& v : known_variables())
    if (v.name == name) return &v;
  return nullptr;
}

std::string flag_name(const std::string& variable) {
  std::string out;
  for (char c : variable) out.push_back(c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

const char* to_sql(IsolationLevel level) {
  switch (level) {
    case IsolationLevel::kReadUncommitted: return "READ UNCOMMITTED";
    case IsolationLevel::kReadCommitted: return "READ COMMITTED";
    case IsolationLevel::kRepeatableRead: return "REPEATABLE READ";
    case IsolationLevel::kSerializable: return "SERIALIZABLE";
  }
  return "READ COMMITTED";
}

const char* to_server_name(IsolationLevel level) {
  switch (level) {
    case IsolationLevel::kReadUncommitted: return "READ-UNCOMMITTED";
    case IsolationLevel::kReadCommitted: return "READ-COMMITTED";
    case IsolationLevel::kRepeatableRead: return "REPEATABLE-READ";
    case IsolationLevel::kSerializable: return "SERIALIZABLE";
  }
  return "READ-COMMITTED";
}

const char* to_string(ValueOrigin origin) {
  switch (origin) {
    case ValueOrigin::kDefault: return "default";
    case ValueOrigin::kFile: return "file";
    case ValueOrigin::kEnvironment: return "env";
    case ValueOrigin::kFlag: return "flag";
  }
  return "default";
}

void RawConfig::set(const std::string& name, std::string value, ValueOrigin origin) {
  auto it = values_.find(name);
  if (it == values_.end() || static_cast<int>(origin) >= static_cast<int>(it->second.origin)) {
    values_[name] = RawValue{std::move(value), origin};
  }
}

std::optional<std::string> RawConfig::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second.value;
}

ValueOrigin RawConfig::origin(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? ValueOrigin::kDefault : it->second.origin;
}

bool RawConfig::is_set(const std::string& name) const {
  auto it = values_.find(name);
  return it != values_.end() && it->second.origin != ValueOrigin::kDefault;
}

std::map<std::string, std::string> read_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("--config", "cannot read '" + path + "'");
  std::map<std::string, std::string> out;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    std::string body = t;
    if (body.rfind("export ", 0) == 0) body = trim(body.substr(7));
    const auto eq = body.find('=');
    const std::string where = path + ":" + std::to_string(lineno);
    if (eq == std::string::npos) throw ConfigError("--config", where + ": expected KEY=VALUE");
    const std::string key = trim(body.substr(0, eq));
    std::string value = trim(body.substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front())
      value = value.substr(1, value.size() - 2);
    if (!find_variable(key)) throw ConfigError(key, "unknown variable in " + where);
    out[key] = value;
  }
  return out;
}

std::optional<std::string> process_env(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  return std::string(v);
}

RawConfig layer_config(const std::string& config_file, EnvLookup env,
                       const std::map<std::string, std::string>& flags) {
  RawConfig raw;
  for (const auto& v : known_variables())
    if (!v.default_value.empty()) raw.set(v.name, v.default_value, ValueOrigin::kDefault);
  if (!config_file.empty()) {
    for (const auto& [k, v] : read_config_file(config_file)) raw.set(k, v, ValueOrigin::kFile);
  }
  for (const auto& v : known_variables()) {
    if (auto value = env(v.name.c_str())) raw.set(v.name, *value, ValueOrigin::kEnvironment);
  }
  for (const auto& [k, v] : flags) {
    const VariableSpec* spec = find_variable(k);
    if (!spec) throw ConfigError(k, "unknown variable");
    if (spec->secret) throw ConfigError(k, "is a secret and cannot be given as a flag; use the environment or a file");
    raw.set(k, v, ValueOrigin::kFlag);
  }
  return raw;
}

Config parse_config(const RawConfig& raw) {
  Config c;
  auto str = [&](const char* name) { return raw.get(name).value_or(""); };
  auto integer = [&](const char* name, long long min, long long max, const char* unit) {
    return parse_integer(name, str(name), min, max, unit);
  };
  constexpr long long kMaxSeconds = 365LL * 24 * 3600;

  // Connection: URL first, then any DB_* variable explicitly set overrides its part.
  if (auto url = raw.get("DATABASE_URL"); url && !trim(*url).empty()) {
    const UrlParts p = parse_database_url(trim(*url));
    c.db.user = p.user;
    if (p.password) c.db.password = *p.password;
    c.db.host = p.host;
    if (p.port) c.db.port = *p.port;
    c.db.name = p.db;
    if (p.socket) c.db.socket = *p.socket;
  } else {
    c.db.host = str("DB_HOST");
    c.db.port = static_cast<int>(integer("DB_PORT", 1, 65535, ""));
    c.db.name = str("DB_NAME");
    c.db.user = str("DB_USER");
  }
  if (raw.is_set("DB_HOST")) c.db.host = str("DB_HOST");
  if (raw.is_set("DB_PORT")) c.db.port = static_cast<int>(integer("DB_PORT", 1, 65535, ""));
  if (raw.is_set("DB_NAME")) c.db.name = str("DB_NAME");
  if (raw.is_set("DB_USER")) c.db.user = str("DB_USER");
  if (raw.is_set("DB_SOCKET")) c.db.socket = str("DB_SOCKET");
  if (raw.is_set("DB_PASSWORD")) c.db.password = str("DB_PASSWORD");
  if (auto file = raw.get("DB_PASSWORD_FILE"); file && !file->empty())
    c.db.password = read_secret_file("DB_PASSWORD_FILE", *file);

  if (c.db.host.empty() && c.db.socket.empty()) throw ConfigError("DB_HOST", "is empty and DB_SOCKET is not set");
  if (c.db.name.empty()) throw ConfigError("DB_NAME", "is empty");
  if (c.db.name.find_first_of("`'\"\\ ") != std::string::npos)
    throw ConfigError("DB_NAME", "'" + c.db.name + "' holds a quote, backslash or space");
  if (c.db.user.empty()) throw ConfigError("DB_USER", "is empty");

  c.pool.size = static_cast<int>(integer("DB_POOL_SIZE", 1, 10000, " (connections)"));
  c.pool.max_overflow = static_cast<int>(integer("DB_MAX_OVERFLOW", 0, 10000, " (connections)"));
  c.pool.checkout_timeout = std::chrono::seconds(integer("DB_POOL_TIMEOUT", 0, kMaxSeconds, " (seconds)"));
  c.pool.recycle = std::chrono::seconds(integer("DB_POOL_RECYCLE", 0, kMaxSeconds, " (seconds)"));
  c.pool.validate_after_idle = std::chrono::seconds(integer("DB_POOL_PRE_PING", 0, kMaxSeconds, " (seconds)"));

  c.db.query_timeout = std::chrono::seconds(integer("DB_QUERY_TIMEOUT", 1, 86400, " (seconds)"));
  c.db.connect_timeout = std::chrono::seconds(integer("DB_CONNECT_TIMEOUT", 1, 3600, " (seconds)"));
  c.db.lock_wait_timeout = std::chrono::seconds(integer("DB_LOCK_WAIT_TIMEOUT", 1, 86400, " (seconds)"));
  if (c.db.lock_wait_timeout >= c.db.query_timeout) {
    throw ConfigError("DB_LOCK_WAIT_TIMEOUT",
                      std::to_string(c.db.lock_wait_timeout.count()) +
                          " must be below DB_QUERY_TIMEOUT (" + std::to_string(c.db.query_timeout.count()) +
                          "): the server must give up a lock wait before the client gives up the statement");
  }
  c.db.isolation = parse_isolation(str("DB_ISOLATION_LEVEL"));

  c.retry.max_attempts = static_cast<int>(integer("DB_RETRY_ATTEMPTS", 1, 1000, ""));
  c.retry.base_delay = std::chrono::milliseconds(integer("DB_RETRY_BASE_MS", 1, 600000, " (milliseconds)"));
  c.retry.max_delay = std::chrono::milliseconds(integer("DB_RETRY_MAX_MS", 1, 3600000, " (milliseconds)"));
  c.retry.max_total = std::chrono::milliseconds(integer("DB_RETRY_MAX_TOTAL_MS", 0, 86400000, " (milliseconds)"));
  if (c.retry.max_delay < c.retry.base_delay)
    throw ConfigError("DB_RETRY_MAX_MS", "must not be below DB_RETRY_BASE_MS");

  c.ingest.dead_letter_path = str("DEAD_LETTER_PATH");
  if (c.ingest.dead_letter_path.empty()) throw ConfigError("DEAD_LETTER_PATH", "is empty");
  c.ingest.max_delivery_bytes =
      static_cast<std::size_t>(integer("MAX_DELIVERY_BYTES", 64, 64LL * 1024 * 1024, " (bytes)"));

  c.log.level = trim(str("LOG_LEVEL"));
  static const char* levels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (std::none_of(std::begin(levels), std::end(levels), [&](const char* l) { return c.log.level == l; }))
    throw ConfigError("LOG_LEVEL", "'" + c.log.level + "' is not one of trace, debug, info, warn, error, critical, off");
  c.log.format = trim(str("LOG_FORMAT"));
  if (c.log.format != "text" && c.log.format != "json")
    throw ConfigError("LOG_FORMAT", "'" + c.log.format + "' is not text or json");

  c.role = trim(str("WORKER_ROLE"));
  static const char* roles[] = {"ingest", "reply", "enrich", "media"};
  if (std::none_of(std::begin(roles), std::end(roles), [&](const char* r) { return c.role == r; }))
    throw ConfigError("WORKER_ROLE", "'" + c.role + "' is not one of ingest, reply, enrich, media");

  c.queue.redis_url = trim(str("REDIS_URL"));
  if (c.queue.redis_url.empty()) throw ConfigError("REDIS_URL", "is empty");
  redis::parse_redis_url(c.queue.redis_url);  // throws ConfigError naming REDIS_URL
  if (raw.is_set("REDIS_PASSWORD")) c.queue.redis_password = str("REDIS_PASSWORD");
  if (auto file = raw.get("REDIS_PASSWORD_FILE"); file && !file->empty())
    c.queue.redis_password = read_secret_file("REDIS_PASSWORD_FILE", *file);
  c.queue.redis_timeout = std::chrono::seconds(integer("REDIS_TIMEOUT", 1, 3600, " (seconds)"));
  c.queue.prefix = trim(str("QUEUE_STREAM_PREFIX"));
  c.queue.stream = trim(str("QUEUE_STREAM"));
  if (c.queue.stream.empty()) c.queue.stream = c.queue.prefix + c.role;
  c.queue.group = trim(str("QUEUE_GROUP"));
  if (c.queue.group.empty()) throw ConfigError("QUEUE_GROUP", "is empty");
  c.queue.dead_letter_stream = trim(str("QUEUE_DEAD_LETTER_STREAM"));
  if (c.queue.dead_letter_stream.empty()) c.queue.dead_letter_stream = c.queue.stream + ":dead";
  if (c.queue.dead_letter_stream == c.queue.stream)
    throw ConfigError("QUEUE_DEAD_LETTER_STREAM", "must differ from QUEUE_STREAM");
  c.queue.consumer = trim(str("CONSUMER_NAME"));
  c.queue.visibility_timeout = std::chrono::seconds(integer("QUEUE_VISIBILITY_TIMEOUT", 1, 86400, " (seconds)"));
  c.queue.max_deliveries = static_cast<int>(integer("QUEUE_MAX_DELIVERIES", 1, 1000000, ""));
  c.queue.block = std::chrono::milliseconds(integer("QUEUE_BLOCK_MS", 1, 60000, " (milliseconds)"));
  if (c.queue.block >= c.queue.redis_timeout)
    throw ConfigError("QUEUE_BLOCK_MS", std::to_string(c.queue.block.count()) +
                                            " must be below REDIS_TIMEOUT (" +
                                            std::to_string(c.queue.redis_timeout.count()) +
                                            " s): a blocked read would look like a dead connection");
  c.ingest.batch_size = static_cast<std::size_t>(integer("INGEST_BATCH_SIZE", 1, 1000, " (entries)"));
  c.ingest.batch_linger = std::chrono::milliseconds(integer("INGEST_BATCH_LINGER_MS", 0, 10000, " (milliseconds)"));
  c.ingest.read_count = c.ingest.batch_size;
  if (!trim(str("QUEUE_READ_COUNT")).empty()) {
    c.ingest.read_count = static_cast<std::size_t>(integer("QUEUE_READ_COUNT", 1, 1000, " (entries)"));
    if (c.ingest.read_count < c.ingest.batch_size)
      throw ConfigError("QUEUE_READ_COUNT", std::to_string(c.ingest.read_count) + " must be at least INGEST_BATCH_SIZE (" +
                                                std::to_string(c.ingest.batch_size) +
                                                "): a batch is made of the entries of one read");
  }
  c.worker.concurrency = static_cast<int>(integer("WORKER_CONCURRENCY", 1, 256, " (threads)"));
  c.worker.shutdown_timeout = std::chrono::seconds(integer("SHUTDOWN_TIMEOUT", 1, 3600, " (seconds)"));
  c.worker.metrics_port = static_cast<int>(integer("METRICS_PORT", 0, 65535, ""));
  c.roles.graph_base = trim(str("GRAPH_API_BASE"));
  while (!c.roles.graph_base.empty() && c.roles.graph_base.back() == '/') c.roles.graph_base.pop_back();
  if (c.roles.graph_base.rfind("http://", 0) != 0 && c.roles.graph_base.rfind("https://", 0) != 0)
    throw ConfigError("GRAPH_API_BASE", "'" + c.roles.graph_base + "' must start with https:// (or http://)");
  if (raw.is_set("GRAPH_ACCESS_TOKEN")) c.roles.graph_token = str("GRAPH_ACCESS_TOKEN");
  if (auto file = raw.get("GRAPH_ACCESS_TOKEN_FILE"); file && !file->empty())
    c.roles.graph_token = read_secret_file("GRAPH_ACCESS_TOKEN_FILE", *file);
  c.roles.graph_timeout = std::chrono::seconds(integer("GRAPH_TIMEOUT", 1, 300, " (seconds)"));
  c.roles.graph_attempts = static_cast<int>(integer("GRAPH_RETRY_ATTEMPTS", 1, 100, ""));
  c.roles.profile_ttl = std::chrono::seconds(integer("PROFILE_TTL", 0, kMaxSeconds, " (seconds)"));
  c.roles.media_dir = trim(str("MEDIA_DIR"));
  if (c.roles.media_dir.empty()) throw ConfigError("MEDIA_DIR", "is empty");
  c.roles.media_max_bytes = integer("MEDIA_MAX_BYTES", 1, 1LL << 40, " (bytes)");
  c.roles.media_connect_timeout = std::chrono::seconds(integer("MEDIA_CONNECT_TIMEOUT", 1, 600, " (seconds)"));
  c.roles.media_timeout = std::chrono::seconds(integer("MEDIA_TIMEOUT", 1, 3600, " (seconds)"));
  c.roles.media_max_redirects = static_cast<int>(integer("MEDIA_MAX_REDIRECTS", 0, 50, ""));
  c.roles.reply_rules_path = trim(str("REPLY_RULES_PATH"));
  c.worker.metrics_bind = trim(str("METRICS_BIND"));
  if (c.worker.metrics_bind.empty()) throw ConfigError("METRICS_BIND", "is empty");
  if (c.worker.concurrency > c.pool.size + c.pool.max_overflow) {
    throw ConfigError("WORKER_CONCURRENCY",
                      std::to_string(c.worker.concurrency) + " threads cannot be served by DB_POOL_SIZE + DB_MAX_OVERFLOW = " +
                          std::to_string(c.pool.size + c.pool.max_overflow) +
                          " connections: every thread holds a connection while it stores a batch");
  }
  const auto slowest_batch = std::chrono::duration_cast<std::chrono::seconds>(c.retry.max_total) + c.db.query_timeout;
  if (c.queue.visibility_timeout <= slowest_batch) {
    throw ConfigError("QUEUE_VISIBILITY_TIMEOUT",
                      std::to_string(c.queue.visibility_timeout.count()) +
                          " s must exceed the slowest batch, DB_RETRY_MAX_TOTAL_MS + DB_QUERY_TIMEOUT = " +
                          std::to_string(slowest_batch.count()) +
                          " s, or a healthy consumer's entries would be reclaimed while it works on them");
  }
  return c;
}

std::vector<std::string> describe_config(const RawConfig& raw) {
  std::vector<std::string> lines;
  for (const auto& v : known_variables()) {
    auto value = raw.get(v.name);
    std::string shown;
    if (!value || value->empty()) {
      shown = "";
    } else if (v.secret) {
      shown = "<redacted>";
    } else if (v.name == "REDIS_URL") {
      shown = redact_url_password(*value);
    } else {
      shown = *value;
    }
    lines.push_back(v.name + "=" + shown + "  # " + to_string(raw.origin(v.name)));
  }
  return lines;
}

}  // namespace hm
