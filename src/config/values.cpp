#include "config/values.h"

#include <cctype>
#include <charconv>
#include <fstream>
#include <sstream>

#include "core/destination.h"

namespace hm::config {

std::string trim(const std::string& s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

long long parse_integer(const std::string& name, const std::string& raw, long long min,
                        long long max, const char* unit) {
  const std::string s = trim(raw);
  if (s.empty()) throw ConfigError(name, "is empty, expected a whole number" + std::string(unit));
  if (s[0] == '-') throw ConfigError(name, "is negative ('" + s + "'), expected a whole number >= " + std::to_string(min) + unit);
  long long value = 0;
  const char* first = s.data();
  const char* last = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec == std::errc::result_out_of_range)
    throw ConfigError(name, "'" + s + "' is too large, the maximum is " + std::to_string(max) + unit);
  if (ec != std::errc() || ptr != last)
    throw ConfigError(name, "'" + s + "' is not a number, expected a whole number" + std::string(unit));
  if (value < min)
    throw ConfigError(name, "'" + s + "' is too small, the minimum is " + std::to_string(min) + unit);
  if (value > max)
    throw ConfigError(name, "'" + s + "' is too large, the maximum is " + std::to_string(max) + unit);
  return value;
}

bool parse_bool(const std::string& name, const std::string& raw) {
  std::string s = trim(raw);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "true" || s == "yes" || s == "on" || s == "1") return true;
  if (s == "false" || s == "no" || s == "off" || s == "0") return false;
  throw ConfigError(name, "'" + trim(raw) + "' is not a boolean, expected true or false");
}

std::string read_secret_file(const std::string& variable, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(variable, "cannot read '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string value = ss.str();
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  return value;
}

void check_bind_address(const std::string& name, const std::string& address) {
  if (!is_ip_literal(address))
    throw ConfigError(name, "'" + address + "' is not a numeric IPv4 or IPv6 address (e.g. 0.0.0.0)");
}

}  // namespace hm::config
