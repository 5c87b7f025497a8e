#pragma once
// Database failures as the rest of the program sees them: a category decided
// once, in the MySQL adapter (mysql/errors.cpp), from the server's error code.

#include <stdexcept>
#include <string>

namespace hm {

enum class DbErrorKind {
  kDuplicate,      // 1062: the row is already there; success for an idempotent insert
  kRetryable,      // lock wait timeout, deadlock, lost connection, too many connections...
  kPoolExhausted,  // no connection free within DB_POOL_TIMEOUT (retryable)
  kPermanent,      // bad data or a bug: retrying cannot help
};

const char* to_string(DbErrorKind kind);

class DbError : public std::runtime_error {
 public:
  DbError(DbErrorKind kind, int code, const std::string& message, bool connection_broken = false)
      : std::runtime_error(message), kind_(kind), code_(code), connection_broken_(connection_broken) {}
  DbErrorKind kind() const { return kind_; }
  int code() const { return code_; }  // server or client error code, 0 when not from the server
  bool retryable() const { return kind_ == DbErrorKind::kRetryable || kind_ == DbErrorKind::kPoolExhausted; }
  // The connection cannot be used again and must be discarded, not pooled.
  bool connection_broken() const { return connection_broken_; }

 private:
  DbErrorKind kind_;
  int code_;
  bool connection_broken_;
};

}  // namespace hm
