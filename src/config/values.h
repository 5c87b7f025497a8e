#pragma once
// Strict parsing of single raw values, shared by the loader and parse_config
// (internal to src/config/). Every rejection is a ConfigError naming the
// variable; a rejected value that may be secret is never quoted.
//
// Thread-safety: pure functions (read_secret_file reads a file).

#include <string>

#include "hm/config_error.h"

namespace hm::config {

// Without leading and trailing white space.
std::string trim(const std::string& s);
std::string upper(std::string s);

// A whole number in [min, max]: digits only after trimming, no sign, no
// trailing text. `unit` (e.g. " (seconds)") ends every message.
long long parse_integer(const std::string& name, const std::string& raw, long long min, long long max,
                        const char* unit);

// true for true/yes/on/1, false for false/no/off/0 (any case, trimmed);
// anything else is a ConfigError naming the variable.
bool parse_bool(const std::string& name, const std::string& raw);

// A bind address: a numeric IPv4 or IPv6 address (no host names: a server
// must not depend on DNS to start). Otherwise a ConfigError naming `name`.
void check_bind_address(const std::string& name, const std::string& address);

// The contents of a mounted secret file, trailing newlines removed; the
// ConfigError names `variable` and the path.
std::string read_secret_file(const std::string& variable, const std::string& path);

}  // namespace hm::config
