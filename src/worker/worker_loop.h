#pragma once
// The loops that feed deliveries through the IngestService and decide, from
// each outcome, what happens to the delivery.
//
// drain_source (file or stdin): done -> counted; dead letter or retries
// exhausted -> written to the dead-letter sink with the reason (a file cannot
// redeliver). Oversized deliveries are dead-lettered without being parsed.
//
// StreamWorker (a queue): done -> acknowledged; dead letter, or delivered more
// than QUEUE_MAX_DELIVERIES times -> moved to the dead-letter stream and
// acknowledged; retries exhausted -> left unacknowledged, to be delivered again;
// waiting for something outside the entry (counts_as_delivery false) -> left
// unacknowledged without counting the delivery (DeliveryQueue::keep_uncounted).

#include <atomic>
#include <functional>
#include <mutex>

#include "hm/clock.h"
#include "hm/dead_letter.h"
#include "hm/delivery_queue.h"
#include "hm/delivery_source.h"
#include "hm/batch_handler.h"
#include "hm/stop_signal.h"
#include "hm/telemetry.h"
#include "worker/breaker.h"

namespace hm {

// What drain_source did: the counts, and the dead letters the sink refused.
// A refused delivery was neither stored nor recorded: each is logged (error
// level) with its origin and reason, and the run goes on so that the good
// deliveries after it are still stored; the caller must then fail (exit 1).
struct DrainResult {
  IngestCounts counts;
  long long refused = 0;  // dead letters the sink could not take
  Status first_refusal;   // why the first one was refused (names DEAD_LETTER_PATH for the file sink)
  Status read;            // the source's status at its end: a read error stops the drain
};

// Runs until the source ends, `read_count` deliveries at a time, whatever the
// dead-letter sink answers (see DrainResult).
DrainResult drain_source(DeliverySource& source, const BatchHandler& service, DeadLetterSink& dead_letters,
                          const Clock& clock, std::size_t max_delivery_bytes, std::size_t read_count = 1,
                          Telemetry& telemetry = no_telemetry());

// Counters shared by the worker threads of one process. Thread-safe.
class WorkerTotals {
 public:
  void add(const IngestCounts& c);
  IngestCounts snapshot() const;

 private:
  mutable std::mutex mutex_;
  IngestCounts totals_;  // guarded by mutex_
};

struct StreamWorkerOptions {
  // Entries taken from the queue per read (QUEUE_READ_COUNT), handled and
  // acknowledged together.
  std::size_t read_count = 100;
  int max_deliveries = 10;
  std::size_t max_delivery_bytes = std::size_t{1024} * 1024;
  // Called at every turn of the loop (the liveness heartbeat). Optional.
  std::function<void()> on_loop;
  // When set: opened by a batch whose entries were left because the database
  // was unreachable; no new read until it closes again. Optional.
  CircuitBreaker* breaker = nullptr;
};

// One worker thread's loop over a DeliveryQueue. Not thread-safe: one per thread.
class StreamWorker {
 public:
  StreamWorker(DeliveryQueue& queue, const BatchHandler& handler, StreamWorkerOptions options, const StopSignal& stop,
               WorkerTotals& totals, Telemetry& telemetry = no_telemetry());

  // Reads and processes batches until a stop is requested; the batch in
  // flight when it is requested is finished and acknowledged first.
  void run();

  // Processes one batch: ingest, then ack / dead-letter / leave. Returns its
  // counts. An entry left because a dependency was unreachable opens the breaker.
  IngestCounts process(const std::vector<QueueEntry>& batch);

 private:
  DeliveryQueue& queue_;
  const BatchHandler& service_;
  StreamWorkerOptions options_;
  const StopSignal& stop_;
  WorkerTotals& totals_;
  Telemetry& telemetry_;
};

}  // namespace hm
