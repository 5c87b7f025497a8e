// The layers of raw values (defaults, file, environment, flags) and their
// description for `hm-worker config`.
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <string_view>

#include <unistd.h>

#include "config/config.h"
#include "config/values.h"

namespace hm {
namespace {

using config::trim;

// scheme://user:password@host... -> scheme://user:<redacted>@host...
std::string redact_url_password(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const auto at = url.find('@', scheme + 3);
  if (at == std::string::npos) return url;
  const auto colon = url.find(':', scheme + 3);
  const std::size_t start = (colon != std::string::npos && colon < at) ? colon + 1 : scheme + 3;
  return url.substr(0, start) + "<redacted>" + url.substr(at);
}

// After S_: PORT_<n>_<proto>(_PROTO|_PORT|_ADDR).
bool is_port_link(std::string_view rest) {
  if (rest.substr(0, 5) != "PORT_") return false;
  rest.remove_prefix(5);
  std::size_t digits = 0;
  while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
  if (digits == 0 || digits >= rest.size() || rest[digits] != '_') return false;
  rest.remove_prefix(digits + 1);
  for (std::string_view proto : {"TCP", "UDP", "SCTP"}) {
    if (rest.substr(0, proto.size()) != proto) continue;
    const std::string_view tail = rest.substr(proto.size());
    if (tail.empty() || tail == "_PROTO" || tail == "_PORT" || tail == "_ADDR") return true;
  }
  return false;
}

// Kubernetes' service links for a Service named S: S_SERVICE_HOST,
// S_SERVICE_PORT(_NAME), S_PORT, S_PORT_<n>_<proto>(_PROTO|_PORT|_ADDR); S is
// [A-Z0-9_]+. A scan, not std::regex (which recurses per character).
bool is_service_link(const std::string& name) {
  const auto allowed = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; };
  if (!std::all_of(name.begin(), name.end(), allowed)) return false;
  for (std::size_t p = 1; p + 1 < name.size(); ++p) {  // S = name[0, p), then '_'
    if (name[p] != '_') continue;
    const std::string_view rest = std::string_view(name).substr(p + 1);
    if (rest == "SERVICE_HOST" || rest == "PORT" || rest == "SERVICE_PORT") return true;
    if (rest.size() > 13 && rest.substr(0, 13) == "SERVICE_PORT_") return true;
    if (is_port_link(rest)) return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> environment_names() {
  std::vector<std::string> names;
  for (char** e = environ; e && *e; ++e) {
    const std::string entry(*e);
    names.push_back(entry.substr(0, entry.find('=')));
  }
  return names;
}

std::vector<std::string> unknown_variables(const std::vector<std::string>& names) {
  std::set<std::string> prefixes;  // "DB_" of DB_HOST, "REDIS_" of REDIS_URL...
  for (const auto& v : known_variables())
    if (const auto underscore = v.name.find('_'); underscore != std::string::npos)
      prefixes.insert(v.name.substr(0, underscore + 1));
  std::set<std::string> unknown;
  for (const auto& name : names) {
    if (find_variable(name) || is_service_link(name)) continue;
    if (std::any_of(prefixes.begin(), prefixes.end(), [&](const std::string& p) { return name.rfind(p, 0) == 0; }))
      unknown.insert(name);
  }
  return {unknown.begin(), unknown.end()};
}

const char* to_string(ValueOrigin origin) {
  switch (origin) {
    case ValueOrigin::kDefault: return "default";
    case ValueOrigin::kFile: return "file";
    case ValueOrigin::kEnvironment: return "env";
    case ValueOrigin::kFlag: return "flag";
  }
  return "default";
}

void RawConfig::set(const std::string& name, std::string value, ValueOrigin origin) {
  auto it = values_.find(name);
  if (it == values_.end() || static_cast<int>(origin) >= static_cast<int>(it->second.origin)) {
    values_[name] = RawValue{std::move(value), origin};
  }
}

std::optional<std::string> RawConfig::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second.value;
}

ValueOrigin RawConfig::origin(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? ValueOrigin::kDefault : it->second.origin;
}

bool RawConfig::is_set(const std::string& name) const {
  auto it = values_.find(name);
  return it != values_.end() && it->second.origin != ValueOrigin::kDefault;
}

std::map<std::string, std::string> read_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("--config", "cannot read '" + path + "'");
  std::map<std::string, std::string> out;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    std::string body = t;
    if (body.rfind("export ", 0) == 0) body = trim(body.substr(7));
    const auto eq = body.find('=');
    const std::string where = path + ":" + std::to_string(lineno);
    if (eq == std::string::npos) throw ConfigError("--config", where + ": expected KEY=VALUE");
    const std::string key = trim(body.substr(0, eq));
    std::string value = trim(body.substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front())
      value = value.substr(1, value.size() - 2);
    if (!find_variable(key)) throw ConfigError(key, "unknown variable in " + where);
    out[key] = value;
  }
  return out;
}

std::optional<std::string> process_env(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  return std::string(v);
}

RawConfig layer_config(const std::string& config_file, EnvLookup env,
                       const std::map<std::string, std::string>& flags) {
  RawConfig raw;
  for (const auto& v : known_variables())
    if (!v.default_value.empty()) raw.set(v.name, v.default_value, ValueOrigin::kDefault);
  if (!config_file.empty()) {
    for (const auto& [k, v] : read_config_file(config_file)) raw.set(k, v, ValueOrigin::kFile);
  }
  for (const auto& v : known_variables()) {
    if (auto value = env(v.name.c_str())) raw.set(v.name, *value, ValueOrigin::kEnvironment);
  }
  for (const auto& [k, v] : flags) {
    const VariableSpec* spec = find_variable(k);
    if (!spec) throw ConfigError(k, "unknown variable");
    if (spec->secret) throw ConfigError(k, "is a secret and cannot be given as a flag; use the environment or a file");
    raw.set(k, v, ValueOrigin::kFlag);
  }
  return raw;
}

std::vector<std::string> describe_config(const RawConfig& raw) {
  std::vector<std::string> lines;
  for (const auto& v : known_variables()) {
    auto value = raw.get(v.name);
    std::string shown;
    if (!value || value->empty()) {
      shown = "";
    } else if (v.secret) {
      shown = "<redacted>";
    } else if (v.name == "REDIS_URL") {
      shown = redact_url_password(*value);
    } else {
      shown = *value;
    }
    lines.push_back(v.name + "=" + shown + "  # " + to_string(raw.origin(v.name)));
  }
  return lines;
}

}  // namespace hm
