#include "ops/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <mutex>
#include <sstream>

#include "hm/batch_handler.h"

namespace hm {

struct PrometheusMetrics::Families {
  prometheus::Family<prometheus::Counter>* deliveries;
  prometheus::Family<prometheus::Counter>* messages;
  prometheus::Family<prometheus::Counter>* events;
  prometheus::Family<prometheus::Counter>* dead_letters;
  prometheus::Family<prometheus::Counter>* retries;
  prometheus::Family<prometheus::Counter>* lock_wait_timeouts;
  prometheus::Family<prometheus::Counter>* deadlocks;
  prometheus::Family<prometheus::Histogram>* batch_size;
  prometheus::Family<prometheus::Histogram>* fetch_to_commit;
  prometheus::Family<prometheus::Histogram>* enqueue_to_commit;
  prometheus::Family<prometheus::Histogram>* receive_to_commit;
  prometheus::Family<prometheus::Gauge>* pool_size;
  prometheus::Family<prometheus::Gauge>* pool_overflow;
  prometheus::Family<prometheus::Gauge>* pool_connections;
  prometheus::Family<prometheus::Gauge>* pool_waiting;
  prometheus::Family<prometheus::Gauge>* pool_peak;
  prometheus::Family<prometheus::Histogram>* pool_wait;
  prometheus::Family<prometheus::Counter>* pool_timeouts;
  prometheus::Family<prometheus::Gauge>* queue_pending;
  prometheus::Family<prometheus::Gauge>* queue_lag;
  prometheus::Family<prometheus::Gauge>* queue_dead;
  prometheus::Family<prometheus::Gauge>* queue_oldest_age;
  prometheus::Family<prometheus::Counter>* redis_errors;
  prometheus::Family<prometheus::Counter>* media_refused;
  prometheus::Family<prometheus::Gauge>* breaker_open;
  prometheus::Family<prometheus::Counter>* breaker_opens;
  prometheus::Family<prometheus::Gauge>* graph_blocked;
  prometheus::Family<prometheus::Counter>* graph_blocks;
  prometheus::Family<prometheus::Gauge>* last_commit;
  prometheus::Family<prometheus::Gauge>* build_info;
  prometheus::Family<prometheus::Counter>* trimmed;
  prometheus::Family<prometheus::Counter>* consumers_deleted;
  prometheus::Family<prometheus::Counter>* replies;
  prometheus::Family<prometheus::Gauge>* stream_length;
  prometheus::Family<prometheus::Counter>* process_cpu;
  double cpu_reported = 0;  // guarded by mutex: what process_cpu holds
  prometheus::Family<prometheus::Gauge>* process_rss;
  prometheus::Family<prometheus::Gauge>* process_fds;
  prometheus::Family<prometheus::Gauge>* process_start;

  // Series created lazily (per error code, per reason) are cached here.
  std::mutex mutex;
  std::map<int, prometheus::Counter*> retries_by_code;
  std::map<std::string, prometheus::Counter*> dead_by_reason;
  std::map<std::string, prometheus::Counter*> redis_errors_by_kind;
};

namespace {

const prometheus::Histogram::BucketBoundaries kBatchBuckets = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                                 0.25,  0.5,    1,     2.5,  5,     10,   30, 60};
const prometheus::Histogram::BucketBoundaries kWaitBuckets = {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05,
                                                              0.1,    0.5,    1,     5,     10,   30};

}  // namespace

PrometheusMetrics::PrometheusMetrics(std::optional<Role> role, const std::string& version)
    : registry_(std::make_shared<prometheus::Registry>()),
      f_(std::make_unique<Families>()),
      kind_(role),
      role_(role ? to_string(*role) : "webhook") {
  using prometheus::BuildCounter;
  using prometheus::BuildGauge;
  using prometheus::BuildHistogram;
  auto& r = *registry_;
  f_->deliveries = &BuildCounter().Name("hm_worker_deliveries_total").Help("Webhook deliveries consumed").Register(r);
  f_->messages = &BuildCounter()
                      .Name("hm_worker_messages_total")
                      .Help("Messages by outcome: inserted (new row) or duplicate (already stored)")
                      .Register(r);
  f_->events = &BuildCounter()
                    .Name("hm_worker_events_total")
                    .Help("Other events by outcome: applied (deletion, edit, reaction, read) or skipped (kind not stored)")
                    .Register(r);
  f_->dead_letters =
      &BuildCounter().Name("hm_worker_dead_letters_total").Help("Deliveries dead-lettered, by reason class").Register(r);
  f_->retries =
      &BuildCounter().Name("hm_worker_db_retries_total").Help("Store calls retried, by MySQL error code").Register(r);
  f_->lock_wait_timeouts = &BuildCounter()
                                .Name("hm_worker_db_lock_wait_timeouts_total")
                                .Help("Lock wait timeouts (error 1205) met and retried")
                                .Register(r);
  f_->deadlocks =
      &BuildCounter().Name("hm_worker_db_deadlocks_total").Help("Deadlocks (error 1213) met and retried").Register(r);
  f_->batch_size = &BuildHistogram().Name("hm_worker_batch_size").Help("Entries per batch").Register(r);
  f_->fetch_to_commit = &BuildHistogram()
                             .Name("hm_worker_fetch_to_commit_seconds")
                             .Help("From reading a batch to acknowledging it")
                             .Register(r);
  f_->enqueue_to_commit = &BuildHistogram()
                               .Name("hm_worker_enqueue_to_commit_seconds")
                               .Help("From enqueueing a delivery to acknowledging it")
                               .Register(r);
  f_->receive_to_commit = &BuildHistogram()
                               .Name("hm_worker_receive_to_commit_seconds")
                               .Help("From the webhook receiver getting a delivery to acknowledging it")
                               .Register(r);
  register_pool_and_queue(r);
  register_retention_and_process(r);
  f_->build_info = &BuildGauge().Name("hm_worker_build_info").Help("Build information; always 1").Register(r);

  f_->build_info->Add({{"role", role_}, {"version", version}}).Set(1);
  // Create the fixed series now so that they are exported (as 0) from the start.
  f_->deliveries->Add({{"role", role_}});
  for (const char* o : {"inserted", "duplicate"}) f_->messages->Add({{"role", role_}, {"outcome", o}});
  for (const char* o : {"applied", "skipped"}) f_->events->Add({{"role", role_}, {"outcome", o}});
  f_->lock_wait_timeouts->Add({{"role", role_}});
  f_->deadlocks->Add({{"role", role_}});
  f_->batch_size->Add({{"role", role_}}, kBatchBuckets);
  f_->fetch_to_commit->Add({{"role", role_}}, kLatencyBuckets);
  f_->enqueue_to_commit->Add({{"role", role_}}, kLatencyBuckets);
  f_->pool_wait->Add({{"role", role_}}, kWaitBuckets);
  f_->pool_timeouts->Add({{"role", role_}});
  for (const char* d : {"database", "redis"}) f_->breaker_open->Add({{"role", role_}, {"dependency", d}});
  f_->last_commit->Add({{"role", role_}});
}

void PrometheusMetrics::register_pool_and_queue(prometheus::Registry& r) {
  using prometheus::BuildCounter;
  using prometheus::BuildGauge;
  using prometheus::BuildHistogram;
  f_->pool_size = &BuildGauge().Name("hm_worker_db_pool_size").Help("Configured DB_POOL_SIZE").Register(r);
  f_->pool_overflow =
      &BuildGauge().Name("hm_worker_db_pool_max_overflow").Help("Configured DB_MAX_OVERFLOW").Register(r);
  f_->pool_connections = &BuildGauge()
                              .Name("hm_worker_db_pool_connections")
                              .Help("Pool connections by state: open, in_use, idle")
                              .Register(r);
  f_->pool_waiting =
      &BuildGauge().Name("hm_worker_db_pool_waiting").Help("Threads waiting for a pool connection").Register(r);
  f_->pool_peak = &BuildGauge()
                       .Name("hm_worker_db_pool_peak_open")
                       .Help("Most connections the pool has had open at once since start")
                       .Register(r);
  f_->pool_wait =
      &BuildHistogram().Name("hm_worker_db_pool_checkout_wait_seconds").Help("Time waited for a connection").Register(r);
  f_->pool_timeouts = &BuildCounter()
                           .Name("hm_worker_db_pool_checkout_timeouts_total")
                           .Help("Checkouts that failed after DB_POOL_TIMEOUT (pool exhausted)")
                           .Register(r);
  f_->queue_pending = &BuildGauge()
                           .Name("hm_worker_queue_pending")
                           .Help("Stream entries delivered to the group but not acknowledged")
                           .Register(r);
  f_->queue_lag =
      &BuildGauge().Name("hm_worker_queue_lag").Help("Stream entries not yet delivered to the group").Register(r);
  f_->queue_dead =
      &BuildGauge().Name("hm_worker_queue_dead_letters").Help("Entries in the dead-letter stream").Register(r);
  f_->queue_oldest_age = &BuildGauge()
                              .Name("hm_worker_queue_oldest_pending_age_seconds")
                              .Help("Age of the oldest entry delivered to the group but not acknowledged (0 when none)")
                              .Register(r);
  f_->redis_errors = &BuildCounter()
                          .Name("hm_worker_redis_errors_total")
                          .Help("Redis error replies and connection failures, by kind (NOGROUP, READONLY, io...)")
                          .Register(r);
  f_->media_refused = &BuildCounter()
                           .Name("hm_worker_media_refused_total")
                           .Help("Attachments not downloaded because the destination rules refused them, by rule "
                                 "(scheme, downgrade, host, address, url)")
                           .Register(r);
  f_->breaker_open = &BuildGauge()
                          .Name("hm_worker_breaker_open")
                          .Help("1 while a dependency (database, redis) is known unreachable and only probed")
                          .Register(r);
  f_->graph_blocked = &BuildGauge()
                           .Name("hm_worker_graph_account_blocked")
                           .Help("1 while Graph API calls for an account are held back: rate_limited, auth (its token "
                                 "was refused: fix the token), no_token (none configured)")
                           .Register(r);
  f_->graph_blocks = &BuildCounter()
                          .Name("hm_worker_graph_account_blocks_total")
                          .Help("Times Graph API calls for an account were held back, by reason")
                          .Register(r);
  f_->breaker_opens = &BuildCounter()
                           .Name("hm_worker_breaker_opens_total")
                           .Help("Times a worker thread found a dependency unreachable and paused its work")
                           .Register(r);
  f_->last_commit = &BuildGauge()
                         .Name("hm_worker_last_commit_timestamp_seconds")
                         .Help("Unix time of the last commit to the database (0 before the first)")
                         .Register(r);
}

void PrometheusMetrics::register_retention_and_process(prometheus::Registry& r) {
  using prometheus::BuildCounter;
  using prometheus::BuildGauge;
  f_->trimmed = &BuildCounter()
                     .Name("hm_worker_queue_trimmed_entries_total")
                     .Help("Stream entries removed by retention: acknowledged by every group, or dead letters past "
                           "DEAD_LETTER_MAX_ENTRIES / DEAD_LETTER_MAX_AGE; by stream")
                     .Register(r);
  f_->consumers_deleted = &BuildCounter()
                               .Name("hm_worker_queue_consumers_deleted_total")
                               .Help("Idle consumers with nothing pending deleted from their group by retention")
                               .Register(r);
  f_->replies = &BuildCounter()
                     .Name("hm_worker_replies_total")
                     .Help("Auto-replies by how they ended: sent, failed, unknown (may have reached Graph: never "
                           "sent again, check by hand), deferred (provably not sent: tried again later)")
                     .Register(r);
  // At 0 from the start in the reply role: the first unknown is an increase, not a new series.
  if (kind_ == Role::kReply)
    for (ReplyEnd end : kAllReplyEnds) f_->replies->Add({{"role", role_}, {"status", to_string(end)}});
  f_->stream_length = &BuildGauge()
                           .Name("hm_worker_queue_stream_length")
                           .Help("Entries in a stream (XLEN), by stream; every pod reports every stream: max by (stream)")
                           .Register(r);
  f_->process_cpu =
      &BuildCounter().Name("process_cpu_seconds_total").Help("Total user and system CPU time spent in seconds").Register(r);
  f_->process_rss =
      &BuildGauge().Name("process_resident_memory_bytes").Help("Resident memory size in bytes").Register(r);
  f_->process_fds = &BuildGauge().Name("process_open_fds").Help("Number of open file descriptors").Register(r);
  f_->process_start = &BuildGauge()
                           .Name("process_start_time_seconds")
                           .Help("Start time of the process since unix epoch in seconds")
                           .Register(r);
}

PrometheusMetrics::~PrometheusMetrics() = default;

void PrometheusMetrics::counted(const IngestCounts& d) {
  f_->deliveries->Add({{"role", role_}}).Increment(static_cast<double>(d.deliveries));
  f_->messages->Add({{"role", role_}, {"outcome", "inserted"}}).Increment(static_cast<double>(d.inserted));
  f_->messages->Add({{"role", role_}, {"outcome", "duplicate"}}).Increment(static_cast<double>(d.duplicates));
  f_->events->Add({{"role", role_}, {"outcome", "applied"}}).Increment(static_cast<double>(d.applied));
  f_->events->Add({{"role", role_}, {"outcome", "skipped"}}).Increment(static_cast<double>(d.skipped));
}

void PrometheusMetrics::retried(int code) {
  prometheus::Counter* c = nullptr;
  {
    std::lock_guard<std::mutex> lock(f_->mutex);
    auto it = f_->retries_by_code.find(code);
    if (it == f_->retries_by_code.end()) {
      c = &f_->retries->Add({{"role", role_}, {"code", std::to_string(code)}});
      f_->retries_by_code[code] = c;
    } else {
      c = it->second;
    }
  }
  c->Increment();
  if (code == 1205) f_->lock_wait_timeouts->Add({{"role", role_}}).Increment();
  if (code == 1213) f_->deadlocks->Add({{"role", role_}}).Increment();
}

void PrometheusMetrics::dead_lettered(const std::string& reason) {
  prometheus::Counter* c = nullptr;
  {
    std::lock_guard<std::mutex> lock(f_->mutex);
    auto it = f_->dead_by_reason.find(reason);
    if (it == f_->dead_by_reason.end()) {
      c = &f_->dead_letters->Add({{"role", role_}, {"reason", reason}});
      f_->dead_by_reason[reason] = c;
    } else {
      c = it->second;
    }
  }
  c->Increment();
}

void PrometheusMetrics::batch_done(std::size_t entries, double fetch_to_commit_s,
                                   const std::vector<double>& enqueue_to_commit_s) {
  f_->batch_size->Add({{"role", role_}}, kBatchBuckets).Observe(static_cast<double>(entries));
  f_->fetch_to_commit->Add({{"role", role_}}, kLatencyBuckets).Observe(fetch_to_commit_s);
  auto& h = f_->enqueue_to_commit->Add({{"role", role_}}, kLatencyBuckets);
  for (double v : enqueue_to_commit_s) h.Observe(v);
}

void PrometheusMetrics::received_to_commit(const std::vector<double>& seconds) {
  auto& h = f_->receive_to_commit->Add({{"role", role_}}, kLatencyBuckets);
  for (double v : seconds) h.Observe(v);
}

void PrometheusMetrics::pool_checkout(double wait_s, bool timed_out) {
  f_->pool_wait->Add({{"role", role_}}, kWaitBuckets).Observe(wait_s);
  if (timed_out) f_->pool_timeouts->Add({{"role", role_}}).Increment();
}

void PrometheusMetrics::redis_error(const std::string& kind) {
  prometheus::Counter* c = nullptr;
  {
    std::lock_guard<std::mutex> lock(f_->mutex);
    auto it = f_->redis_errors_by_kind.find(kind);
    if (it == f_->redis_errors_by_kind.end()) {
      c = &f_->redis_errors->Add({{"role", role_}, {"kind", kind}});
      f_->redis_errors_by_kind[kind] = c;
    } else {
      c = it->second;
    }
  }
  c->Increment();
}

void PrometheusMetrics::media_refused(HttpRefusal rule) {
  f_->media_refused->Add({{"role", role_}, {"reason", to_string(rule)}}).Increment();  // Family::Add is thread-safe
}

void PrometheusMetrics::breaker(const std::string& dependency, bool open) {
  f_->breaker_open->Add({{"role", role_}, {"dependency", dependency}}).Set(open ? 1 : 0);
  if (open) f_->breaker_opens->Add({{"role", role_}, {"dependency", dependency}}).Increment();
}

void PrometheusMetrics::graph_account(const std::string& account, AccountHold hold, bool blocked) {
  const std::string reason = to_string(hold);
  // An account without a token is any id a delivery names: counted, not
  // labelled (the series would grow with outside input).
  if (hold == AccountHold::kNoToken) {
    f_->graph_blocks->Add({{"role", role_}, {"account", "other"}, {"reason", reason}}).Increment();
    return;
  }
  f_->graph_blocked->Add({{"role", role_}, {"account", account}, {"reason", reason}}).Set(blocked ? 1 : 0);
  if (blocked) f_->graph_blocks->Add({{"role", role_}, {"account", account}, {"reason", reason}}).Increment();
}

void PrometheusMetrics::committed(long long wall_ms) {
  f_->last_commit->Add({{"role", role_}}).Set(static_cast<double>(wall_ms) / 1000.0);
}

void PrometheusMetrics::set_pool(const PoolStats& s) {
  f_->pool_size->Add({{"role", role_}}).Set(s.size);
  f_->pool_overflow->Add({{"role", role_}}).Set(s.max_overflow);
  f_->pool_connections->Add({{"role", role_}, {"state", "open"}}).Set(s.open);
  f_->pool_connections->Add({{"role", role_}, {"state", "in_use"}}).Set(s.in_use);
  f_->pool_connections->Add({{"role", role_}, {"state", "idle"}}).Set(s.idle);
  f_->pool_waiting->Add({{"role", role_}}).Set(s.waiting);
  f_->pool_peak->Add({{"role", role_}}).Set(s.peak_open);
}

void PrometheusMetrics::set_queue(const QueueGauges& q) {
  if (q.pending >= 0) f_->queue_pending->Add({{"role", role_}}).Set(static_cast<double>(q.pending));
  if (q.lag >= 0) f_->queue_lag->Add({{"role", role_}}).Set(static_cast<double>(q.lag));
  if (q.dead_letters >= 0) f_->queue_dead->Add({{"role", role_}}).Set(static_cast<double>(q.dead_letters));
  if (q.oldest_pending_age_ms >= 0)
    f_->queue_oldest_age->Add({{"role", role_}}).Set(static_cast<double>(q.oldest_pending_age_ms) / 1000.0);
  for (const auto& [stream, length] : q.stream_lengths)
    f_->stream_length->Add({{"role", role_}, {"stream", stream}}).Set(static_cast<double>(length));
}

void PrometheusMetrics::trimmed(const std::string& stream, long long entries) {
  f_->trimmed->Add({{"role", role_}, {"stream", stream}}).Increment(static_cast<double>(entries));
}

void PrometheusMetrics::replied(ReplyEnd end, long long count) {
  f_->replies->Add({{"role", role_}, {"status", to_string(end)}}).Increment(static_cast<double>(count));
}

void PrometheusMetrics::consumers_deleted(const std::string& stream, long long count) {
  f_->consumers_deleted->Add({{"role", role_}, {"stream", stream}}).Increment(static_cast<double>(count));
}

void PrometheusMetrics::set_process(const ProcessStats& p) {
  {
    // A counter only grows: add what the kernel counted since the last read.
    std::lock_guard<std::mutex> lock(f_->mutex);
    if (p.cpu_seconds > f_->cpu_reported) {
      f_->process_cpu->Add({{"role", role_}}).Increment(p.cpu_seconds - f_->cpu_reported);
      f_->cpu_reported = p.cpu_seconds;
    }
  }
  f_->process_rss->Add({{"role", role_}}).Set(p.resident_bytes);
  f_->process_fds->Add({{"role", role_}}).Set(p.open_fds);
  f_->process_start->Add({{"role", role_}}).Set(p.start_time_seconds);
}

std::string PrometheusMetrics::serialize() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace hm
