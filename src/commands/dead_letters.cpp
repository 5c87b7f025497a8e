// hm-worker dead-letters list|replay|purge: the role's dead-letter stream
// (the role of WORKER_ROLE, the pod's own, unless --role says otherwise).
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <optional>

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

// "7d", "12h", "30m", "90s" or "3600" (seconds); nullopt otherwise.
std::optional<std::chrono::seconds> parse_duration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 9) return std::nullopt;
  const long long n = std::stoll(text.substr(0, digits));
  const std::string unit = text.substr(digits);
  if (unit.empty() || unit == "s") return std::chrono::seconds(n);
  if (unit == "m") return std::chrono::seconds(n * 60);
  if (unit == "h") return std::chrono::seconds(n * 3600);
  if (unit == "d") return std::chrono::seconds(n * 86400);
  return std::nullopt;
}

int purge(const Invocation& in, redis::StreamAdmin& admin, const std::vector<std::string>& ids) {
  const Config& cfg = in.cfg;
  const bool all = in.args.count("all") > 0;
  const bool older = in.args.count("older-than") > 0;
  if (static_cast<int>(all) + static_cast<int>(older) + static_cast<int>(!ids.empty()) != 1) {
    std::cerr << "hm-worker: dead-letters purge: say which dead letters: --id ID (repeatable), --older-than DURATION "
                 "(e.g. 7d, 12h, 30m, 90s) or --all (one of them)\n";
    return kExitUsage;
  }
  std::size_t n = 0;
  if (all) {
    n = admin.purge_all();
  } else if (older) {
    const auto age = parse_duration(in.args["older-than"].as<std::string>());
    if (!age) {
      std::cerr << "hm-worker: dead-letters purge --older-than '" << in.args["older-than"].as<std::string>()
                << "': expected a duration such as 7d, 12h, 30m, 90s or 3600\n";
      return kExitUsage;
    }
    n = admin.purge_older_than(*age);
  } else {
    n = admin.purge(ids);
  }
  std::cout << "purged=" << n << " from=" << cfg.queue.dead_letter_stream << std::endl;
  return kExitOk;
}

}  // namespace

int run_dead_letters(const Invocation& in) {
  const Config& cfg = in.cfg;
  const std::string& action = in.extra.front();
  const auto ids = in.args.count("id") ? in.args["id"].as<std::vector<std::string>>() : std::vector<std::string>{};
  const bool counted = in.args.count("count") > 0;
  const std::size_t count = counted ? in.args["count"].as<std::size_t>() : 100;
  if (action != "list" && action != "replay" && action != "purge") {
    std::cerr << "hm-worker: dead-letters: unknown action '" << action << "' (list, replay, purge)\n";
    return kExitUsage;
  }
  if (action != "purge" && (in.args.count("all") || in.args.count("older-than"))) {
    std::cerr << "hm-worker: dead-letters " << action << ": --all and --older-than are for purge\n";
    return kExitUsage;
  }
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
    // Without --id: every dead letter (at most --count when given).
    const std::size_t n = admin.replay(ids, counted ? std::max<std::size_t>(count, 1) : 0);
    std::cout << "replayed=" << n << " to=" << cfg.queue.stream << std::endl;
    return kExitOk;
  }
  return purge(in, admin, ids);
}

}  // namespace hm::commands
