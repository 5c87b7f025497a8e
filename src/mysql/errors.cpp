#include "mysql/errors.h"

#include <cppconn/exception.h>

namespace hm {

const char* to_string(DbErrorKind kind) {
  switch (kind) {
    case DbErrorKind::kDuplicate: return "duplicate";
    case DbErrorKind::kRetryable: return "retryable";
    case DbErrorKind::kPoolExhausted: return "pool_exhausted";
    case DbErrorKind::kPermanent: return "permanent";
  }
  return "permanent";
}

namespace mysql {

ErrorCategory category(DbErrorKind kind) {
  switch (kind) {
    case DbErrorKind::kRetryable:
    case DbErrorKind::kPoolExhausted: return ErrorCategory::kRetryable;
    case DbErrorKind::kDuplicate:
    case DbErrorKind::kPermanent: return ErrorCategory::kPermanent;
  }
  return ErrorCategory::kPermanent;
}

Status to_status(const DbError& e) { return {category(e), e.code(), e.what()}; }

bool lock_conflict(int code) {
  return code == 1205 || code == 1213;  // ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK
}

Classification classify(int code, ServerFlavor flavor) {
  switch (code) {
    case 1062:  // ER_DUP_ENTRY
      return {DbErrorKind::kDuplicate, false};
    case 1205:  // ER_LOCK_WAIT_TIMEOUT (statement rolled back, transaction open)
    case 1213:  // ER_LOCK_DEADLOCK (transaction rolled back)
    case 1040:  // ER_CON_COUNT_ERROR: too many connections
    case 1317:  // ER_QUERY_INTERRUPTED
    case 1290:  // ER_OPTION_PREVENTS_STATEMENT: read-only during a failover
    case 1969:  // MariaDB ER_STATEMENT_TIMEOUT (max_statement_time)
    case 3024:  // MySQL ER_QUERY_TIMEOUT (max_execution_time)
      return {DbErrorKind::kRetryable, false};
    case 1053:  // ER_SERVER_SHUTDOWN
    case 1927:  // MariaDB ER_CONNECTION_KILLED
    case 2002:  // CR_CONNECTION_ERROR (socket)
    case 2003:  // CR_CONN_HOST_ERROR
    case 2006:  // CR_SERVER_GONE_ERROR
    case 2013:  // CR_SERVER_LOST
    case 2055:  // CR_SERVER_LOST_EXTENDED
      return {DbErrorKind::kRetryable, true};
    case 4031:  // MySQL 8: ER_CLIENT_INTERACTION_TIMEOUT; MariaDB: a trigger error
      if (flavor == ServerFlavor::kMySQL) return {DbErrorKind::kRetryable, true};
      return {DbErrorKind::kPermanent, false};
    default:
      // Client library errors (2000-2999) we did not list leave the connection
      // in an unknown state: do not reuse it.
      if (code >= 2000 && code < 3000) return {DbErrorKind::kRetryable, true};
      // Code 0 comes from Connector/C++ itself (e.g. "Connection is closed").
      if (code == 0) return {DbErrorKind::kRetryable, true};
      return {DbErrorKind::kPermanent, false};
  }
}

DbError translate(const sql::SQLException& e, ServerFlavor flavor, const std::string& context) {
  const int code = e.getErrorCode();
  const Classification c = classify(code, flavor);
  std::string message = context + ": MySQL error " + std::to_string(code);
  const std::string state = e.getSQLStateCStr() ? e.getSQLStateCStr() : "";
  if (!state.empty()) message += " (" + state + ")";
  message += ": ";
  message += e.what();
  return DbError(c.kind, code, message, c.connection_broken);
}

}  // namespace mysql
}  // namespace hm
