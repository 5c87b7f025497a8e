#pragma once
// hm-worker run: the two sources, the stream daemon (run_stream) and the
// file/stdin run (run_file).

#include <string>

#include "commands/command.h"
#include "mysql/message_store.h"

namespace hm::commands {

int run_stream(const Config& cfg);
int run_file(const Config& cfg, const std::string& source_spec);

}  // namespace hm::commands
