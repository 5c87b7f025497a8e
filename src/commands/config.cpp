// hm-worker config: the effective configuration, secrets redacted.
#include <iostream>

#include "commands/command.h"

namespace hm::commands {

int run_config(const Invocation& in) {
  for (const auto& line : describe_config(in.raw)) std::cout << line << "\n";
  return kExitOk;
}

}  // namespace hm::commands
