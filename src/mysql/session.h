#pragma once
// One MySQL/MariaDB connection with the session settings every worker
// connection must have, applied and checked right after connecting (never
// through an init command: Connector/C++ 1.1 sets REPEATABLE READ itself
// after connecting, which would undo it). No automatic reconnect: a silent
// reconnect would drop the session settings. A broken session is discarded.
//
// Only this adapter (src/mysql/) sees Connector/C++: the sql:: types are only
// forward-declared here, and every call that can throw sql::SQLException goes
// through guarded() (mysql/guarded.h, private to src/mysql), which translates
// it once into DbError and marks the session broken when the connection is
// lost. Callers outside src/mysql use query() and execute(), which throw
// DbError only.
//
// Thread-safety: none. A session is used by one thread at a time (the pool
// hands it to one lease holder).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pool/db_error.h"
#include "mysql/driver.h"
#include "mysql/errors.h"
#include "mysql/options.h"

namespace sql {
class Connection;
class PreparedStatement;
class ResultSet;
class Statement;
}  // namespace sql

namespace hm::mysql {

// What the server reports for this session (read back after setup).
struct SessionSettings {
  std::string isolation;  // e.g. "READ-COMMITTED"
  long long lock_wait_timeout = 0;
  std::string character_set;  // character_set_connection (and _client: "client/connection" when they differ)
  std::string time_zone;
  long long max_statement_time_s = 0;  // MariaDB only; 0 elsewhere
  unsigned read_timeout_s = 0;         // client-side
  unsigned write_timeout_s = 0;        // client-side
};

struct SqlWarning {
  int code = 0;
  std::string message;
};

class Session {
 public:
  // Connects, applies and verifies the session settings. Throws DbError.
  static std::unique_ptr<Session> connect(Driver& driver, const DbOptions& options);

  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  ServerFlavor flavor() const { return flavor_; }
  const std::string& server_version() const { return server_version_; }
  std::uint64_t connection_id() const { return connection_id_; }
  bool broken() const { return broken_; }
  // The session's TLS cipher (Ssl_cipher, read right after connecting), ""
  // when the session is not encrypted.
  const std::string& tls_cipher() const { return tls_cipher_; }
  // "TLS TLS_AES_256_GCM_SHA384" or "not encrypted" (with "(unix socket)"), for log lines and doctor.
  std::string transport_description() const;

  // For the pool: true when the connection answers.
  bool ping();
  // For the pool: rolls back an open transaction; false when it must be discarded.
  bool reset_for_reuse();

  void begin();
  void commit();
  void rollback();  // never throws; marks the session broken if it fails
  bool in_transaction() const { return in_txn_; }

  // Notes a failed call: an error that lost the connection marks the session
  // broken. guarded() calls it for every error it translates.
  void note_failure(const DbError& e) {
    if (e.connection_broken()) broken_ = true;
  }

  // A prepared statement, cached for the session. The reference stays valid
  // until the next prepare() call (the cache is bounded). For src/mysql only:
  // the statement is a Connector/C++ type, used through guarded().
  sql::PreparedStatement& prepare(const std::string& sql);
  // Executes a statement with no result set, e.g. SET or DDL.
  void execute(const std::string& sql);
  // Runs a query and returns all rows as optional strings (NULL = nullopt).
  std::vector<std::vector<std::optional<std::string>>> query(const std::string& sql);
  // The same with `params` bound, in order, as strings to the statement's `?`
  // placeholders (a prepared statement, cached like prepare()'s).
  std::vector<std::vector<std::optional<std::string>>> query(const std::string& sql,
                                                             const std::vector<std::string>& params);
  // Warnings of the last execution of stmt, prepared or text (all of them:
  // max_error_count is raised for the session so the list is complete).
  std::vector<SqlWarning> warnings(sql::Statement& stmt);

  // The text protocol, for src/mysql only: what would need hundreds of
  // placeholders (a multi-row insert, an IN list of a read) costs the client
  // far less as one statement of escaped literals than as bound parameters,
  // and keeps no prepared statement (nor its buffers) on either side.
  // Appends `value` to `sql` as a string literal, escaped by the connection
  // (its character set and sql_mode, mysql_real_escape_string).
  void append_literal(std::string& sql, std::string_view value);
  // The session's one text statement: runs statements built with
  // append_literal() (through guarded()); its warnings are read with warnings().
  sql::Statement& text_statement();

  SessionSettings read_settings();

  // The session's isolation level, e.g. "READ-COMMITTED", read from
  // @@transaction_isolation or, where the server does not know that name
  // (error 1193: MariaDB before 11.1), @@tx_isolation.
  std::string isolation();
  // The name isolation() reads (the one that answered last).
  const std::string& isolation_variable() const { return isolation_variable_; }
  // Pure: the other name to try after `tried` failed with `code`, or "" when
  // the error is not 1193 (unknown system variable).
  static std::string next_isolation_variable(const std::string& tried, int code);

  // Asks the server which it is (a variable only MariaDB has), whatever its
  // version string says. Throws DbError.
  ServerFlavor probe_flavor();

  static constexpr int kUnknownSystemVariable = 1193;  // ER_UNKNOWN_SYSTEM_VARIABLE

 private:
  // MariaDB or MySQL, from what the server answers, not only its version string.
  ServerFlavor detect_flavor();
  Session(std::unique_ptr<sql::Connection> conn, const DbOptions& options);
  void apply_settings(const DbOptions& options);
  // Reads Ssl_cipher and refuses (DbError kTlsConnectionError) a session
  // less encrypted than options.ssl_mode requires.
  void check_tls(const DbOptions& options);

  std::unique_ptr<sql::Connection> conn_;
  std::unique_ptr<sql::Statement> text_;  // text_statement(), made on first use
  struct Cached {
    std::unique_ptr<sql::PreparedStatement> statement;
    std::uint64_t last_use = 0;
    bool large = false;  // over kLargeStatementParameters placeholders
  };
  // Bounded, least recently used out: batch statements vary in size, and the
  // server limits prepared statements (max_prepared_stmt_count). A statement
  // with a thousand placeholders (a multi-row insert) keeps a few hundred KB
  // of parameter buffers on each side: only a few of those stay.
  static constexpr std::size_t kMaxCachedStatements = 24;
  static constexpr std::size_t kMaxCachedLargeStatements = 4;
  static constexpr std::size_t kLargeStatementParameters = 200;
  std::map<std::string, Cached> statements_;
  std::uint64_t uses_ = 0;
  ServerFlavor flavor_ = ServerFlavor::kMariaDB;
  std::string server_version_;
  std::string tls_cipher_;
  bool over_socket_ = false;
  std::string isolation_variable_ = "transaction_isolation";
  std::uint64_t connection_id_ = 0;
  unsigned read_timeout_s_ = 0;
  unsigned write_timeout_s_ = 0;
  bool in_txn_ = false;
  bool broken_ = false;
};

}  // namespace hm::mysql
