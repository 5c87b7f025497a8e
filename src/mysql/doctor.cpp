#include "hm/config_error.h"
#include "hm/role.h"
#include "mysql/doctor.h"

#include <chrono>
#include <sstream>
#include <thread>

#include "mysql/schema.h"

namespace hm::mysql {
namespace {

constexpr int kSpecificAccessDenied = 1227;  // ER_SPECIFIC_ACCESS_DENIED_ERROR: "you need the PROCESS privilege"

std::string cell(const std::vector<std::optional<std::string>>& row, std::size_t i) {
  return i < row.size() ? row[i].value_or("") : "";
}

long long number(const std::vector<std::optional<std::string>>& row, std::size_t i) {
  const std::string v = cell(row, i);
  try {
    return v.empty() ? 0 : std::stoll(v);
  } catch (...) {
    return 0;
  }
}

bool table_exists(Session& s, const std::string& schema, const std::string& table) {
  const auto rows = s.query("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '" + schema +
                            "' AND TABLE_NAME = '" + table + "'");
  return !rows.empty() && number(rows[0], 0) > 0;
}

}  // namespace

bool DoctorReport::attention() const {
  for (const auto& f : findings)
    if (f.attention) return true;
  return false;
}

long long pod_connections(int pool_size, int pool_max_overflow, int extra_per_pod) {
  return static_cast<long long>(pool_size) + pool_max_overflow + extra_per_pod;
}

std::map<std::string, int> parse_replicas(const std::string& text) {
  std::map<std::string, int> out;
  std::istringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (part.empty()) continue;
    const auto eq = part.find('=');
    if (eq == std::string::npos) throw ConfigError("--replicas", "'" + part + "' is not ROLE=N");
    const std::string role = part.substr(0, eq);
    if (!parse_role(role))
      throw ConfigError("--replicas", "unknown role '" + role + "' (ingest, reply, enrich, media)");
    int n = 0;
    try {
      std::size_t used = 0;
      n = std::stoi(part.substr(eq + 1), &used);
      if (used != part.size() - eq - 1) throw std::invalid_argument("trailing");
    } catch (...) {
      throw ConfigError("--replicas", "'" + part.substr(eq + 1) + "' is not a number of replicas for " + role);
    }
    if (n < 0) throw ConfigError("--replicas", "replicas of " + role + " is negative");
    out[role] = n;
  }
  return out;
}

namespace {

// Lock waits: MySQL 8 removed information_schema.innodb_lock_waits.
void check_lock_waits(Session& s, DoctorReport& r) {
  std::string waits_sql;
  if (table_exists(s, "performance_schema", "data_lock_waits")) {
    r.lock_wait_source = "performance_schema.data_lock_waits";
    waits_sql =
        "SELECT r.trx_mysql_thread_id, COALESCE(r.trx_query, ''), b.trx_mysql_thread_id, COALESCE(b.trx_query, ''), "
        "TIMESTAMPDIFF(SECOND, r.trx_wait_started, NOW()) "
        "FROM performance_schema.data_lock_waits w "
        "JOIN information_schema.INNODB_TRX r ON r.trx_id = w.REQUESTING_ENGINE_TRANSACTION_ID "
        "JOIN information_schema.INNODB_TRX b ON b.trx_id = w.BLOCKING_ENGINE_TRANSACTION_ID";
  } else if (table_exists(s, "information_schema", "INNODB_LOCK_WAITS")) {
    r.lock_wait_source = "information_schema.INNODB_LOCK_WAITS";
    waits_sql =
        "SELECT r.trx_mysql_thread_id, COALESCE(r.trx_query, ''), b.trx_mysql_thread_id, COALESCE(b.trx_query, ''), "
        "TIMESTAMPDIFF(SECOND, r.trx_wait_started, NOW()) "
        "FROM information_schema.INNODB_LOCK_WAITS w "
        "JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id "
        "JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id";
  }
  // InnoDB refreshes the INNODB_TRX / lock-wait cache only when it has not been
  // read for 100 ms; a read right after another would show a stale picture.
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  if (waits_sql.empty()) {
    r.findings.push_back({"lock_waits", true, "the server has neither performance_schema.data_lock_waits nor "
                                              "information_schema.INNODB_LOCK_WAITS: cannot see lock waits"});
  } else {
    try {
      for (const auto& row : s.query(waits_sql)) {
        r.lock_waits.push_back({cell(row, 0), cell(row, 1), cell(row, 2), cell(row, 3), number(row, 4)});
      }
    } catch (const DbError& e) {
      if (e.code() != kSpecificAccessDenied) throw;
      // The workers' account (SELECT, INSERT, UPDATE, DELETE) may not read
      // other sessions' transactions: say so rather than fail.
      r.sees_all_sessions = false;
      r.findings.push_back({"lock_waits", true,
                            "cannot see lock waits: this account lacks the PROCESS privilege (GRANT PROCESS ON *.* "
                            "TO it, or run doctor as an account that has it)"});
      return;
    }
    r.findings.push_back({"lock_waits", !r.lock_waits.empty(),
                          r.lock_waits.empty() ? "no transaction is waiting for a lock"
                                               : std::to_string(r.lock_waits.size()) + " transactions wait for a lock"});
  }
}

void check_long_queries(Session& s, const DoctorOptions& o, DoctorReport& r) {
  for (const auto& row : s.query(
           "SELECT ID, USER, COALESCE(DB, ''), COMMAND, TIME, COALESCE(STATE, ''), COALESCE(LEFT(INFO, 300), '') "
           "FROM information_schema.PROCESSLIST "
           "WHERE COMMAND NOT IN ('Sleep', 'Daemon', 'Binlog Dump', 'Binlog Dump GTID', 'Slave_IO', 'Slave_SQL') "
           "AND USER NOT IN ('system user', 'event_scheduler') AND ID <> CONNECTION_ID() AND TIME > " +
           std::to_string(o.long_query_seconds) + " ORDER BY TIME DESC")) {
    r.long_queries.push_back({cell(row, 0), cell(row, 1), cell(row, 2), cell(row, 3), cell(row, 5), cell(row, 6),
                              number(row, 4)});
  }
  r.findings.push_back({"long_queries", !r.long_queries.empty(),
                        (r.long_queries.empty()
                             ? "no statement has run longer than " + std::to_string(o.long_query_seconds) + " s"
                             : std::to_string(r.long_queries.size()) + " statements running longer than " +
                                   std::to_string(o.long_query_seconds) + " s") +
                            (r.sees_all_sessions ? "" : " (among this account's own sessions only: no PROCESS privilege)")});
}

void check_connections(Session& s, const DoctorOptions& o, DoctorReport& r) {
  for (const auto& row : s.query("SHOW GLOBAL STATUS WHERE Variable_name IN ('Threads_connected', 'Max_used_connections')")) {
    if (cell(row, 0) == "Threads_connected") r.threads_connected = number(row, 1);
    if (cell(row, 0) == "Max_used_connections") r.max_used_connections = number(row, 1);
  }
  r.max_connections = number(s.query("SELECT @@GLOBAL.max_connections").at(0), 0);
  const long long per_pod = pod_connections(o.pool_size, o.pool_max_overflow, o.extra_per_pod);
  std::string per_role;
  for (const auto& [role, n] : o.replicas) {
    r.fleet_budget += n * per_pod;
    per_role += (per_role.empty() ? "" : ", ") + role + " " + std::to_string(n) + " x " + std::to_string(per_pod);
  }
  const long long usable = r.max_connections - o.reserved_connections;
  std::string detail = "fleet budget " + std::to_string(r.fleet_budget) + " (" + per_role + ") against max_connections " +
                       std::to_string(r.max_connections) + " (" + std::to_string(o.reserved_connections) +
                       " kept free); now " + std::to_string(r.threads_connected) + " connected, at most " +
                       std::to_string(r.max_used_connections) + " since start";
  bool conn_attention = false;
  if (r.fleet_budget > usable) {
    conn_attention = true;
    detail += ": the fleet can open more connections than the server allows; lower DB_POOL_SIZE/DB_MAX_OVERFLOW "
              "or replicas, or raise max_connections";
  } else if (r.max_used_connections * 10 >= r.max_connections * 9) {
    conn_attention = true;
    detail += ": connections have reached 90% of max_connections";
  }
  r.findings.push_back({"connections", conn_attention, detail});
}

void check_session(Session& s, const DoctorOptions& o, DoctorReport& r) {
  r.session = s.read_settings();
  const bool session_ok = r.session.isolation == to_server_name(o.isolation) &&
                          r.session.lock_wait_timeout == o.lock_wait_timeout.count() &&
                          r.session.character_set == "utf8mb4";
  r.findings.push_back({"session", !session_ok,
                        "a worker connection gets isolation " + r.session.isolation + ", innodb_lock_wait_timeout " +
                            std::to_string(r.session.lock_wait_timeout) + " s, read/write timeout " +
                            std::to_string(r.session.read_timeout_s) + "/" + std::to_string(r.session.write_timeout_s) +
                            " s, max_statement_time " + std::to_string(r.session.max_statement_time_s) +
                            " s, character set " + r.session.character_set + ", time zone " + r.session.time_zone});
}

void check_tls(const Session& s, const DoctorOptions& o, DoctorReport& r) {
  r.tls_cipher = s.tls_cipher();
  std::string detail = "a worker connection is " + s.transport_description() + " (DB_SSL_MODE=" + to_string(o.ssl_mode);
  if (r.tls_cipher.empty() && o.ssl_mode == SslMode::kPreferred) detail += ": the server offers no TLS";
  r.findings.push_back({"tls", false, detail + ")"});
}

void check_index(Session& s, DoctorReport& r) {
  r.index = verify_message_index(s);
  std::string index_detail;
  if (r.index.ok) {
    index_detail = "message.ig_message_id has UNIQUE index " + r.index.index_name + " (" + r.index.collation + ")";
  } else {
    for (const auto& p : r.index.problems) index_detail += (index_detail.empty() ? "" : "; ") + p;
  }
  r.findings.push_back({"unique_index", !r.index.ok, index_detail});
}

void check_schema_ready(Session& s, DoctorReport& r) {
  const Status st = check_schema(s);
  r.findings.push_back({"schema", !st.ok(),
                        st.ok() ? "schema version " + std::to_string(required_schema_version()) +
                                      " and every table readable by this account"
                                : st.message});
}

}  // namespace

DoctorReport run_doctor(Session& s, const DoctorOptions& o) {
  DoctorReport r;
  r.server_version = s.server_version();
  check_lock_waits(s, r);
  check_long_queries(s, o, r);
  check_connections(s, o, r);
  check_session(s, o, r);
  check_tls(s, o, r);
  check_schema_ready(s, r);
  check_index(s, r);
  return r;
}

}  // namespace hm::mysql
