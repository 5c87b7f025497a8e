#pragma once
// The database schema: versioned, idempotent migrations and the check that
// the UNIQUE index on message.ig_message_id exists and is case-sensitive.

#include <atomic>
#include <string>
#include <vector>

#include "hm/status.h"
#include "mysql/session.h"

namespace hm::mysql {

struct MigrateResult {
  std::vector<int> applied;  // versions applied by this call
  int current_version = 0;
};

// Applies the migrations not yet recorded in schema_migration, under a named
// lock so that two concurrent `migrate` runs do not interleave. Throws DbError.
MigrateResult migrate(Session& session);

struct IndexCheck {
  bool ok = false;
  std::string index_name;  // the UNIQUE index found, if any
  std::string collation;   // of ig_message_id
  std::vector<std::string> problems;  // what is wrong, one sentence each
};

// The seed's "index verification", made strict: message.ig_message_id has a
// UNIQUE index on that column alone (no prefix), in a binary (case-sensitive)
// collation. Throws DbError only when the server cannot be asked.
IndexCheck verify_message_index(Session& session);

// The schema version this build needs: its last migration's.
int required_schema_version();

// Whether this worker can work on the database as it is: schema_migration
// records required_schema_version() and the account may read every table of
// the schema. Ok, or Retryable naming what is missing ("schema version 0,
// need 2: run `hm-worker migrate`", or the table the account has no grant
// on): waiting (for `migrate`, or an operator) fixes it. Never throws; a
// failure to ask is Retryable too.
Status check_schema(Session& session);

// check_schema() for the stores, asked until it passes once and then
// remembered, until an error says the schema or a grant is missing again
// (1146, 1142, 1143, 1054). While it fails the stores store nothing and
// answer kRetryable, so deliveries stay pending until `migrate` has run.
// Thread-safe.
class SchemaGate {
 public:
  Status check(Session& session);
  // Forgets a passed check when `code` says the schema or a grant is missing.
  void note(int code);
  bool ready() const { return ready_.load(); }

 private:
  std::atomic<bool> ready_{false};
};

}  // namespace hm::mysql
