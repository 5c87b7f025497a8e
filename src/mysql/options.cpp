// The names of the session settings (mysql/options.h).
#include "mysql/options.h"

namespace hm {

const char* to_string(SslMode mode) {
  switch (mode) {
    case SslMode::kDisabled: return "DISABLED";
    case SslMode::kPreferred: return "PREFERRED";
    case SslMode::kRequired: return "REQUIRED";
    case SslMode::kVerifyCa: return "VERIFY_CA";
    case SslMode::kVerifyIdentity: return "VERIFY_IDENTITY";
  }
  return "PREFERRED";
}

const char* to_sql(IsolationLevel level) {
  switch (level) {
    case IsolationLevel::kReadUncommitted: return "READ UNCOMMITTED";
    case IsolationLevel::kReadCommitted: return "READ COMMITTED";
    case IsolationLevel::kRepeatableRead: return "REPEATABLE READ";
    case IsolationLevel::kSerializable: return "SERIALIZABLE";
  }
  return "READ COMMITTED";
}

const char* to_server_name(IsolationLevel level) {
  switch (level) {
    case IsolationLevel::kReadUncommitted: return "READ-UNCOMMITTED";
    case IsolationLevel::kReadCommitted: return "READ-COMMITTED";
    case IsolationLevel::kRepeatableRead: return "REPEATABLE-READ";
    case IsolationLevel::kSerializable: return "SERIALIZABLE";
  }
  return "READ-COMMITTED";
}

}  // namespace hm
