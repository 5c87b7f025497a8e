#pragma once
// Configuration: one table of known variables, one loader that layers
// command-line flags over the environment over an optional file over the
// defaults, and one validation step that turns raw strings into typed options.
//
// Every rejected value raises ConfigError naming the variable; callers exit 2.
// Secret values (passwords, URLs carrying a password) are never put into an
// error message, a log line or the printed configuration.

#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/retry.h"
#include "hm/config_error.h"
#include "hm/role.h"
#include "mysql/options.h"
#include "ops/logging.h"
#include "pool/connection_pool.h"

namespace hm {

// One variable the binary knows. The table of these (known_variables()) drives
// the environment, the config file, the flags, `hm-worker config` and --help.
struct VariableSpec {
  std::string name;           // e.g. "DB_POOL_SIZE"
  std::string default_value;  // as text; empty means unset
  std::string help;           // one line: meaning and unit
  bool secret = false;        // never printed, never accepted as a flag
};

const std::vector<VariableSpec>& known_variables();
const VariableSpec* find_variable(const std::string& name);
// "DB_POOL_SIZE" -> "db-pool-size"
std::string flag_name(const std::string& variable);

// QUEUE_READ_COUNT when unset and INGEST_BATCH_SIZE is smaller.
inline constexpr std::size_t kDefaultReadCount = 50;

struct IngestOptions {
  std::string dead_letter_path = "dead-letters.jsonl";
  // Largest accepted delivery (one JSONL line), bytes.
  std::size_t max_delivery_bytes = std::size_t{1024} * 1024;
  // INGEST_BATCH_SIZE: messages stored together in one transaction; 1 = the
  // seed's per-message path.
  std::size_t per_transaction = 100;
  // QUEUE_READ_COUNT: entries taken from the queue per read (XREADGROUP
  // COUNT), at least per_transaction; a read's entries are stored
  // per_transaction at a time and acknowledged together.
  std::size_t read_count = 100;
  // After the first entry of a batch, how long to wait for the batch to fill
  // (per_transaction entries, never for a whole read). 0 = do not wait.
  std::chrono::milliseconds batch_linger{20};
  // INGEST_FAN_OUT_ROLES: the roles jobs are published to. `auto` (the
  // default) is every role: a stream with a consumer group gets every job, one
  // without (a role not deployed) only the newest QUEUE_UNCONSUMED_MAX_ENTRIES.
  std::vector<Role> fan_out_roles = {Role::kEnrich, Role::kMedia, Role::kReply};
};

// The Redis Streams queue of one role.
struct QueueOptions {
  std::string redis_url = "redis://127.0.0.1:6379/0";  // a password in it is never printed
  std::string redis_password;  // secret; REDIS_PASSWORD(_FILE), wins over one in the URL
  std::chrono::seconds redis_timeout{5};  // connect and command timeout
  std::string prefix = "hm:";             // role R's stream is <prefix>R
  std::string stream;                     // default <prefix><role>
  std::string group = "hm-worker";
  std::string dead_letter_stream;         // default <stream>:dead
  std::string consumer;                   // default $HOSTNAME
  // An entry unacknowledged this long is reclaimed from its (presumed dead) consumer.
  std::chrono::seconds visibility_timeout{120};
  int max_deliveries = 10;                // then dead-lettered
  std::chrono::milliseconds block{1000};  // XREADGROUP BLOCK
  // Retention (redis/stream_retention.h).
  long long unconsumed_max_entries = 10000;  // jobs kept in a role stream without a group; 0 = none
  std::chrono::seconds retention_interval{60};  // trims and consumer clean-up; 0 = off
  std::chrono::seconds consumer_idle_delete{3600};  // idle consumers (nothing pending) deleted; 0 = never
  long long dead_letter_max_entries = 10000;  // 0 = no count limit
  std::chrono::seconds dead_letter_max_age{14 * 86400};  // 0 = no age limit
};

struct WorkerOptions {
  int concurrency = 2;  // threads, each with its own Redis connection
  // After SIGTERM, how long in-flight batches may take before the process gives up.
  std::chrono::seconds shutdown_timeout{20};
  int metrics_port = 9400;  // /metrics, /healthz, /readyz; 0 = none
  std::string metrics_bind = "0.0.0.0";
};

// The enrich, media and reply roles.
struct RoleOptions {
  std::string graph_base = "https://graph.facebook.com/v21.0";
  std::string graph_token;  // secret
  std::string graph_tokens_file;  // GRAPH_ACCESS_TOKENS_FILE: account id -> token (JSON)
  std::chrono::seconds graph_timeout{10};
  int graph_retry_attempts = 4;
  std::chrono::seconds profile_ttl{86400};
  std::chrono::seconds reply_sending_timeout{300};
  std::chrono::seconds graph_rate_limit_pause{60};        // GRAPH_RATE_LIMIT_PAUSE
  std::chrono::seconds graph_auth_pause{300};             // GRAPH_AUTH_PAUSE
  std::chrono::seconds reply_housekeeping_interval{10};   // REPLY_HOUSEKEEPING_INTERVAL
  std::string media_dir = "/var/lib/hm-worker/media";
  long long media_max_bytes = 25LL * 1024 * 1024;
  std::chrono::seconds media_connect_timeout{5};
  std::chrono::seconds media_timeout{60};
  int media_max_redirects = 5;
  std::vector<std::string> media_allowed_hosts;  // MEDIA_ALLOWED_HOSTS, normalized; empty allows nothing
  bool media_allow_http = false;                 // MEDIA_ALLOW_HTTP
  bool media_allow_private_addresses = false;    // MEDIA_ALLOW_PRIVATE_ADDRESSES
  std::string reply_rules_path;  // empty: no reply jobs, and the reply role refuses to start
};

// The webhook receiver (WORKER_ROLE=webhook). It is not a Role: it consumes
// no stream and has no jobs; it writes to the ingest stream (queue.stream,
// whose role is ingest).
struct WebhookSettings {
  bool enabled = false;  // WORKER_ROLE=webhook
  int port = 8080;       // WEBHOOK_PORT
  std::string bind = "0.0.0.0";
  std::string path = "/webhook";
  std::string verify_token_file;  // WEBHOOK_VERIFY_TOKEN_FILE
  std::string app_secret_file;    // APP_SECRET_FILE: one secret per line
  int redis_replicas = 0;         // WEBHOOK_REDIS_REPLICAS: WAIT for this many; 0 = no WAIT
  std::chrono::milliseconds redis_wait{1000};  // WEBHOOK_REDIS_WAIT_MS
  long long max_backlog = 100000;  // WEBHOOK_MAX_BACKLOG: entries; 0 = no limit
  int threads = 64;                // WEBHOOK_THREADS
  std::chrono::seconds drain{5};   // WEBHOOK_DRAIN_SECONDS: served while unready after SIGTERM
};

struct Config {
  DbOptions db;
  // What `migrate` connects with: db, with DB_MIGRATE_USER and its password
  // when DB_MIGRATE_USER is set (a DDL-capable account; the workers' own
  // account then needs only SELECT, INSERT, UPDATE, DELETE).
  DbOptions migrate_db;
  PoolOptions pool;
  RetryOptions retry;
  IngestOptions ingest;
  QueueOptions queue;
  WorkerOptions worker;
  RoleOptions roles;
  LogOptions log;
  Role role = Role::kIngest;  // WORKER_ROLE (kIngest when it is "webhook")
  WebhookSettings webhook;
};

// Where a raw value came from, for `hm-worker config`.
enum class ValueOrigin { kDefault, kFile, kEnvironment, kFlag };
const char* to_string(ValueOrigin origin);

struct RawValue {
  std::string value;
  ValueOrigin origin = ValueOrigin::kDefault;
};

// Raw layered values, before validation.
class RawConfig {
 public:
  // Applies a layer: later calls with a higher origin win over lower ones.
  void set(const std::string& name, std::string value, ValueOrigin origin);
  // The winning value, or nullopt when the variable has no value in any layer
  // and no default.
  std::optional<std::string> get(const std::string& name) const;
  ValueOrigin origin(const std::string& name) const;
  bool is_set(const std::string& name) const;  // set by a layer other than default

 private:
  std::map<std::string, RawValue> values_;
};

// Reads KEY=VALUE lines (# comments, optional surrounding quotes). An unknown
// key is a ConfigError naming the file and line.
std::map<std::string, std::string> read_config_file(const std::string& path);

// Looks up environment variables; injectable for tests.
using EnvLookup = std::optional<std::string> (*)(const char* name);
std::optional<std::string> process_env(const char* name);

// Builds the layers: defaults, then file (if path non-empty), then environment,
// then flags (already keyed by variable name).
RawConfig layer_config(const std::string& config_file, EnvLookup env,
                       const std::map<std::string, std::string>& flags);

// Validates and converts. Throws ConfigError on the first bad value.
Config parse_config(const RawConfig& raw);

// "name=value" lines for `hm-worker config`, secrets shown as "<redacted>".
std::vector<std::string> describe_config(const RawConfig& raw);

// The names of the process' environment variables.
std::vector<std::string> environment_names();
// Of `names`, those that look like ours (they start with the prefix of a
// known variable: DB_, REDIS_, QUEUE_...) but are not known: a typo such as
// DB_POOL_SIZ, otherwise silently ignored. Kubernetes' service links
// (REDIS_PORT, REDIS_SERVICE_HOST, REDIS_PORT_6379_TCP_ADDR... for a Service
// named redis) are not reported. Sorted.
std::vector<std::string> unknown_variables(const std::vector<std::string>& names);

}  // namespace hm
