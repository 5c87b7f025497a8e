#include "mysql/errors.h"

#include <cppconn/exception.h>

namespace hm {

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

const char* to_string(ConnectionAction action) {
  switch (action) {
    case ConnectionAction::kKeep: return "keep";
    case ConnectionAction::kDrop: return "drop";
    case ConnectionAction::kDropPool: return "drop_pool";
  }
  return "drop";
}

namespace {

constexpr auto kDup = DbErrorKind::kDuplicate;
constexpr auto kRetry = DbErrorKind::kRetryable;
constexpr auto kKeep = ConnectionAction::kKeep;
constexpr auto kDrop = ConnectionAction::kDrop;
constexpr auto kDropPool = ConnectionAction::kDropPool;

struct Row {
  int code;
  DbErrorKind kind;
  ConnectionAction action;
};

// "Can waiting fix this?", code by code. Everything not listed is kPermanent
// with the connection kept (an error about this statement's data, or a bug),
// except client errors 2000-2999 and code 0 (Connector/C++'s own, e.g.
// "Connection is closed"): kRetryable, connection dropped.
//
//  code  name                              kind       connection  why
//  1062  ER_DUP_ENTRY                      duplicate  keep        the row is there
//  -- the transaction, the statement --
//  1205  ER_LOCK_WAIT_TIMEOUT              retryable  keep        another transaction holds the row
//  1213  ER_LOCK_DEADLOCK                  retryable  keep        rolled back; try again
//  1317  ER_QUERY_INTERRUPTED              retryable  keep        KILL QUERY, shutdown
//  1969  ER_STATEMENT_TIMEOUT (MariaDB)    retryable  keep        max_statement_time: a slow server
//  3024  ER_QUERY_TIMEOUT (MySQL)          retryable  keep        max_execution_time
//  1637  ER_TOO_MANY_CONCURRENT_TRXS       retryable  keep        server busy
//  3100  ER_RUN_HOOK_ERROR (group repl.)   retryable  keep        certification failed
//  3101  ER_TRANSACTION_ROLLBACK_DURING_COMMIT retryable keep     group replication conflict
//  1180  ER_ERROR_DURING_COMMIT            retryable  drop        commit state unknown to the session
//  1615  ER_NEED_REPREPARE                 retryable  drop        statement cache out of date
//  1461  ER_MAX_PREPARED_STMT_COUNT_REACHED retryable drop        frees this session's statements
//  -- resources of the server --
//  1021  ER_DISK_FULL                      retryable  keep        an operator frees space
//  1037  ER_OUTOFMEMORY                    retryable  keep
//  1038  ER_OUT_OF_SORTMEMORY              retryable  keep
//  1041  ER_OUT_OF_RESOURCES               retryable  keep
//  1114  ER_RECORD_FILE_FULL               retryable  keep        table full: disk or quota
//  1135  ER_CANT_CREATE_THREAD             retryable  drop
//  -- the connection, the network --
//  1040  ER_CON_COUNT_ERROR                retryable  drop        too many connections (at connect)
//  1043  ER_HANDSHAKE_ERROR                retryable  drop
//  1053  ER_SERVER_SHUTDOWN                retryable  drop pool   the server is going away: all of them
//  1152  ER_ABORTING_CONNECTION            retryable  drop
//  1153  ER_NET_PACKET_TOO_LARGE           retryable  drop        max_allowed_packet lowered under us
//  1154..1161 ER_NET_* (read/write errors) retryable  drop
//  1184  ER_NEW_ABORTING_CONNECTION        retryable  drop
//  1927  ER_CONNECTION_KILLED (MariaDB)    retryable  drop        KILL CONNECTION
//  4031  ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8) retryable drop   (MariaDB: a trigger error, permanent)
//  2002  CR_CONNECTION_ERROR               retryable  drop        socket refused
//  2003  CR_CONN_HOST_ERROR                retryable  drop        host unreachable
//  2006  CR_SERVER_GONE_ERROR              retryable  drop
//  2013  CR_SERVER_LOST                    retryable  drop
//  2055  CR_SERVER_LOST_EXTENDED           retryable  drop
//  -- the account (raised while connecting) --
//  1044  ER_DBACCESS_DENIED_ERROR          retryable  drop        grant missing: an operator adds it
//  1045  ER_ACCESS_DENIED_ERROR            retryable  drop        password rotated: the secret follows
//  1049  ER_BAD_DB_ERROR                   retryable  drop        database not created yet
//  1129  ER_HOST_IS_BLOCKED                retryable  drop        FLUSH HOSTS
//  1130  ER_HOST_NOT_PRIVILEGED            retryable  drop        grant missing for this host
//  1203  ER_TOO_MANY_USER_CONNECTIONS      retryable  drop        max_user_connections
//  1226  ER_USER_LIMIT_REACHED             retryable  drop        max_questions and the like
//  1251  ER_NOT_SUPPORTED_AUTH_MODE        retryable  drop        account being changed
//  1862  ER_MUST_CHANGE_PASSWORD_LOGIN     retryable  drop        password expired
//  1820  ER_MUST_CHANGE_PASSWORD           retryable  drop
//  -- the schema and the grants (a worker started before `migrate`) --
//  1142  ER_TABLEACCESS_DENIED_ERROR       retryable  keep        grant missing: an operator adds it
//  1143  ER_COLUMNACCESS_DENIED_ERROR      retryable  keep
//  1146  ER_NO_SUCH_TABLE                  retryable  keep        run `hm-worker migrate`
//  1054  ER_BAD_FIELD_ERROR                retryable  keep        schema older than the code
//  -- failover: the server the pool points at cannot take writes --
//  1290  ER_OPTION_PREVENTS_STATEMENT      retryable  drop pool   read_only after a switchover
//  1792  ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION retryable drop pool
//  1836  ER_READ_ONLY_MODE                 retryable  drop pool
//  1047  ER_UNKNOWN_COM_ERROR (Galera: WSREP not ready) retryable drop pool
//  1874  ER_INNODB_READ_ONLY               retryable  drop pool
//  1105  ER_UNKNOWN_ERROR                  retryable  drop        proxies and Galera report their own faults so
//  9001  ProxySQL: max connect timeout     retryable  drop        no backend reachable behind the proxy
//
// Permanent (data, or a bug): 1048 NULL in NOT NULL, 1064 syntax, 1264 out of
// range, 1265 truncated, 1292 bad value, 1366 bad string, 1406 too long,
// 1451/1452 foreign key, 3140 bad JSON, 1193 unknown variable, and the rest.
constexpr Row kTable[] = {
    {1062, kDup, kKeep},
    {1205, kRetry, kKeep},     {1213, kRetry, kKeep},     {1317, kRetry, kKeep},     {1969, kRetry, kKeep},
    {3024, kRetry, kKeep},     {1637, kRetry, kKeep},     {3100, kRetry, kKeep},     {3101, kRetry, kKeep},
    {1180, kRetry, kDrop},     {1615, kRetry, kDrop},     {1461, kRetry, kDrop},
    {1021, kRetry, kKeep},     {1037, kRetry, kKeep},     {1038, kRetry, kKeep},     {1041, kRetry, kKeep},
    {1114, kRetry, kKeep},     {1135, kRetry, kDrop},
    {1040, kRetry, kDrop},     {1043, kRetry, kDrop},     {1053, kRetry, kDropPool}, {1152, kRetry, kDrop},
    {1153, kRetry, kDrop},     {1154, kRetry, kDrop},     {1155, kRetry, kDrop},     {1156, kRetry, kDrop},
    {1157, kRetry, kDrop},     {1158, kRetry, kDrop},     {1159, kRetry, kDrop},     {1160, kRetry, kDrop},
    {1161, kRetry, kDrop},     {1184, kRetry, kDrop},     {1927, kRetry, kDrop},
    {1044, kRetry, kDrop},     {1045, kRetry, kDrop},     {1049, kRetry, kDrop},     {1129, kRetry, kDrop},
    {1130, kRetry, kDrop},     {1203, kRetry, kDrop},     {1226, kRetry, kDrop},     {1251, kRetry, kDrop},
    {1862, kRetry, kDrop},     {1820, kRetry, kDrop},
    {1142, kRetry, kKeep},     {1143, kRetry, kKeep},     {1146, kRetry, kKeep},     {1054, kRetry, kKeep},
    {1290, kRetry, kDropPool}, {1792, kRetry, kDropPool}, {1836, kRetry, kDropPool}, {1047, kRetry, kDropPool},
    {1874, kRetry, kDropPool}, {1105, kRetry, kDrop},     {9001, kRetry, kDrop},
};

Classification make(DbErrorKind kind, ConnectionAction action) {
  return {kind, action != ConnectionAction::kKeep, action};
}

}  // namespace

Classification classify(int code, ServerFlavor flavor) {
  if (code == 4031) {  // MySQL 8: ER_CLIENT_INTERACTION_TIMEOUT; MariaDB: a trigger error
    return flavor == ServerFlavor::kMySQL ? make(kRetry, kDrop) : make(DbErrorKind::kPermanent, kKeep);
  }
  for (const Row& row : kTable) {
    if (row.code == code) return make(row.kind, row.action);
  }
  // Client library errors (2000-2999) we did not list leave the connection
  // in an unknown state: do not reuse it. Code 0 comes from Connector/C++
  // itself (e.g. "Connection is closed").
  if (code == 0 || (code >= 2000 && code < 3000)) return make(kRetry, kDrop);
  return make(DbErrorKind::kPermanent, kKeep);
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
