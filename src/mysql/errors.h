#pragma once
// The one place where MySQL/MariaDB error codes become DbErrorKind, and
// DbErrorKind the seams' ErrorCategory (hm/status.h).

#include <string>

#include "pool/db_error.h"
#include "hm/status.h"

namespace sql {
class SQLException;
}

namespace hm::mysql {

enum class ServerFlavor { kMariaDB, kMySQL };

// The seams' category of a database failure: kRetryable when waiting can fix
// it (DbError::retryable(): lock conflicts, lost connections, an exhausted
// pool), kPermanent otherwise. A duplicate is kPermanent, as the stores have
// always treated one that reaches them as a failure: an idempotent insert
// uses INSERT IGNORE and never sees 1062 as an error. Never kNone or kUnknown.
ErrorCategory category(DbErrorKind kind);
inline ErrorCategory category(const DbError& e) { return category(e.kind()); }

// e as a Status of the seams: its category, code and message.
Status to_status(const DbError& e);

// What to do with the connection an error came from.
enum class ConnectionAction {
  kKeep,      // the connection is fine: give it back to the pool
  kDrop,      // close this connection (lost, or in an unknown state)
  kDropPool,  // close every pooled connection: they all point at a server
              // that can no longer take writes (read-only after a switchover);
              // new ones go where the address now leads
};

const char* to_string(ConnectionAction action);

struct Classification {
  DbErrorKind kind;
  bool connection_broken;  // action != kKeep
  ConnectionAction action = ConnectionAction::kKeep;
  ErrorCategory category() const { return mysql::category(kind); }
};

// Pure: decides from the code and the server flavour (4031 means "client
// interaction timeout" on MySQL 8 but a trigger error on MariaDB). Answers
// "can waiting fix this?": every fault of the server, the network, the
// account, the grants or the schema is kRetryable; only errors about the data
// of this statement (and bugs: syntax) are kPermanent. The table, with the
// reason for each code, is at the top of errors.cpp.
Classification classify(int code, ServerFlavor flavor);

// A retryable error about the rows one transaction locks (lock wait timeout,
// deadlock), as opposed to one about the connection or the server: other
// transactions can go ahead meanwhile.
bool lock_conflict(int code);

// CR_SSL_CONNECTION_ERROR: the client library could not set up the TLS the
// connection asked for (no TLS on the server, a certificate that does not
// verify, an unreadable CA file). Session::connect raises the same code when
// its own check after connecting finds the session not encrypted although
// DB_SSL_MODE requires it. Retryable like every connect failure (a server may
// get its certificate back); `run` treats it as fatal at start (exit 1): a
// TLS requirement the server cannot meet is a configuration problem.
constexpr int kTlsConnectionError = 2026;

// Translates a Connector/C++ exception; the message never holds a password
// (Connector messages do not echo connection credentials).
DbError translate(const sql::SQLException& e, ServerFlavor flavor, const std::string& context);

}  // namespace hm::mysql
