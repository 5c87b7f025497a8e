#pragma once
// Private to src/mysql: the steps the stores share around a unit of work and
// an INSERT IGNORE (message_store, role_store). Connector/C++ types appear
// here; include it only from src/mysql/*.cpp.

#include <cstdint>
#include <string>

#include "pool/db_error.h"
#include "mysql/session.h"
#include "mysql/session_pool.h"

namespace hm::mysql {

// After a failed unit of work: rolls back an open transaction and marks a
// broken connection for discarding instead of pooling; an error whose
// classification says kDropPool (read-only after a switchover) discards every
// pooled connection (ConnectionPool::discard_all()). Returns e.
const DbError& abandon(SessionPool::Lease& lease, const DbError& e);

// Executes a prepared INSERT IGNORE and returns the rows inserted. Only
// warning 1062 (duplicate) is accepted; any other warning means a value was
// altered to fit, and throws kPermanent (the caller rolls back).
int insert_ignore(Session& s, sql::PreparedStatement& st, const char* what);

// The two halves of insert_ignore(), for a caller that must act between them
// (the autocommit per-message insert removes a row found altered).
int execute_insert_ignore(Session& s, sql::PreparedStatement& st, const char* what);
void check_insert_warnings(Session& s, sql::Statement& st, const char* what, const char* aftermath);

// insert_ignore() for a text statement built with Session::append_literal(),
// run on s.text_statement().
int insert_ignore_text(Session& s, const std::string& sql, const char* what);

// "YYYY-MM-DD HH:MM:SS.mmm" in UTC, for DATETIME(3) parameters.
std::string sql_datetime_ms(std::int64_t epoch_ms);

}  // namespace hm::mysql
