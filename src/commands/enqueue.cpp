// hm-worker enqueue --role ROLE FILE|-: JSONL deliveries onto the role's
// stream (replays, backfills).
#include <fstream>
#include <iostream>
#include <memory>

#include "commands/command.h"
#include "core/line_source.h"
#include "commands/queue_options.h"
#include "redis/stream_admin.h"
#include "redis/stream_queue.h"

namespace hm::commands {

int run_enqueue(const Invocation& in) {
  const Config& cfg = in.cfg;
  const std::string& input = in.extra.front();
  std::unique_ptr<std::ifstream> file;
  std::istream* stream = &std::cin;
  if (input != "-") {
    file = std::make_unique<std::ifstream>(input, std::ios::binary);
    if (!*file) {
      std::cerr << "hm-worker: enqueue: cannot open '" << input << "'\n";
      return kExitUsage;
    }
    stream = file.get();
  }
  SystemClock clock;
  redis::StreamAdmin admin(redis_options(cfg), stream_names(cfg));
  LineSource source(*stream, input == "-" ? "stdin" : input, cfg.ingest.max_delivery_bytes);
  const std::size_t n = admin.enqueue(source, clock);
  std::cout << "enqueued=" << n << " stream=" << cfg.queue.stream << std::endl;
  return kExitOk;
}

}  // namespace hm::commands
