// hm-worker dead-letters list|replay|purge: the role's dead-letter stream.
#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "commands/command.h"
#include "core/dead_letter_file.h"
#include "commands/queue_options.h"
#include "redis/stream_admin.h"
#include "redis/stream_queue.h"

namespace hm::commands {
namespace {

// A stream's dead letter in the shape of the file's (core/dead_letter_file.h).
DeadLetter as_letter(const redis::StreamAdmin::DeadEntry& d, const std::string& stream) {
  DeadLetter l;
  l.id = d.id;
  l.entry_id = d.entry_id;
  l.payload = d.payload;
  l.size = d.payload.size();
  l.reason = d.reason;
  l.attempts = static_cast<int>(std::strtol(d.attempts.c_str(), nullptr, 10));
  l.time_ms = std::strtoll(d.time_ms.c_str(), nullptr, 10);
  l.origin = stream;
  return l;
}

}  // namespace

int run_dead_letters(const Invocation& in) {
  const Config& cfg = in.cfg;
  const std::string& action = in.extra.front();
  const auto ids = in.args.count("id") ? in.args["id"].as<std::vector<std::string>>() : std::vector<std::string>{};
  const std::size_t count = in.args.count("count") ? in.args["count"].as<std::size_t>() : 100;
  redis::StreamAdmin admin(redis_options(cfg), stream_names(cfg));
  if (action == "list") {
    for (const auto& d : admin.dead_letters(count)) {
      if (!ids.empty() && std::find(ids.begin(), ids.end(), d.id) == ids.end()) continue;
      std::cout << dead_letter_json(as_letter(d, cfg.queue.stream)) << "\n";
    }
    std::cerr << "dead letters in " << cfg.queue.dead_letter_stream << ": " << admin.dead_length() << "\n";
    return kExitOk;
  }
  if (action == "replay") {
    const std::size_t n = admin.replay(ids, count);
    std::cout << "replayed=" << n << " to=" << cfg.queue.stream << std::endl;
    return kExitOk;
  }
  if (action == "purge") {
    const std::size_t n = admin.purge(ids);
    std::cout << "purged=" << n << " from=" << cfg.queue.dead_letter_stream << std::endl;
    return kExitOk;
  }
  std::cerr << "hm-worker: dead-letters: unknown action '" << action << "' (list, replay, purge)\n";
  return kExitUsage;
}

}  // namespace hm::commands
