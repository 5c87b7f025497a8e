// parse_config: validates the layered raw values and converts them into typed
// options, one step per section, in a fixed order (the first bad value wins).
#include "config/config.h"

#include <algorithm>
#include <iterator>

#include "config/database_security.h"
#include "config/database_url.h"
#include "core/destination.h"
#include "config/values.h"
#include "config/webhook_config.h"
#include "redis/redis_url.h"

namespace hm {
namespace {

using config::parse_bool;
using config::parse_integer;
using config::read_secret_file;
using config::trim;
using config::upper;

constexpr long long kMaxSeconds = 365LL * 24 * 3600;

// Typed reads of the winning raw values.
class Values {
 public:
  explicit Values(const RawConfig& raw) : raw_(raw) {}
  // The value, "" when unset.
  std::string str(const char* name) const { return raw_.get(name).value_or(""); }
  // The value trimmed; ConfigError "is empty" when nothing is left.
  std::string required(const char* name) const {
    std::string s = trim(str(name));
    if (s.empty()) throw ConfigError(name, "is empty");
    return s;
  }
  long long integer(const char* name, long long min, long long max, const char* unit) const {
    return parse_integer(name, str(name), min, max, unit);
  }
  std::chrono::seconds seconds(const char* name, long long min, long long max) const {
    return std::chrono::seconds(integer(name, min, max, " (seconds)"));
  }
  std::chrono::milliseconds millis(const char* name, long long min, long long max) const {
    return std::chrono::milliseconds(integer(name, min, max, " (milliseconds)"));
  }
  bool boolean(const char* name) const { return parse_bool(name, str(name)); }
  bool is_set(const char* name) const { return raw_.is_set(name); }
  // The contents of the file named by `file_variable`, if that is set.
  std::optional<std::string> secret_file(const char* file_variable) const {
    auto file = raw_.get(file_variable);
    if (!file || file->empty()) return std::nullopt;
    return read_secret_file(file_variable, *file);
  }
  const RawConfig& raw() const { return raw_; }

 private:
  const RawConfig& raw_;
};

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

// Where the database is and who connects: DATABASE_URL first, then any DB_*
// variable explicitly set overrides its part.
DbOptions parse_db_connection(const Values& v) {
  DbOptions db;
  std::optional<std::string> url_ssl_mode;
  if (auto url = v.raw().get("DATABASE_URL"); url && !trim(*url).empty()) {
    const config::DatabaseUrl p = config::parse_database_url(trim(*url));
    db.user = p.user;
    if (p.password) db.password = *p.password;
    db.host = p.host;
    if (p.port) db.port = *p.port;
    db.name = p.db;
    if (p.socket) db.socket = *p.socket;
    url_ssl_mode = p.ssl_mode;
  } else {
    db.host = v.str("DB_HOST");
    db.port = static_cast<int>(v.integer("DB_PORT", 1, 65535, ""));
    db.name = v.str("DB_NAME");
    db.user = v.str("DB_USER");
  }
  if (v.is_set("DB_HOST")) db.host = v.str("DB_HOST");
  if (v.is_set("DB_PORT")) db.port = static_cast<int>(v.integer("DB_PORT", 1, 65535, ""));
  if (v.is_set("DB_NAME")) db.name = v.str("DB_NAME");
  if (v.is_set("DB_USER")) db.user = v.str("DB_USER");
  if (v.is_set("DB_SOCKET")) db.socket = v.str("DB_SOCKET");
  if (v.is_set("DB_PASSWORD")) db.password = v.str("DB_PASSWORD");
  if (auto password = v.secret_file("DB_PASSWORD_FILE")) db.password = *password;

  if (db.host.empty() && db.socket.empty()) throw ConfigError("DB_HOST", "is empty and DB_SOCKET is not set");
  if (db.name.empty()) throw ConfigError("DB_NAME", "is empty");
  if (db.name.find_first_of("`'\"\\ ") != std::string::npos)
    throw ConfigError("DB_NAME", "'" + db.name + "' holds a quote, backslash or space");
  if (db.user.empty()) throw ConfigError("DB_USER", "is empty");
  config::parse_db_tls(v.raw(), url_ssl_mode, db);
  return db;
}

PoolOptions parse_pool(const Values& v) {
  PoolOptions pool;
  pool.size = static_cast<int>(v.integer("DB_POOL_SIZE", 1, 10000, " (connections)"));
  pool.max_overflow = static_cast<int>(v.integer("DB_MAX_OVERFLOW", 0, 10000, " (connections)"));
  pool.timeout = v.seconds("DB_POOL_TIMEOUT", 0, kMaxSeconds);
  pool.recycle = v.seconds("DB_POOL_RECYCLE", 0, kMaxSeconds);
  pool.pre_ping = v.seconds("DB_POOL_PRE_PING", 0, kMaxSeconds);
  return pool;
}

// What every session gets: timeouts and the isolation level.
void parse_db_session(const Values& v, DbOptions& db) {
  db.query_timeout = v.seconds("DB_QUERY_TIMEOUT", 1, 86400);
  db.connect_timeout = v.seconds("DB_CONNECT_TIMEOUT", 1, 3600);
  db.lock_wait_timeout = v.seconds("DB_LOCK_WAIT_TIMEOUT", 1, 86400);
  if (db.lock_wait_timeout >= db.query_timeout) {
    throw ConfigError("DB_LOCK_WAIT_TIMEOUT",
                      std::to_string(db.lock_wait_timeout.count()) +
                          " must be below DB_QUERY_TIMEOUT (" + std::to_string(db.query_timeout.count()) +
                          "): the server must give up a lock wait before the client gives up the statement");
  }
  db.isolation = parse_isolation(v.str("DB_ISOLATION_LEVEL"));
}

RetryOptions parse_retry(const Values& v) {
  RetryOptions retry;
  retry.max_attempts = static_cast<int>(v.integer("DB_RETRY_ATTEMPTS", 1, 1000, ""));
  retry.base_delay = v.millis("DB_RETRY_BASE_MS", 1, 600000);
  retry.max_delay = v.millis("DB_RETRY_MAX_MS", 1, 3600000);
  retry.max_total = v.millis("DB_RETRY_MAX_TOTAL_MS", 0, 86400000);
  if (retry.max_delay < retry.base_delay) throw ConfigError("DB_RETRY_MAX_MS", "must not be below DB_RETRY_BASE_MS");
  return retry;
}

// The file source's dead-letter file and the size limit of one delivery.
void parse_ingest_limits(const Values& v, IngestOptions& ingest) {
  ingest.dead_letter_path = v.str("DEAD_LETTER_PATH");
  if (ingest.dead_letter_path.empty()) throw ConfigError("DEAD_LETTER_PATH", "is empty");
  ingest.max_delivery_bytes =
      static_cast<std::size_t>(v.integer("MAX_DELIVERY_BYTES", 64, 64LL * 1024 * 1024, " (bytes)"));
}

LogOptions parse_log(const Values& v) {
  LogOptions log;
  log.level = trim(v.str("LOG_LEVEL"));
  static const char* levels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (std::none_of(std::begin(levels), std::end(levels), [&](const char* l) { return log.level == l; }))
    throw ConfigError("LOG_LEVEL", "'" + log.level + "' is not one of trace, debug, info, warn, error, critical, off");
  const std::string format = trim(v.str("LOG_FORMAT"));
  if (format != "text" && format != "json") throw ConfigError("LOG_FORMAT", "'" + format + "' is not text or json");
  log.format = format == "json" ? LogOptions::Format::kJson : LogOptions::Format::kText;
  return log;
}

Role worker_role(const Values& v) {
  const std::string name = trim(v.str("WORKER_ROLE"));
  const std::optional<Role> role = parse_role(name);
  if (!role) throw ConfigError("WORKER_ROLE", "'" + name + "' is not one of ingest, reply, enrich, media, webhook");
  return *role;
}

// Caps and trims of the streams, and the clean-up of idle consumers.
void parse_retention(const Values& v, QueueOptions& q) {
  q.unconsumed_max_entries = v.integer("QUEUE_UNCONSUMED_MAX_ENTRIES", 0, 1000000000, " (entries)");
  q.retention_interval = v.seconds("QUEUE_RETENTION_INTERVAL", 0, 86400);
  q.consumer_idle_delete = v.seconds("QUEUE_CONSUMER_IDLE_DELETE", 0, kMaxSeconds);
  if (q.consumer_idle_delete.count() > 0 && q.consumer_idle_delete.count() < 60)
    throw ConfigError("QUEUE_CONSUMER_IDLE_DELETE", std::to_string(q.consumer_idle_delete.count()) +
                                                        " is too small: 0 (never) or at least 60 (seconds)");
  q.dead_letter_max_entries = v.integer("DEAD_LETTER_MAX_ENTRIES", 0, 1000000000, " (entries)");
  q.dead_letter_max_age = v.seconds("DEAD_LETTER_MAX_AGE", 0, 10 * kMaxSeconds);
}

// Redis and the role's stream; the stream names default from the role.
QueueOptions parse_queue(const Values& v, Role role) {
  QueueOptions q;
  q.redis_url = trim(v.str("REDIS_URL"));
  if (q.redis_url.empty()) throw ConfigError("REDIS_URL", "is empty");
  redis::parse_redis_url(q.redis_url);  // throws ConfigError naming REDIS_URL
  if (v.is_set("REDIS_PASSWORD")) q.redis_password = v.str("REDIS_PASSWORD");
  if (auto password = v.secret_file("REDIS_PASSWORD_FILE")) q.redis_password = *password;
  q.redis_timeout = v.seconds("REDIS_TIMEOUT", 1, 3600);
  q.prefix = trim(v.str("QUEUE_STREAM_PREFIX"));
  q.stream = trim(v.str("QUEUE_STREAM"));
  if (q.stream.empty()) q.stream = q.prefix + to_string(role);
  q.group = v.required("QUEUE_GROUP");
  q.dead_letter_stream = trim(v.str("QUEUE_DEAD_LETTER_STREAM"));
  if (q.dead_letter_stream.empty()) q.dead_letter_stream = q.stream + ":dead";
  if (q.dead_letter_stream == q.stream) throw ConfigError("QUEUE_DEAD_LETTER_STREAM", "must differ from QUEUE_STREAM");
  q.consumer = trim(v.str("CONSUMER_NAME"));
  q.visibility_timeout = v.seconds("QUEUE_VISIBILITY_TIMEOUT", 1, 86400);
  q.max_deliveries = static_cast<int>(v.integer("QUEUE_MAX_DELIVERIES", 1, 1000000, ""));
  q.block = v.millis("QUEUE_BLOCK_MS", 1, 60000);
  if (q.block >= q.redis_timeout)
    throw ConfigError("QUEUE_BLOCK_MS", std::to_string(q.block.count()) + " must be below REDIS_TIMEOUT (" +
                                            std::to_string(q.redis_timeout.count()) +
                                            " s): a blocked read would look like a dead connection");
  parse_retention(v, q);
  return q;
}

// INGEST_FAN_OUT_ROLES: auto, none, or a comma list of enrich, media, reply.
std::vector<Role> parse_fan_out_roles(const Values& v) {
  const std::string raw = trim(v.str("INGEST_FAN_OUT_ROLES"));
  if (raw == "auto") return {Role::kEnrich, Role::kMedia, Role::kReply};
  if (raw == "none") return {};
  std::vector<Role> roles;
  std::size_t from = 0;
  for (;;) {
    const std::size_t comma = raw.find(',', from);
    const std::string name = trim(raw.substr(from, comma == std::string::npos ? std::string::npos : comma - from));
    const std::optional<Role> role = parse_role(name);
    if (!role || *role == Role::kIngest)
      throw ConfigError("INGEST_FAN_OUT_ROLES", "'" + name + "' is not one of enrich, media, reply (or use auto or none)");
    if (std::find(roles.begin(), roles.end(), *role) == roles.end()) roles.push_back(*role);
    if (comma == std::string::npos) break;
    from = comma + 1;
  }
  return roles;
}

// INGEST_BATCH_SIZE (per_transaction), INGEST_BATCH_LINGER_MS and
// QUEUE_READ_COUNT (read_count: at least per_transaction; by default
// kDefaultReadCount or per_transaction when larger, so that the per-message
// path pays one fast-path check, one read back and one XACK per read, not per
// message, while each message still commits on its own).
void parse_batching(const Values& v, IngestOptions& ingest) {
  ingest.per_transaction = static_cast<std::size_t>(v.integer("INGEST_BATCH_SIZE", 1, 1000, " (entries)"));
  ingest.batch_linger = v.millis("INGEST_BATCH_LINGER_MS", 0, 10000);
  ingest.read_count = std::max(kDefaultReadCount, ingest.per_transaction);
  if (!trim(v.str("QUEUE_READ_COUNT")).empty()) {
    ingest.read_count = static_cast<std::size_t>(v.integer("QUEUE_READ_COUNT", 1, 1000, " (entries)"));
    if (ingest.read_count < ingest.per_transaction)
      throw ConfigError("QUEUE_READ_COUNT", std::to_string(ingest.read_count) + " must be at least INGEST_BATCH_SIZE (" +
                                                std::to_string(ingest.per_transaction) +
                                                "): a batch is made of the entries of one read");
  }
}

// Threads, shutdown and the HTTP port (METRICS_BIND is read after the roles).
WorkerOptions parse_worker(const Values& v) {
  WorkerOptions w;
  w.concurrency = static_cast<int>(v.integer("WORKER_CONCURRENCY", 1, 256, " (threads)"));
  w.shutdown_timeout = v.seconds("SHUTDOWN_TIMEOUT", 1, 3600);
  w.metrics_port = static_cast<int>(v.integer("METRICS_PORT", 0, 65535, ""));
  return w;
}

// MEDIA_ALLOWED_HOSTS: comma-separated host suffixes or exact IP addresses.
std::vector<std::string> parse_allowed_hosts(const Values& v) {
  const std::string raw = v.str("MEDIA_ALLOWED_HOSTS");
  std::vector<std::string> hosts;
  std::size_t from = 0;
  for (;;) {
    const std::size_t comma = raw.find(',', from);
    const std::string entry = raw.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
    std::string why;
    auto host = parse_allowed_host(entry, &why);
    if (!host) throw ConfigError("MEDIA_ALLOWED_HOSTS", why);
    hosts.push_back(*host);
    if (comma == std::string::npos) break;
    from = comma + 1;
  }
  return hosts;
}

// The Graph API (enrich, reply), the media download and the reply rules.
RoleOptions parse_roles(const Values& v) {
  RoleOptions r;
  r.graph_base = trim(v.str("GRAPH_API_BASE"));
  while (!r.graph_base.empty() && r.graph_base.back() == '/') r.graph_base.pop_back();
  if (r.graph_base.rfind("http://", 0) != 0 && r.graph_base.rfind("https://", 0) != 0)
    throw ConfigError("GRAPH_API_BASE", "'" + r.graph_base + "' must start with https:// (or http://)");
  if (v.is_set("GRAPH_ACCESS_TOKEN")) r.graph_token = v.str("GRAPH_ACCESS_TOKEN");
  if (auto token = v.secret_file("GRAPH_ACCESS_TOKEN_FILE")) r.graph_token = *token;
  r.graph_tokens_file = trim(v.str("GRAPH_ACCESS_TOKENS_FILE"));
  r.graph_timeout = v.seconds("GRAPH_TIMEOUT", 1, 300);
  r.graph_retry_attempts = static_cast<int>(v.integer("GRAPH_RETRY_ATTEMPTS", 1, 100, ""));
  r.profile_ttl = v.seconds("PROFILE_TTL", 0, kMaxSeconds);
  r.reply_sending_timeout = v.seconds("REPLY_SENDING_TIMEOUT", 1, kMaxSeconds);
  r.graph_rate_limit_pause = v.seconds("GRAPH_RATE_LIMIT_PAUSE", 1, 86400);
  r.graph_auth_pause = v.seconds("GRAPH_AUTH_PAUSE", 1, 86400);
  r.reply_housekeeping_interval = v.seconds("REPLY_HOUSEKEEPING_INTERVAL", 1, 3600);
  r.media_dir = v.required("MEDIA_DIR");
  r.media_max_bytes = v.integer("MEDIA_MAX_BYTES", 1, 1LL << 40, " (bytes)");
  r.media_connect_timeout = v.seconds("MEDIA_CONNECT_TIMEOUT", 1, 600);
  r.media_timeout = v.seconds("MEDIA_TIMEOUT", 1, 3600);
  r.media_max_redirects = static_cast<int>(v.integer("MEDIA_MAX_REDIRECTS", 0, 50, ""));
  r.media_allowed_hosts = parse_allowed_hosts(v);
  r.media_allow_http = v.boolean("MEDIA_ALLOW_HTTP");
  r.media_allow_private_addresses = v.boolean("MEDIA_ALLOW_PRIVATE_ADDRESSES");
  r.reply_rules_path = trim(v.str("REPLY_RULES_PATH"));
  return r;
}

// A reply still sending (retrying a request that never left) must not be
// declared unknown under its worker: its calls, waits and the database steps
// around them must fit.
void check_reply_sending_timeout(const Config& c) {
  const auto db_step = std::chrono::duration_cast<std::chrono::seconds>(c.retry.max_total) + c.db.query_timeout;
  const auto longest_send = c.roles.graph_timeout * c.roles.graph_retry_attempts +
                            std::chrono::duration_cast<std::chrono::seconds>(http_retry_defaults().max_total) + 2 * db_step;
  if (c.roles.reply_sending_timeout <= longest_send)
    throw ConfigError("REPLY_SENDING_TIMEOUT",
                      std::to_string(c.roles.reply_sending_timeout.count()) +
                          " s is not longer than a send with its retries and the database steps around it "
                          "(GRAPH_TIMEOUT x GRAPH_RETRY_ATTEMPTS + 30 s + 2 x (DB_RETRY_MAX_TOTAL_MS + DB_QUERY_TIMEOUT) = " +
                          std::to_string(longest_send.count()) + " s)");
}

// Rules that tie sections together.
void check_across_sections(const Config& c) {
  check_reply_sending_timeout(c);
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
}

}  // namespace

Config parse_config(const RawConfig& raw) {
  const Values v(raw);
  Config c;
  c.db = parse_db_connection(v);
  c.pool = parse_pool(v);
  parse_db_session(v, c.db);
  c.migrate_db = config::parse_migrate_account(raw, c.db);
  c.retry = parse_retry(v);
  parse_ingest_limits(v, c.ingest);
  c.log = parse_log(v);
  c.webhook = config::parse_webhook(raw);
  c.role = c.webhook.enabled ? Role::kIngest : worker_role(v);  // the receiver writes to the ingest stream
  c.queue = parse_queue(v, c.role);
  parse_batching(v, c.ingest);
  c.ingest.fan_out_roles = parse_fan_out_roles(v);
  c.worker = parse_worker(v);
  c.roles = parse_roles(v);
  c.worker.metrics_bind = v.required("METRICS_BIND");
  config::check_bind_address("METRICS_BIND", c.worker.metrics_bind);
  check_across_sections(c);
  return c;
}

}  // namespace hm
