#include "redis/stream_group.h"

#include <chrono>

namespace hm::redis {

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void ensure_group(Connection& c, const StreamNames& n) {
  try {
    c.command({"XGROUP", "CREATE", n.stream, n.group, "0", "MKSTREAM"});
  } catch (const RedisError& e) {
    if (e.kind() != RedisErrorKind::kReply || std::string(e.what()).find("BUSYGROUP") == std::string::npos) throw;
  }
}

}  // namespace hm::redis
