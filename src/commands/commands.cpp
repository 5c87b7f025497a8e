#include "commands/command.h"

namespace hm::commands {

const std::vector<CommandSpec>& command_table() {
  static const std::vector<CommandSpec> table = {
      {"migrate", "migrate [--verify]",
       "create or update the schema (idempotent); --verify only checks that\n"
       "message.ig_message_id has a case-sensitive UNIQUE index\n",
       {"verify"}, {"DATABASE_URL", "DB_", "!DB_POOL_", "!DB_MAX_OVERFLOW", "!DB_RETRY_", "LOG_"}, nullptr, false, run_migrate},
      {"run", "run --role ROLE [--source SRC]",
       "consume deliveries until SIGTERM; SRC is redis (the default: the\n"
       "role's stream), or file:PATH or - (stdin, JSONL: runs to the end)\n",
       {"role", "source"}, {"!DB_MIGRATE_"}, nullptr, true, run_run},
      {"enqueue", "enqueue --role ROLE FILE|-",
       "add JSONL deliveries to the role's stream (replays, backfills)\n",
       {"role"}, {"REDIS_", "QUEUE_", "MAX_DELIVERY_BYTES", "WORKER_ROLE", "LOG_"},
       "a FILE (or - for stdin)", false, run_enqueue},
      {"dead-letters", "dead-letters list|replay|purge [--id ID]... [--count N] [--older-than DURATION] [--all]",
       "show dead letters, move them back to the stream (replay without --id:\n"
       "all of them), or delete them (purge needs --id, --older-than or --all);\n"
       "the role is WORKER_ROLE's (the pod's own) unless --role is given\n",
       {"role", "id", "count", "older-than", "all"}, {"REDIS_", "QUEUE_", "WORKER_ROLE", "LOG_"},
       "an action: list, replay or purge", false, run_dead_letters},
      {"doctor", "doctor [--json] [--replicas ingest=N,reply=N,enrich=N,media=N] [--long-query-seconds N]",
       "check the live database: lock waits, long statements, connections\n"
       "against the fleet's budget, a worker session's settings, the index;\n"
       "exits 3 when something needs attention\n",
       {"json", "replicas", "long-query-seconds"}, {"DATABASE_URL", "DB_", "!DB_MIGRATE_", "LOG_"}, nullptr,
       false, run_doctor},
      {"config", "config", "print the effective configuration (secrets redacted)\n", {}, {}, nullptr, false,
       run_config},
  };
  return table;
}

const CommandSpec* find_command(const std::string& name) {
  for (const auto& c : command_table()) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

}  // namespace hm::commands
