#include "mysql/session.h"

#include <algorithm>

#include <cppconn/connection.h>
#include <cppconn/driver.h>
#include <cppconn/metadata.h>
#include <cppconn/resultset_metadata.h>
#include <cppconn/statement.h>
#include <cppconn/warning.h>
#include <mysql_connection.h>

#include "mysql/guarded.h"

namespace hm::mysql {
namespace {

std::string session_setup_sql(const DbOptions& o, ServerFlavor flavor) {
  std::string s = "SET SESSION innodb_lock_wait_timeout = " + std::to_string(o.lock_wait_timeout.count()) +
                  ", time_zone = '+00:00'"
                  ", max_error_count = 65535"
                  ", sql_mode = 'STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
                  "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'";
  if (flavor == ServerFlavor::kMariaDB) {
    // The server itself abandons a statement running longer than the client
    // would wait for it, releasing its locks.
    s += ", max_statement_time = " + std::to_string(o.query_timeout.count());
    // A session left idle inside a transaction (its worker cut off by a
    // partition or killed behind a proxy) is ended by the server, releasing
    // its row locks, instead of holding them until wait_timeout (8 hours).
    // hm-worker's own transactions never idle: their statements run back to
    // back. MySQL 8 has no such bound.
    s += ", idle_transaction_timeout = " + std::to_string(o.query_timeout.count());
  }
  return s;
}

// The TLS connection properties of o.ssl_mode. What Connector/C++ 1.1.12 on
// MariaDB Connector/C 3.3 (Debian 12) really does, tried against MariaDB
// 10.11 with and without TLS (tests/integration/mysql/tls_test.cpp):
//   OPT_SSL_MODE  ignored: connects in clear whatever the value;
//   sslEnforce    TLS when the server offers it, else in clear, certificate
//                 not checked: PREFERRED, not REQUIRED;
//   sslCA         the certificate must chain to the CA (when TLS is used),
//                 but a server without TLS is still accepted in clear;
//   sslVerify     refuses a server without TLS, checks the chain against
//                 sslCA and the host name against the certificate.
// So REQUIRED and VERIFY_CA are finished by check_tls() after connecting.
void add_tls_properties(const DbOptions& o, sql::ConnectOptionsMap& props) {
  if (o.ssl_mode == SslMode::kDisabled) return;
  props["sslEnforce"] = true;
  if (!o.ssl_ca.empty()) props["sslCA"] = sql::SQLString(o.ssl_ca);
  if (!o.ssl_cert.empty()) props["sslCert"] = sql::SQLString(o.ssl_cert);
  if (!o.ssl_key.empty()) props["sslKey"] = sql::SQLString(o.ssl_key);
  if (o.ssl_mode == SslMode::kVerifyIdentity) props["sslVerify"] = true;
}

std::string endpoint(const DbOptions& o) {
  return o.socket.empty() ? o.host + ":" + std::to_string(o.port) : o.socket;
}

// The connector's TLS errors say what failed, not which setting asked for it.
std::string tls_hint(const DbOptions& o, const std::string& what) {
  std::string hint = std::string(" (DB_SSL_MODE=") + to_string(o.ssl_mode);
  if (o.ssl_mode == SslMode::kVerifyIdentity && what.find("Validation of SSL server certificate") != std::string::npos)
    hint += ": the server's certificate does not name the host '" + o.host + "' (its subjectAltName or CN)";
  else if (what.find("not support") != std::string::npos)
    hint += ": the server has no TLS";
  else if (!o.ssl_ca.empty())
    hint += ", DB_SSL_CA=" + o.ssl_ca;
  return hint + ")";
}

}  // namespace

std::unique_ptr<Session> Session::connect(Driver& driver, const DbOptions& o) {
  sql::ConnectOptionsMap props;
  if (!o.socket.empty()) {
    props["hostName"] = sql::SQLString("unix://" + o.socket);
  } else {
    const bool v6 = o.host.find(':') != std::string::npos;
    props["hostName"] = sql::SQLString("tcp://" + (v6 ? "[" + o.host + "]" : o.host) + ":" + std::to_string(o.port));
  }
  props["userName"] = sql::SQLString(o.user);
  props["password"] = sql::SQLString(o.password);
  props["schema"] = sql::SQLString(o.name);
  props["OPT_CONNECT_TIMEOUT"] = static_cast<int>(o.connect_timeout.count());
  props["OPT_READ_TIMEOUT"] = static_cast<int>(o.query_timeout.count());
  props["OPT_WRITE_TIMEOUT"] = static_cast<int>(o.query_timeout.count());
  props["OPT_CHARSET_NAME"] = sql::SQLString("utf8mb4");
  props["OPT_RECONNECT"] = false;  // a silent reconnect would drop the session settings
  add_tls_properties(o, props);

  std::unique_ptr<sql::Connection> conn;
  try {
    conn.reset(driver.native().connect(props));
  } catch (const sql::SQLException& e) {
    std::string context = "connecting to " + endpoint(o) + " as " + o.user;
    if (e.getErrorCode() == kTlsConnectionError) context += tls_hint(o, e.what());
    throw translate(e, ServerFlavor::kMariaDB, context);
  }
  std::unique_ptr<Session> s(new Session(std::move(conn), o));
  s->check_tls(o);
  s->apply_settings(o);
  return s;
}

void Session::check_tls(const DbOptions& o) {
  const auto rows = query("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
  tls_cipher_ = rows.empty() || rows[0].size() < 2 ? "" : rows[0][1].value_or("");
  const bool required = o.ssl_mode != SslMode::kDisabled && o.ssl_mode != SslMode::kPreferred;
  // A unix socket never carries TLS on MariaDB; it does not leave the host.
  if (!required || !tls_cipher_.empty() || over_socket_) return;
  broken_ = true;  // never used: the destructor closes it
  throw DbError(DbErrorKind::kRetryable, kTlsConnectionError,
                "connecting to " + endpoint(o) + " as " + o.user + ": DB_SSL_MODE=" + to_string(o.ssl_mode) +
                    " but the session is not encrypted (Ssl_cipher is empty): the server offers no TLS "
                    "(have_ssl is not YES); give it a certificate (ssl_cert, ssl_key) or lower DB_SSL_MODE",
                true);
}

std::string Session::transport_description() const {
  if (!tls_cipher_.empty()) return "TLS " + tls_cipher_;
  return over_socket_ ? "not encrypted (unix socket)" : "not encrypted";
}

Session::Session(std::unique_ptr<sql::Connection> conn, const DbOptions& o)
    : conn_(std::move(conn)),
      over_socket_(!o.socket.empty()),
      read_timeout_s_(static_cast<unsigned>(o.query_timeout.count())),
      write_timeout_s_(static_cast<unsigned>(o.query_timeout.count())) {}

Session::~Session() {
  statements_.clear();  // statements before their connection
  text_.reset();
  try {
    if (conn_) conn_->close();
  } catch (...) {
    // Closing a dead connection may throw; nothing to do.
  }
}

void Session::apply_settings(const DbOptions& o) {
  guarded(*this, "reading the server version", [&] {
    server_version_ = std::string(conn_->getMetaData()->getDatabaseProductVersion());
  });
  flavor_ = detect_flavor();
  // Connector/C++ 1.1 has just set REPEATABLE READ on this session; set ours now.
  execute(std::string("SET SESSION TRANSACTION ISOLATION LEVEL ") + to_sql(o.isolation));
  execute(session_setup_sql(o, flavor_));
  const SessionSettings got = read_settings();
  if (got.isolation != to_server_name(o.isolation)) {
    throw DbError(DbErrorKind::kPermanent, 0,
                  "session isolation level is " + got.isolation + " after setting " + to_sql(o.isolation));
  }
  if (got.lock_wait_timeout != o.lock_wait_timeout.count()) {
    throw DbError(DbErrorKind::kPermanent, 0,
                  "session innodb_lock_wait_timeout is " + std::to_string(got.lock_wait_timeout) + " after setting " +
                      std::to_string(o.lock_wait_timeout.count()));
  }
  if (got.character_set != "utf8mb4") {
    throw DbError(DbErrorKind::kPermanent, 0, "session character set is " + got.character_set + ", expected utf8mb4");
  }
  const auto rows = query("SELECT CONNECTION_ID()");
  connection_id_ = std::stoull(rows.at(0).at(0).value_or("0"));
}

ServerFlavor Session::detect_flavor() {
  // The version string is a hint only: a proxy may hide "MariaDB" in it (and
  // @@version_comment is the packager's, e.g. "Debian 12"). What decides is a
  // variable only MariaDB has; MySQL answers 1193 (unknown system variable).
  if (server_version_.find("MariaDB") != std::string::npos) return ServerFlavor::kMariaDB;
  return probe_flavor();
}

ServerFlavor Session::probe_flavor() {
  try {
    query("SELECT @@SESSION.max_statement_time");
    return ServerFlavor::kMariaDB;
  } catch (const DbError& e) {
    if (e.code() != kUnknownSystemVariable) throw;
    return ServerFlavor::kMySQL;
  }
}

std::string Session::isolation() {
  // MySQL 8 and MariaDB 11.1+ name it transaction_isolation; MariaDB before
  // 11.1 knows only tx_isolation, MySQL 8 only transaction_isolation. Ask
  // by the name that answered last, the other on 1193.
  for (int attempt = 0;; ++attempt) {
    try {
      return query("SELECT @@SESSION." + isolation_variable_).at(0).at(0).value_or("");
    } catch (const DbError& e) {
      const std::string other = next_isolation_variable(isolation_variable_, e.code());
      if (attempt > 0 || other.empty()) throw;
      isolation_variable_ = other;
    }
  }
}

std::string Session::next_isolation_variable(const std::string& tried, int code) {
  if (code != kUnknownSystemVariable) return "";
  return tried == "transaction_isolation" ? "tx_isolation" : "transaction_isolation";
}

SessionSettings Session::read_settings() {
  const std::string mst = flavor_ == ServerFlavor::kMariaDB ? "@@SESSION.max_statement_time" : "0";
  // The character set is the client's and the connection's: the server reads
  // the text statements' literals (Session::append_literal()) in the client's,
  // so both must be utf8mb4 ("client/connection" when they differ).
  const auto rows = query(
      "SELECT @@SESSION.innodb_lock_wait_timeout, "
      "IF(@@SESSION.character_set_client = @@SESSION.character_set_connection, @@SESSION.character_set_connection, "
      "CONCAT(@@SESSION.character_set_client, '/', @@SESSION.character_set_connection)), @@SESSION.time_zone, " +
      mst);
  SessionSettings s;
  s.isolation = isolation();
  const auto& r = rows.at(0);
  s.lock_wait_timeout = std::stoll(r.at(0).value_or("0"));
  s.character_set = r.at(1).value_or("");
  s.time_zone = r.at(2).value_or("");
  s.max_statement_time_s = static_cast<long long>(std::stod(r.at(3).value_or("0")));
  s.read_timeout_s = read_timeout_s_;
  s.write_timeout_s = write_timeout_s_;
  return s;
}

bool Session::ping() {
  if (broken_) return false;
  try {
    std::unique_ptr<sql::Statement> st(conn_->createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery("SELECT 1"));
    return rs->next();
  } catch (const sql::SQLException&) {
    broken_ = true;
    return false;
  }
}

bool Session::reset_for_reuse() {
  if (broken_) return false;
  if (in_txn_) rollback();
  return !broken_;
}

void Session::begin() {
  execute("START TRANSACTION");
  in_txn_ = true;
}

void Session::commit() {
  execute("COMMIT");
  in_txn_ = false;
}

void Session::rollback() {
  try {
    std::unique_ptr<sql::Statement> st(conn_->createStatement());
    st->execute("ROLLBACK");
  } catch (const sql::SQLException&) {
    broken_ = true;
  }
  in_txn_ = false;
}

sql::PreparedStatement& Session::prepare(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) {
    it->second.last_use = ++uses_;
    return *it->second.statement;
  }
  const bool large = static_cast<std::size_t>(std::count(sql.begin(), sql.end(), '?')) > kLargeStatementParameters;
  const auto large_cached = static_cast<std::size_t>(
      std::count_if(statements_.begin(), statements_.end(), [](const auto& e) { return e.second.large; }));
  if (statements_.size() >= kMaxCachedStatements || (large && large_cached >= kMaxCachedLargeStatements)) {
    // The least recently used one of the kind that is over its bound.
    auto oldest = statements_.end();
    const bool only_large = large && large_cached >= kMaxCachedLargeStatements;
    for (auto i = statements_.begin(); i != statements_.end(); ++i) {
      if (only_large && !i->second.large) continue;
      if (oldest == statements_.end() || i->second.last_use < oldest->second.last_use) oldest = i;
    }
    statements_.erase(oldest);  // deallocates it on the server
  }
  std::unique_ptr<sql::PreparedStatement> stmt;
  guarded(*this, "preparing a statement", [&] { stmt.reset(conn_->prepareStatement(sql)); });
  const auto inserted = statements_.emplace(sql, Cached{std::move(stmt), ++uses_, large}).first;
  return *inserted->second.statement;
}

void Session::execute(const std::string& sql) {
  guarded(*this, "executing a statement", [&] {
    std::unique_ptr<sql::Statement> st(conn_->createStatement());
    st->execute(sql);
  });
}

namespace {

// All rows of rs as optional strings (NULL = nullopt).
std::vector<std::vector<std::optional<std::string>>> all_rows(sql::ResultSet& rs) {
  std::vector<std::vector<std::optional<std::string>>> rows;
  const unsigned cols = rs.getMetaData()->getColumnCount();
  while (rs.next()) {
    std::vector<std::optional<std::string>> row;
    row.reserve(cols);
    for (unsigned i = 1; i <= cols; ++i) {
      if (rs.isNull(i)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(std::string(rs.getString(i)));
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

std::vector<std::vector<std::optional<std::string>>> Session::query(const std::string& sql) {
  return guarded(*this, "running a query", [&] {
    std::unique_ptr<sql::Statement> st(conn_->createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery(sql));
    return all_rows(*rs);
  });
}

std::vector<std::vector<std::optional<std::string>>> Session::query(const std::string& sql,
                                                                    const std::vector<std::string>& params) {
  auto& st = prepare(sql);
  return guarded(*this, "running a query", [&] {
    for (std::size_t i = 0; i < params.size(); ++i) st.setString(static_cast<unsigned>(i + 1), params[i]);
    std::unique_ptr<sql::ResultSet> rs(st.executeQuery());
    return all_rows(*rs);
  });
}

void Session::append_literal(std::string& sql, std::string_view value) {
  // Only a value holding one of the bytes mysql_real_escape_string escapes
  // (in either sql_mode) goes through it: the session's character set is
  // utf8mb4 (checked at connect), where no multi-byte character holds an
  // ASCII byte, so any other value comes back from it unchanged.
  if (value.find_first_of(std::string_view("\0\n\r\\'\"\x1a", 7)) == std::string_view::npos) {
    sql.push_back('\'');
    sql.append(value);
    sql.push_back('\'');
    return;
  }
  auto* conn = dynamic_cast<sql::mysql::MySQL_Connection*>(conn_.get());
  if (conn == nullptr) throw DbError(DbErrorKind::kPermanent, 0, "the connection cannot escape literals");
  const sql::SQLString escaped =
      guarded(*this, "escaping a value", [&] { return conn->escapeString(sql::SQLString(value.data(), value.size())); });
  sql.push_back('\'');
  sql.append(escaped.asStdString());
  sql.push_back('\'');
}

sql::Statement& Session::text_statement() {
  if (!text_) guarded(*this, "creating a statement", [&] { text_.reset(conn_->createStatement()); });
  return *text_;
}

std::vector<SqlWarning> Session::warnings(sql::Statement& stmt) {
  return guarded(*this, "reading warnings", [&] {
    std::vector<SqlWarning> out;
    for (const sql::SQLWarning* w = stmt.getWarnings(); w != nullptr; w = w->getNextWarning()) {
      out.push_back(SqlWarning{w->getErrorCode(), std::string(w->getMessage())});
    }
    return out;
  });
}

}  // namespace hm::mysql
