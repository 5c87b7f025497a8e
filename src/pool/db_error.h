#pragma once
// Database failures inside the database adapters (src/pool, src/mysql): a
// kind decided once, in mysql/errors.cpp, from the server's error code. It
// never crosses a seam: the stores turn it into a Status (hm/status.h); only
// the composition root (src/commands) may see one that escaped a start-up step.

#include <stdexcept>
#include <string>

namespace hm {

enum class DbErrorKind {
  kDuplicate,      // 1062: the row is already there; success for an idempotent insert
  kRetryable,      // lock wait timeout, deadlock, lost connection, too many connections...
  kPoolExhausted,  // no connection free within DB_POOL_TIMEOUT (retryable)
  kPermanent,      // bad data or a bug: retrying cannot help
};

constexpr const char* to_string(DbErrorKind kind) {
  switch (kind) {
    case DbErrorKind::kDuplicate: return "duplicate";
    case DbErrorKind::kRetryable: return "retryable";
    case DbErrorKind::kPoolExhausted: return "pool_exhausted";
    case DbErrorKind::kPermanent: return "permanent";
  }
  return "permanent";
}

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
