// hm-worker migrate [--verify]: the schema, idempotently, and the seed's
// index verification.
#include <iostream>

#include "commands/command.h"
#include "mysql/schema.h"
#include "mysql/session.h"

namespace hm::commands {

int run_migrate(const Invocation& in) {
  const bool verify_only = in.args.count("verify") > 0;
  Database db;
  auto session = mysql::Session::connect(db.driver, in.cfg.db);
  if (!verify_only) {
    const auto result = mysql::migrate(*session);
    std::string applied;
    for (int v : result.applied) applied += (applied.empty() ? "" : ",") + std::to_string(v);
    std::cout << "schema at version " << result.current_version
              << (applied.empty() ? " (nothing to apply)" : " (applied " + applied + ")") << "\n";
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
