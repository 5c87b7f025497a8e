#pragma once
// Prometheus metrics for one worker process (prometheus-cpp core; served by
// http/server.h). Names follow the Prometheus conventions: hm_worker_ prefix,
// base units (seconds), _total for counters; every series has a `role` label.
//
// Thread-safety: all members are thread-safe.

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pool/connection_pool.h"
#include "hm/role.h"
#include "hm/telemetry.h"
#include "ops/process_stats.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace hm {

struct QueueGauges {
  long long pending = -1;       // entries delivered but not acknowledged (-1 unknown)
  long long lag = -1;           // entries not yet delivered to the group (-1 unknown)
  long long dead_letters = -1;  // length of the dead-letter stream (-1 unknown)
  long long oldest_pending_age_ms = -1;  // age of the oldest unacknowledged entry; 0 when none (-1 unknown)
  // XLEN of the streams retention looks after (and the dead-letter streams), by name.
  std::vector<std::pair<std::string, long long>> stream_lengths;
};

class PrometheusMetrics final : public Telemetry {
 public:
  // `role` labels every series; nullopt: the webhook receiver ("webhook").
  PrometheusMetrics(std::optional<Role> role, const std::string& version);
  ~PrometheusMetrics() override;

  void counted(const IngestCounts& delta) override;
  void retried(int error_code) override;
  void dead_lettered(const std::string& reason) override;
  void batch_done(std::size_t entries, double fetch_to_commit_s, const std::vector<double>& enqueue_to_commit_s) override;
  void pool_checkout(double wait_s, bool timed_out) override;
  void redis_error(const std::string& kind) override;
  void media_refused(HttpRefusal rule) override;
  void breaker(const std::string& dependency, bool open) override;
  void graph_account(const std::string& account, AccountHold reason, bool blocked) override;
  void committed(long long wall_ms) override;
  void trimmed(const std::string& stream, long long entries) override;
  void consumers_deleted(const std::string& stream, long long count) override;
  void received_to_commit(const std::vector<double>& seconds) override;
  void replied(ReplyEnd end, long long count) override;

  void set_pool(const PoolStats& stats);
  void set_queue(const QueueGauges& queue);
  // The standard process_* series (no hm_worker_ prefix, as Prometheus' own clients name them).
  void set_process(const ProcessStats& stats);

  // The text exposition format (version 0.0.4).
  std::string serialize() const;

 private:
  void register_pool_and_queue(prometheus::Registry& r);
  void register_retention_and_process(prometheus::Registry& r);

  struct Families;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> f_;
  std::optional<Role> kind_;  // nullopt: the webhook receiver
  std::string role_;         // the role label
};

}  // namespace hm
