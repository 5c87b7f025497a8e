#pragma once
// The one place where MySQL/MariaDB error codes become DbErrorKind.

#include <string>

#include "hm/db_error.h"

namespace sql {
class SQLException;
}

namespace hm::mysql {

enum class ServerFlavor { kMariaDB, kMySQL };

struct Classification {
  DbErrorKind kind;
  bool connection_broken;
};

// Pure: decides from the code and the server flavour (4031 means "client
// interaction timeout" on MySQL 8 but a trigger error on MariaDB).
Classification classify(int code, ServerFlavor flavor);

// A retryable error about the rows one transaction locks (lock wait timeout,
// deadlock), as opposed to one about the connection or the server: other
// transactions can go ahead meanwhile.
bool lock_conflict(int code);

// Translates a Connector/C++ exception; the message never holds a password
// (Connector messages do not echo connection credentials).
DbError translate(const sql::SQLException& e, ServerFlavor flavor, const std::string& context);

}  // namespace hm::mysql
