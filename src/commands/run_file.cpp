// hm-worker run --role ingest --source file:PATH|-: ingests JSONL deliveries
// to the end of the input, dead letters to DEAD_LETTER_PATH, then prints the
// summary line. A dead letter the file refuses does not stop the run (the good
// deliveries after it are still stored) but makes it exit 1.
#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>
#include <memory>

#include "commands/run.h"

#include "mysql/schema.h"
#include "core/dead_letter_file.h"
#include "core/line_source.h"
#include "ingest/ingest_service.h"
#include "mysql/message_store.h"
#include "mysql/session.h"
#include "worker/worker_loop.h"

namespace hm::commands {
namespace {

// A file run is one-shot: the database must answer at start (DbError, exit 1).
void probe_database(mysql::SessionPool& pool, const Config& cfg) {
  auto probe = pool.checkout();
  spdlog::info("connected to {} (connection {}), pool size {} + overflow {}", probe->server_version(),
               probe->connection_id(), cfg.pool.size, cfg.pool.max_overflow);
  if (const Status schema = mysql::check_schema(*probe); !schema.ok()) {
    spdlog::warn("database not ready: {}; unready and storing nothing until it is", schema.message);
  }
}

}  // namespace

int run_file(const Config& cfg, const std::string& source_spec) {
  std::unique_ptr<std::ifstream> file;
  std::istream* in = nullptr;
  std::string name;
  if (source_spec == "-") {
    in = &std::cin;
    name = "stdin";
  } else {
    name = source_spec.substr(5);
    file = std::make_unique<std::ifstream>(name, std::ios::binary);
    if (!*file) {
      std::cerr << "hm-worker: --source " << source_spec << ": cannot open '" << name << "'\n";
      return kExitUsage;
    }
    in = file.get();
  }

  Database db;
  SystemClock clock;
  mysql::SessionPool pool(
      cfg.pool, [&] { return mysql::Session::connect(db.driver, cfg.db); }, clock);
  probe_database(pool, cfg);
  mysql::MysqlMessageStore store(pool);
  IngestService service(store, clock, {cfg.retry, cfg.ingest.per_transaction, {}});
  FileDeadLetterSink dead_letters(cfg.ingest.dead_letter_path);
  LineSource source(*in, "file:" + name, cfg.ingest.max_delivery_bytes);
  const DrainResult drained =
      drain_source(source, service, dead_letters, clock, cfg.ingest.max_delivery_bytes, cfg.ingest.read_count);
  const IngestCounts& counts = drained.counts;
  const PoolStats ps = pool.stats();
  spdlog::info("done: applied={} retries={} pool peak_open={} connects={}", counts.applied, counts.retries,
               ps.peak_open, ps.connects);
  if (counts.dead_lettered > 0) spdlog::warn("{} deliveries written to {}", counts.dead_lettered, dead_letters.path());
  std::cout << counts.summary() << std::endl;
  if (!drained.read.ok()) {
    // What was read is stored; the rest of the input was never seen.
    std::cerr << "hm-worker: " << drained.read.message << "; run the input again (stored deliveries count as duplicates)\n";
    return kExitFailure;
  }
  if (drained.refused > 0) {
    // The good deliveries are stored; the bad ones are recorded nowhere: a runtime failure.
    std::cerr << "hm-worker: " << drained.first_refusal.message << "; " << drained.refused
              << " bad deliveries were neither stored nor dead-lettered (each logged above with its origin); "
                 "fix DEAD_LETTER_PATH and run the input again (stored deliveries count as duplicates)\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace hm::commands
