// hm-worker config: the effective configuration, secrets redacted.
#include <iostream>

#include "commands/command.h"

namespace hm::commands {

int run_config(const Invocation& in) {
  for (const auto& line : describe_config(in.raw)) std::cout << line << "\n";
  // Names only, never values: a mistyped variable may hold a secret.
  for (const auto& name : unknown_variables(environment_names()))
    std::cout << "# unknown variable in the environment, ignored: " << name << "\n";
  return kExitOk;
}

}  // namespace hm::commands
