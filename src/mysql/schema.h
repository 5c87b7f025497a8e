#pragma once
// The database schema: versioned, idempotent migrations and the check that
// the UNIQUE index on message.ig_message_id exists and is case-sensitive.

#include <string>
#include <vector>

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

}  // namespace hm::mysql
