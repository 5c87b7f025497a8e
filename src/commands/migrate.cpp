// hm-worker migrate [--verify]: the schema, idempotently, and the seed's
// index verification, as DB_MIGRATE_USER when that is set (the workers' own
// account then needs no DDL privilege).
#include <iostream>

#include "commands/command.h"
#include "mysql/schema.h"
#include "mysql/session.h"

namespace hm::commands {
namespace {

// Errors that mean "this account may not do that", not "the server is unwell".
bool privilege_missing(int code) {
  return code == 1142     // ER_TABLEACCESS_DENIED_ERROR: "CREATE command denied to user ..."
         || code == 1044  // ER_DBACCESS_DENIED_ERROR
         || code == 1227  // ER_SPECIFIC_ACCESS_DENIED_ERROR
         || code == 1143;  // ER_COLUMNACCESS_DENIED_ERROR
}

int apply(mysql::Session& session, const DbOptions& account) {
  try {
    const auto result = mysql::migrate(session);
    std::string applied;
    for (int v : result.applied) applied += (applied.empty() ? "" : ",") + std::to_string(v);
    std::cout << "schema at version " << result.current_version
              << (applied.empty() ? " (nothing to apply)" : " (applied " + applied + ")") << "\n";
    return kExitOk;
  } catch (const DbError& e) {
    if (!privilege_missing(e.code())) throw;
    std::cerr << "hm-worker: migrate: the account '" << account.user << "' lacks a privilege migrate needs: " << e.what()
              << "\nmigrate needs CREATE, ALTER, INDEX, DROP, SELECT, INSERT, UPDATE, DELETE on `" << account.name
              << "`.*; set DB_MIGRATE_USER (and DB_MIGRATE_PASSWORD_FILE) to such an account, the workers keep DB_USER\n";
    return kExitFailure;
  }
}

}  // namespace

int run_migrate(const Invocation& in) {
  const bool verify_only = in.args.count("verify") > 0;
  const DbOptions& account = in.cfg.migrate_db;
  Database db;
  auto session = mysql::Session::connect(db.driver, account);
  if (!verify_only) {
    if (const int code = apply(*session, account); code != kExitOk) return code;
  }
  const auto check = mysql::verify_message_index(*session);
  if (!check.ok) {
    for (const auto& p : check.problems) std::cerr << "index verification failed: " << p << "\n";
    return kExitFailure;
  }
  std::cout << "index ok: message." << "ig_message_id has UNIQUE index " << check.index_name << " with collation "
            << (check.collation.empty() ? "binary" : check.collation) << "\n";
  return kExitOk;
}

}  // namespace hm::commands
