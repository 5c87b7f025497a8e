#pragma once
// The four roles a worker process can take (WORKER_ROLE), each consuming its
// own stream: ingest stores webhook deliveries and fans out jobs to the other
// three.

#include <array>
#include <optional>
#include <string_view>

namespace hm {

enum class Role { kIngest, kEnrich, kMedia, kReply };

inline constexpr std::array<Role, 4> kAllRoles{Role::kIngest, Role::kEnrich, Role::kMedia, Role::kReply};

// "ingest", "enrich", "media", "reply".
constexpr const char* to_string(Role role) {
  switch (role) {
    case Role::kIngest: return "ingest";
    case Role::kEnrich: return "enrich";
    case Role::kMedia: return "media";
    case Role::kReply: return "reply";
  }
  return "ingest";
}

// The role named `name`, or nullopt.
constexpr std::optional<Role> parse_role(std::string_view name) {
  for (Role r : kAllRoles) {
    if (name == to_string(r)) return r;
  }
  return std::nullopt;
}

}  // namespace hm
