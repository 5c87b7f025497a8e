#include "worker/worker_loop.h"

#include <spdlog/spdlog.h>

#include <optional>

#include "ops/logging.h"

namespace hm {
namespace {

// The dead letter for a delivery of a file source that was not done, or
// nullopt when it was (its counts added to `total`).
std::optional<DeadLetter> letter_for(SourcedDelivery& d, const DeliveryOutcome* out, std::size_t max_delivery_bytes,
                                     IngestCounts& total) {
  DeadLetter letter;
  if (d.oversized) {
    letter.reason = "delivery is " + std::to_string(d.size) + " bytes, over MAX_DELIVERY_BYTES=" +
                    std::to_string(max_delivery_bytes) + " (the first " + std::to_string(d.payload.size()) +
                    " bytes are kept)";
    letter.truncated = true;
  } else {
    total += out->counts;
    if (out->verdict == Verdict::kDone) return std::nullopt;
    letter.reason = out->verdict == Verdict::kRetryLater ? "retries exhausted: " + out->reason : out->reason;
    letter.attempts = out->attempts;
  }
  letter.payload = std::move(d.payload);
  letter.size = d.size;
  letter.origin = d.origin;
  return letter;
}

}  // namespace

DrainResult drain_source(DeliverySource& source, const BatchHandler& service, DeadLetterSink& dead_letters,
                         const Clock& clock, std::size_t max_delivery_bytes, std::size_t read_count,
                         Telemetry& telemetry) {
  DrainResult result;
  IngestCounts& total = result.counts;
  bool more = true;
  while (more) {
    std::vector<SourcedDelivery> batch;
    while (batch.size() < std::max<std::size_t>(read_count, 1)) {
      auto d = source.next();
      if (!d) {
        more = false;
        break;
      }
      batch.push_back(std::move(*d));
    }
    if (batch.empty()) break;
    std::vector<std::string_view> payloads;
    std::vector<std::size_t> where;  // batch index of each payload
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].oversized) continue;
      payloads.push_back(batch[i].payload);
      where.push_back(i);
    }
    const auto outcomes = service.handle(payloads);
    IngestCounts chunk;
    chunk.deliveries = static_cast<long long>(batch.size());
    for (const auto& o : outcomes) chunk += o.counts;
    telemetry.counted(chunk);
    std::vector<const DeliveryOutcome*> by_index(batch.size(), nullptr);
    for (std::size_t k = 0; k < where.size(); ++k) by_index[where[k]] = &outcomes[k];
    for (std::size_t i = 0; i < batch.size(); ++i) {
      ++total.deliveries;
      auto letter = letter_for(batch[i], by_index[i], max_delivery_bytes, total);
      if (!letter) continue;
      letter->time_ms = clock.wall_ms();
      spdlog::warn("dead-lettering {}: {}", letter->origin, letter->reason);
      if (const Status st = dead_letters.put(*letter); !st.ok()) {
        // Stopping here would leave the good deliveries after this one unstored.
        spdlog::error("{} was neither stored nor dead-lettered: {}", letter->origin, st.message);
        if (result.refused++ == 0) result.first_refusal = st;
        continue;
      }
      telemetry.dead_lettered(dead_letter_class(letter->reason));
      ++total.dead_lettered;
    }
  }
  result.read = source.status();
  return result;
}

void WorkerTotals::add(const IngestCounts& c) {
  std::lock_guard<std::mutex> lock(mutex_);
  totals_ += c;
}

IngestCounts WorkerTotals::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return totals_;
}

StreamWorker::StreamWorker(DeliveryQueue& queue, const BatchHandler& service, StreamWorkerOptions options,
                           const StopSignal& stop, WorkerTotals& totals, Telemetry& telemetry)
    : queue_(queue),
      service_(service),
      options_(std::move(options)),
      stop_(stop),
      totals_(totals),
      telemetry_(telemetry) {}

void StreamWorker::run() {
  while (!stop_.requested()) {
    if (options_.on_loop) options_.on_loop();
    if (options_.breaker && options_.breaker->open()) {
      // Entries left pending meanwhile come back once it answers again.
      options_.breaker->wait_until_closed();
      continue;
    }
    const auto batch = queue_.read(options_.read_count);
    if (batch.empty()) continue;
    // Entries read are ours now: finish them even when a stop came meanwhile.
    totals_.add(process(batch));
  }
}

namespace {

long long wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Why an entry is dead-lettered before its handler sees it, or "".
std::string refusal(const QueueEntry& e, const StreamWorkerOptions& o) {
  if (!e.problem.empty()) return "bad queue entry: " + e.problem;
  if (e.deliveries > o.max_deliveries)
    return "delivered " + std::to_string(e.deliveries) + " times, over QUEUE_MAX_DELIVERIES=" +
           std::to_string(o.max_deliveries);
  if (e.payload.size() > o.max_delivery_bytes)
    return "delivery is " + std::to_string(e.payload.size()) + " bytes, over MAX_DELIVERY_BYTES=" +
           std::to_string(o.max_delivery_bytes);
  return "";
}

// Seconds from each known time (ms since the epoch; 0 = unknown, skipped) to now_ms.
std::vector<double> seconds_since(const std::vector<long long>& times_ms, long long now_ms) {
  std::vector<double> out;
  for (long long t : times_ms)
    if (t > 0 && t <= now_ms) out.push_back(static_cast<double>(now_ms - t) / 1000.0);
  return out;
}

}  // namespace

IngestCounts StreamWorker::process(const std::vector<QueueEntry>& batch) {
  const auto started = std::chrono::steady_clock::now();
  IngestCounts counts;
  counts.deliveries = static_cast<long long>(batch.size());
  struct Doomed {
    const QueueEntry* entry;
    std::string reason;
    int attempts;
  };
  std::vector<Doomed> doomed;
  std::vector<std::string_view> payloads;
  std::vector<const QueueEntry*> sent;
  for (const auto& e : batch) {
    if (std::string reason = refusal(e, options_); !reason.empty()) {
      doomed.push_back({&e, std::move(reason), e.deliveries});
    } else {
      payloads.push_back(e.payload);
      sent.push_back(&e);
    }
  }
  const auto outcomes = service_.handle(payloads);
  std::vector<std::string> acks;
  std::vector<QueueEntry> waiting;  // left pending, this delivery not counted
  std::vector<OutboundJob> jobs;
  std::vector<long long> committed_enqueued;  // ms since epoch
  std::vector<long long> committed_received;  // ms since epoch (through the webhook receiver)
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const DeliveryOutcome& out = outcomes[i];
    counts += out.counts;
    if (out.verdict != Verdict::kRetryLater) {
      // Dead letters too: what they did store owes its jobs.
      jobs.insert(jobs.end(), out.jobs.begin(), out.jobs.end());
    }
    switch (out.verdict) {
      case Verdict::kDone:
        acks.push_back(sent[i]->id);
        committed_enqueued.push_back(sent[i]->enqueued_ms);
        committed_received.push_back(sent[i]->received_ms);
        break;
      case Verdict::kDeadLetter:
        doomed.push_back({sent[i], out.reason, sent[i]->deliveries});
        break;
      case Verdict::kRetryLater:
        if (!out.counts_as_delivery) {
          log_event(spdlog::level::info, "waiting; left for redelivery, not counted as a delivery",
                    {{"entry", sent[i]->id}, {"reason", out.reason}});
          waiting.push_back(*sent[i]);
          break;
        }
        log_event(spdlog::level::warn, "left for redelivery",
                  {{"entry", sent[i]->id}, {"delivery", sent[i]->deliveries}, {"reason", out.reason}});
        if (!out.unavailable.empty() && options_.breaker) options_.breaker->failed(out.reason);
        break;
    }
  }
  // Acknowledge only what is committed; XACK after the database commit.
  if ((!acks.empty() || !jobs.empty()) && !queue_.ack(acks, jobs).ok()) {
    spdlog::warn("could not acknowledge {} stored entries; they will be delivered again (harmless)", acks.size());
  }
  if (!acks.empty()) telemetry_.committed(wall_now_ms());
  if (!waiting.empty() && !queue_.keep_uncounted(waiting).ok())
    spdlog::warn("could not uncount {} waiting entries; this delivery counts toward QUEUE_MAX_DELIVERIES", waiting.size());
  for (const auto& d : doomed) {
    log_event(spdlog::level::warn, "dead-lettering",
              {{"entry", d.entry->id}, {"class", dead_letter_class(d.reason)}, {"attempts", d.attempts}, {"reason", d.reason}});
    if (queue_.dead_letter(*d.entry, d.reason, d.attempts).ok()) {
      ++counts.dead_lettered;
      telemetry_.dead_lettered(dead_letter_class(d.reason));
    } else {
      spdlog::error("could not dead-letter entry {}; it stays pending and will be delivered again", d.entry->id);
    }
  }
  const long long now_wall = wall_now_ms();
  telemetry_.received_to_commit(seconds_since(committed_received, now_wall));  // empty unless via the receiver
  telemetry_.counted(counts);
  telemetry_.batch_done(batch.size(), std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
                        seconds_since(committed_enqueued, now_wall));
  return counts;
}

}  // namespace hm
