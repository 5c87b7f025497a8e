#pragma once
// `hm-worker doctor`: the seed's monitoring section as one check of the live
// server. Lock waits (MariaDB's information_schema.INNODB_LOCK_WAITS, MySQL
// 8's performance_schema.data_lock_waits, whichever the server has),
// statements running long, connections against the fleet's budget, the
// session a worker connection really gets, and the UNIQUE index.

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "mysql/options.h"
#include "mysql/schema.h"
#include "mysql/session.h"

namespace hm::mysql {

struct DoctorOptions {
  int long_query_seconds = 5;        // statements running longer than this are listed
  std::map<std::string, int> replicas = {{"ingest", 1}, {"reply", 1}, {"enrich", 1}, {"media", 1}};
  // Connections per pod besides the pool: the readiness probe's own connection.
  int extra_per_pod = 1;
  // Connections kept free for administrators and other clients.
  int reserved_connections = 10;
  // The pool every worker pod opens (DB_POOL_SIZE and DB_MAX_OVERFLOW, as in
  // PoolOptions): a pod may hold pool_size + pool_max_overflow + extra_per_pod
  // connections at once.
  int pool_size = 10;
  int pool_max_overflow = 5;
  // The session a worker connection must get (DB_ISOLATION_LEVEL and
  // DB_LOCK_WAIT_TIMEOUT, seconds, as in DbOptions); the character set must be
  // utf8mb4.
  IsolationLevel isolation = IsolationLevel::kReadCommitted;
  std::chrono::seconds lock_wait_timeout{5};
  SslMode ssl_mode = SslMode::kPreferred;  // DB_SSL_MODE, for the tls finding
};

struct LockWait {
  std::string waiting_thread;
  std::string waiting_query;
  std::string blocking_thread;
  std::string blocking_query;
  long long wait_seconds = 0;
};

struct LongQuery {
  std::string id, user, db, command, state, info;
  long long seconds = 0;
};

struct Finding {
  std::string check;   // lock_waits, long_queries, connections, session, tls, schema, unique_index
  bool attention = false;
  std::string detail;
};

struct DoctorReport {
  std::string server_version;
  std::string lock_wait_source;  // the table the lock waits were read from
  std::vector<LockWait> lock_waits;
  std::vector<LongQuery> long_queries;
  long long threads_connected = 0;
  long long max_used_connections = 0;
  long long max_connections = 0;
  long long fleet_budget = 0;  // sum over roles of replicas x (pool size + overflow + extra)
  SessionSettings session;
  std::string tls_cipher;  // Ssl_cipher of the doctor's (worker-configured) session; "" = not encrypted
  // False when the account lacks PROCESS: lock waits unseen, long statements
  // only among its own sessions.
  bool sees_all_sessions = true;
  IndexCheck index;
  std::vector<Finding> findings;
  bool attention() const;
};

// Runs every check on `session` (a worker-configured connection). Throws
// DbError only when the server cannot be asked at all.
DoctorReport run_doctor(Session& session, const DoctorOptions& options);

// Connections one pod may hold at once: its pool (DB_POOL_SIZE), the overflow
// (DB_MAX_OVERFLOW) and the connections besides the pool (the readiness
// probe's). The fleet's budget is the sum of this over every pod; it must
// stay at or below max_connections less DoctorOptions::reserved_connections.
// deploy/'s test computes the shipped manifests' budget with it.
long long pod_connections(int pool_size, int pool_max_overflow, int extra_per_pod);

// "ingest=3,reply=2" -> map; throws ConfigError naming --replicas.
std::map<std::string, int> parse_replicas(const std::string& text);

}  // namespace hm::mysql
