#pragma once
// hm-worker run: the two sources. The stream daemon (run_stream) and the
// file/stdin run (run_file) share the database probe.

#include <string>

#include "commands/command.h"
#include "mysql/message_store.h"

namespace hm::commands {

int run_stream(const Config& cfg);
int run_file(const Config& cfg, const std::string& source_spec);

// Checks out one connection and logs the server: fails fast (DbError) when
// the database cannot be reached at start-up.
void probe_database(mysql::SessionPool& pool, const Config& cfg);

}  // namespace hm::commands
