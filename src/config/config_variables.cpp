// The table of every variable the binary knows: name, default, help line,
// and whether it is a secret. It drives the loader, `hm-worker config` and --help.
#include <cctype>

#include "config/config.h"

namespace hm {

namespace {

// The queue's retention and the ingest role's fan-out (redis/stream_retention.h).
std::vector<VariableSpec> retention_variables() {
  return {
      {"QUEUE_UNCONSUMED_MAX_ENTRIES", "10000", "a role stream without a consumer group (role not deployed) keeps about this many of the newest jobs (XADD MAXLEN ~), for a role deployed later; 0 = publish no job to it"},
      {"QUEUE_RETENTION_INTERVAL", "60", "seconds between retention runs (one process of the fleet at a time): role and ingest streams trimmed of what every group acknowledged, dead letters capped, idle consumers deleted; 0 = off"},
      {"QUEUE_CONSUMER_IDLE_DELETE", "3600", "seconds a consumer with nothing pending may stay idle before retention deletes it from its group (pods that are gone); 0 = never, else at least 60"},
      {"DEAD_LETTER_MAX_ENTRIES", "10000", "dead-letter streams are capped at this many entries (the oldest go first); 0 = no count limit"},
      {"DEAD_LETTER_MAX_AGE", "1209600", "seconds a dead letter is kept (default 14 days); 0 = no age limit"},
      {"INGEST_FAN_OUT_ROLES", "auto", "roles the ingest role publishes jobs to: auto (every role; a stream without a consumer group gets only the newest QUEUE_UNCONSUMED_MAX_ENTRIES), none, or a comma list of enrich, media, reply"},
  };
}

// The webhook receiver's (WORKER_ROLE=webhook).
std::vector<VariableSpec> webhook_variables() {
  return {
      {"WEBHOOK_PORT", "8080", "webhook receiver: port of the callback endpoint (not METRICS_PORT)"},
      {"WEBHOOK_BIND", "0.0.0.0", "webhook receiver: address it binds (numeric IPv4 or IPv6)"},
      {"WEBHOOK_PATH", "/webhook", "webhook receiver: the callback path registered with Meta"},
      {"WEBHOOK_VERIFY_TOKEN_FILE", "", "webhook receiver: file holding the verify token of the subscription (a mounted Kubernetes secret)"},
      {"APP_SECRET_FILE", "", "webhook receiver: file holding the app secret(s) that sign deliveries, one per line (two during a rotation; a mounted Kubernetes secret)"},
      {"WEBHOOK_REDIS_REPLICAS", "0", "webhook receiver: replicas that must acknowledge each XADD (Redis WAIT) before 200; 0 = the primary's acknowledgement"},
      {"WEBHOOK_REDIS_WAIT_MS", "1000", "webhook receiver: WAIT timeout, milliseconds (fewer replicas by then: 503)"},
      {"WEBHOOK_MAX_BACKLOG", "100000", "webhook receiver: ingest entries not yet acknowledged above which deliveries get 503 + Retry-After (0 = no limit)"},
      {"WEBHOOK_THREADS", "64", "webhook receiver: connections served at once (a kept-alive connection holds its thread; each thread may hold one Redis connection)"},
      {"WEBHOOK_DRAIN_SECONDS", "5", "webhook receiver: after SIGTERM, seconds it keeps serving while /readyz says 503 (so the load balancer stops sending first); below SHUTDOWN_TIMEOUT"},
  };
}

std::vector<VariableSpec> core_variables() {
  return {
      {"DATABASE_URL", "", "mysql://user:password@host:port/db (?ssl-mode=MODE); DB_* variables that are set override its parts", true},
      {"DB_HOST", "127.0.0.1", "database host name or address"},
      {"DB_PORT", "3306", "database TCP port"},
      {"DB_SOCKET", "", "unix socket path; when set, DB_HOST and DB_PORT are not used"},
      {"DB_NAME", "hm", "database (schema) name"},
      {"DB_USER", "hm", "database user"},
      {"DB_PASSWORD", "", "database password", true},
      {"DB_PASSWORD_FILE", "", "file holding the database password (a mounted Kubernetes secret); wins over DB_PASSWORD"},
      {"DB_SSL_MODE", "PREFERRED", "TLS to the database: DISABLED, PREFERRED (TLS when the server offers it), REQUIRED, VERIFY_CA or VERIFY_IDENTITY (the certificate must chain to DB_SSL_CA and name DB_HOST)"},
      {"DB_SSL_CA", "", "PEM file of the CA the server's certificate must chain to (required by VERIFY_CA and VERIFY_IDENTITY)"},
      {"DB_SSL_CERT", "", "PEM client certificate, for accounts that REQUIRE X509 (with DB_SSL_KEY)"},
      {"DB_SSL_KEY", "", "private key of DB_SSL_CERT"},
      {"DB_MIGRATE_USER", "", "account `migrate` uses (needs CREATE, ALTER, INDEX, DROP, REFERENCES on the schema); default DB_USER. The workers then need only SELECT, INSERT, UPDATE, DELETE"},
      {"DB_MIGRATE_PASSWORD", "", "password of DB_MIGRATE_USER", true},
      {"DB_MIGRATE_PASSWORD_FILE", "", "file holding the password of DB_MIGRATE_USER (a mounted Kubernetes secret); wins over DB_MIGRATE_PASSWORD"},
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
      {"REDIS_URL", "redis://127.0.0.1:6379/0",
       "redis://host:port/db or unix:///path?db=N (a password in it is never printed); no rediss://: "
       "TLS goes through a stunnel sidecar (deploy/components/redis-tls)"},
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
      {"QUEUE_READ_COUNT", "", "entries taken per read, stored INGEST_BATCH_SIZE at a time and acknowledged together (default 50, or INGEST_BATCH_SIZE when larger; at least that)"},
      {"INGEST_BATCH_LINGER_MS", "20", "how long to wait to fill a batch (INGEST_BATCH_SIZE entries) after its first entry, milliseconds"},
      {"WORKER_CONCURRENCY", "2", "worker threads per process, each with its own Redis connection"},
      {"SHUTDOWN_TIMEOUT", "20", "seconds the whole stop may take after SIGTERM; batches still running then are abandoned, exit 1 (keep below the pod's grace period)"},
      {"GRAPH_API_BASE", "https://graph.facebook.com/v21.0", "Graph API address with its version, no trailing slash"},
      {"GRAPH_ACCESS_TOKEN", "", "Graph API access token (enrich profiles, reply sends)", true},
      {"GRAPH_ACCESS_TOKEN_FILE", "", "file holding the access token (a mounted Kubernetes secret); wins over GRAPH_ACCESS_TOKEN"},
      {"GRAPH_ACCESS_TOKENS_FILE", "", "JSON file {\"<account id>\": \"<token>\"} (a mounted Kubernetes secret, re-read when it changes): each account's Page or Instagram user token; GRAPH_ACCESS_TOKEN is the fallback for accounts not in it"},
      {"GRAPH_TIMEOUT", "10", "Graph API call timeout, seconds"},
      {"GRAPH_RETRY_ATTEMPTS", "4", "tries of a Graph API call (and of a media download) on rate limits, server and network errors"},
      {"GRAPH_RATE_LIMIT_PAUSE", "60", "seconds an account's Graph API calls pause after a rate limit (its replies wait as long)"},
      {"GRAPH_AUTH_PAUSE", "300", "seconds an account's Graph API calls pause after its token or permissions were refused, unless GRAPH_ACCESS_TOKENS_FILE changes first"},
      {"PROFILE_TTL", "86400", "seconds before a contact's profile is fetched again"},
      {"REPLY_SENDING_TIMEOUT", "300", "seconds after which a reply still marked sending (its worker died mid-send) is recorded unknown; longer than a send with all its retries"},
      {"REPLY_HOUSEKEEPING_INTERVAL", "10", "seconds between two looks of the reply role for deferred replies that are due and replies left in sending"},
      {"MEDIA_DIR", "/var/lib/hm-worker/media", "where media files are stored, content-addressed by SHA-256"},
      {"MEDIA_MAX_BYTES", "26214400", "largest attachment downloaded, bytes"},
      {"MEDIA_CONNECT_TIMEOUT", "5", "seconds to connect to the CDN"},
      {"MEDIA_TIMEOUT", "60", "seconds for one whole download"},
      {"MEDIA_MAX_REDIRECTS", "5", "redirects followed for one download (each hop checked like the first)"},
      {"MEDIA_ALLOWED_HOSTS", "fbsbx.com,fbcdn.net,cdninstagram.com", "comma-separated hosts attachments may be downloaded from: a name allows its subdomains (fbcdn.net allows scontent.xx.fbcdn.net, not evilfbcdn.net), an IP address only itself; checked on every redirect"},
      {"MEDIA_ALLOW_HTTP", "false", "true: attachments over plain http too, and https->http redirects (tests with a local CDN stand-in only)"},
      {"MEDIA_ALLOW_PRIVATE_ADDRESSES", "false", "true: attachments from loopback, private (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7), link-local (169.254/16, fe80::/10) and other non-public addresses (tests with a local CDN stand-in only)"},
      {"REPLY_RULES_PATH", "", "JSON file of auto-reply rules (required by the reply role; ingest uses it to decide reply jobs)"},
      {"METRICS_PORT", "9400", "port of /metrics, /healthz and /readyz (0 = no HTTP server)"},
      {"METRICS_BIND", "0.0.0.0", "address the HTTP server binds (numeric IPv4 or IPv6)"},
      {"DEAD_LETTER_PATH", "dead-letters.jsonl", "JSONL file for deliveries that cannot be stored (file source)"},
      {"MAX_DELIVERY_BYTES", "1048576", "largest accepted delivery (one line), bytes"},
      {"LOG_LEVEL", "info", "trace, debug, info, warn, error, critical or off"},
      {"LOG_FORMAT", "text", "text or json (one JSON object per line)"},
      {"WORKER_ROLE", "ingest", "ingest, reply, enrich, media, or webhook (the HTTPS callback receiver: writes to the ingest stream)"},
  };
}

}  // namespace

const std::vector<VariableSpec>& known_variables() {
  static const std::vector<VariableSpec> vars = [] {
    std::vector<VariableSpec> all = core_variables();
    for (auto& v : webhook_variables()) all.push_back(std::move(v));
    for (auto& v : retention_variables()) all.push_back(std::move(v));
    return all;
  }();
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

}  // namespace hm
