#pragma once
// A setting that cannot be used: start-up stops with exit 2. Components that
// validate their own options (a rule file, REDIS_URL, doctor's --replicas)
// throw it; the composition root (src/commands/) reports it.

#include <stdexcept>
#include <string>

namespace hm {

// A configuration value that cannot be used. what() names the variable and the
// problem, never a secret value.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string variable, const std::string& problem)
      : std::runtime_error(variable + ": " + problem), variable_(std::move(variable)) {}
  const std::string& variable() const { return variable_; }

 private:
  std::string variable_;
};

}  // namespace hm
