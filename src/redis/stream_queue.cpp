#include "redis/stream_queue.h"

#include <algorithm>
#include <random>

#include <spdlog/spdlog.h>

namespace hm::redis {
namespace {

// Connection attempts for an ack or a dead letter (about 30 s of backoff)
// before giving up; the entries then stay pending and come back later.
constexpr int kDeliverAttempts = 10;

// Parses one [id, [field, value, ...]] stream entry.
QueueEntry parse_entry(const ReplyView& e, bool* deleted) {
  QueueEntry q;
  q.id = e.at(0).str();
  const ReplyView fields = e.at(1);
  *deleted = fields.is_nil();
  bool has_payload = false;
  std::string names;
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
    const std::string key = fields.at(i).str();
    if (key == "payload") {
      q.payload = fields.at(i + 1).str();
      has_payload = true;
    } else if (key == "enqueued_at") {
      q.enqueued_ms = fields.at(i + 1).integer();
    } else if (key == "received_at") {
      q.received_ms = fields.at(i + 1).integer();
    }
    if (names.size() < 200) names += (names.empty() ? "" : ",") + key;
  }
  if (!*deleted && !has_payload) q.problem = "no payload field (fields: " + names + ")";
  return q;
}

}  // namespace

RedisStreamQueue::RedisStreamQueue(StreamQueueOptions options, const StopSignal& stop, Telemetry& telemetry)
    : options_(std::move(options)), stop_(stop), telemetry_(telemetry) {}

void RedisStreamQueue::report(const RedisError& e, const RedisErrorPolicy& policy) {
  ++errors_;
  ++failures_;
  telemetry_.redis_error(policy.kind);
  // A second error in a row: Redis is known unwell, this thread only probes it
  // (one attempt per backoff) until a command succeeds again.
  if (failures_ >= 2 && !breaker_open_) {
    breaker_open_ = true;
    telemetry_.breaker("redis", true);
  }
  if (failures_ == 1 || failures_ % 20 == 0) {
    const char* then = policy.reconnect ? "; reconnecting" : policy.recreate_group ? "; recreating the group" : "";
    spdlog::warn("redis {}: {} (error {} in a row){}", options_.names.stream, e.what(), failures_, then);
  }
}

void RedisStreamQueue::forget_connection_state() {
  // Whatever was delivered to us before is in our pending list (if the group
  // still has one): take it back first.
  own_pending_done_ = false;
  own_pending_cursor_ = "0";
  reclaim_cursor_ = "0-0";
}

void RedisStreamQueue::handle(const RedisError& e) {
  const RedisErrorPolicy policy = classify(e);
  report(e, policy);
  if (policy.reconnect) {
    conn_.reset();
    forget_connection_state();
    return;
  }
  if (policy.recreate_group && conn_) {
    // Read from the stream's first entry: what was enqueued after the key was
    // lost (and before this) is not skipped.
    try {
      ensure_group(*conn_, options_.names);
      forget_connection_state();
      spdlog::warn("redis {}: group {} recreated", options_.names.stream, options_.names.group);
    } catch (const RedisError& again) {
      // Handled at the next try, after the caller's back off.
      if (again.connection_broken()) conn_.reset();
    }
  }
}

bool RedisStreamQueue::back_off() {
  thread_local std::mt19937 rng{std::random_device{}()};
  const long long cap = std::min<long long>(5000, 100LL << std::min(failures_, 6));
  const auto delay = std::chrono::milliseconds(std::uniform_int_distribution<long long>(cap / 2, cap)(rng));
  return stop_.requested() || stop_.wait_for(delay);
}

void RedisStreamQueue::recovered() {
  if (breaker_open_) {
    breaker_open_ = false;
    telemetry_.breaker("redis", false);
  }
  if (failures_ == 0) return;
  spdlog::info("redis {}: working again after {} failed attempts", options_.names.stream, failures_);
  failures_ = 0;
}

bool RedisStreamQueue::ensure_connected(int max_attempts) {
  for (int attempt = 0; !conn_; ++attempt) {
    if (attempt >= max_attempts) return false;
    try {
      auto c = Connection::connect(options_.redis);
      ensure_group(*c, options_.names);
      conn_ = std::move(c);
      ++reconnects_;
    } catch (const RedisError& e) {
      report(e, classify(e));  // the connection is discarded whatever the error
      if (back_off()) return false;
    }
  }
  return true;
}

std::vector<QueueEntry> RedisStreamQueue::read_group(const std::string& id, std::size_t count,
                                                     std::optional<long long> block_ms) {
  std::vector<std::string> argv = {"XREADGROUP", "GROUP", options_.names.group, options_.consumer, "COUNT",
                                   std::to_string(count)};
  if (block_ms) {
    argv.push_back("BLOCK");
    argv.push_back(std::to_string(*block_ms));
  }
  argv.insert(argv.end(), {"STREAMS", options_.names.stream, id});
  ++reads_;
  Reply reply = conn_->command(argv);
  std::vector<QueueEntry> out;
  const ReplyView root = reply.view();
  last_page_id_.clear();
  if (root.is_nil()) return out;
  std::vector<std::string> gone;
  std::string last;  // in page order, deleted entries included
  for (std::size_t s = 0; s < root.size(); ++s) {
    const ReplyView entries = root.at(s).at(1);
    for (std::size_t i = 0; i < entries.size(); ++i) {
      bool deleted = false;
      QueueEntry e = parse_entry(entries.at(i), &deleted);
      last = e.id;
      if (deleted) {
        gone.push_back(e.id);
      } else {
        out.push_back(std::move(e));
      }
    }
  }
  if (!gone.empty()) {
    // Pending entries whose stream entry was deleted (XDEL, trimming): nothing to store.
    std::vector<std::string> ack = {"XACK", options_.names.stream, options_.names.group};
    ack.insert(ack.end(), gone.begin(), gone.end());
    conn_->command(ack);
  }
  last_page_id_ = last;
  return out;
}

void RedisStreamQueue::fill_delivery_counts(std::vector<QueueEntry>& entries) {
  if (entries.empty()) return;
  // One XPENDING per id (start = end = the id), pipelined: exact whatever
  // else is pending around the batch's ids.
  std::vector<std::vector<std::string>> tx;
  tx.reserve(entries.size());
  for (const auto& e : entries) tx.push_back({"XPENDING", options_.names.stream, options_.names.group, e.id, e.id, "1"});
  const std::vector<Reply> replies = conn_->pipeline(tx);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const ReplyView r = replies[i].view();
    if (r.is_error()) throw reply_error("redis " + conn_->address() + ": XPENDING", r);
    // [[id, consumer, idle ms, deliveries]], or empty when no longer pending
    if (r.size() == 1) entries[i].deliveries = std::max(1, static_cast<int>(r.at(0).at(3).integer()));
  }
}

std::vector<QueueEntry> RedisStreamQueue::reclaim(std::size_t max) {
  std::vector<QueueEntry> out;
  for (int round = 0; round < 10 && out.empty(); ++round) {
    Reply reply = conn_->command({"XAUTOCLAIM", options_.names.stream, options_.names.group, options_.consumer,
                                  std::to_string(options_.visibility_timeout.count()), reclaim_cursor_, "COUNT",
                                  std::to_string(max)});
    const ReplyView root = reply.view();
    reclaim_cursor_ = root.at(0).str();
    const ReplyView entries = root.at(1);
    for (std::size_t i = 0; i < entries.size(); ++i) {
      bool deleted = false;
      QueueEntry e = parse_entry(entries.at(i), &deleted);
      if (!deleted) out.push_back(std::move(e));
    }
    if (reclaim_cursor_ == "0-0" || reclaim_cursor_.empty()) {
      reclaim_cursor_ = "0-0";
      break;
    }
  }
  if (!out.empty()) {
    fill_delivery_counts(out);
    spdlog::info("reclaimed {} entries idle for over {} ms from other consumers", out.size(),
                 options_.visibility_timeout.count());
  }
  return out;
}

void RedisStreamQueue::read_batch(std::size_t max, std::vector<QueueEntry>& batch) {
  while (!own_pending_done_) {
    batch = read_group(own_pending_cursor_, max, std::nullopt);
    if (last_page_id_.empty()) {
      own_pending_done_ = true;  // the history is exhausted
    } else {
      own_pending_cursor_ = last_page_id_;
      if (!batch.empty()) {
        fill_delivery_counts(batch);
        spdlog::info("took back {} of this consumer's unacknowledged entries", batch.size());
        return;
      }
    }
  }
  const auto now = std::chrono::steady_clock::now();
  if (now >= next_reclaim_) {
    next_reclaim_ = now + std::max<std::chrono::milliseconds>(options_.visibility_timeout / 4,
                                                              std::chrono::milliseconds(100));
    batch = reclaim(max);
    if (!batch.empty()) return;
  }
  batch = read_group(">", max, options_.block.count());
  // Linger for a batch, not for a read: with one message a transaction a
  // lone message goes at once, however many a read may take.
  const std::size_t fill = options_.per_transaction > 0 ? std::min(max, options_.per_transaction) : max;
  if (batch.empty() || batch.size() >= fill || options_.batch_linger.count() <= 0) return;
  const auto deadline = std::chrono::steady_clock::now() + options_.batch_linger;
  while (batch.size() < fill) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    auto more = read_group(">", max - batch.size(), left.count());
    if (more.empty()) break;
    for (auto& e : more) batch.push_back(std::move(e));
  }
}

std::vector<QueueEntry> RedisStreamQueue::read(std::size_t max) {
  // One attempt per call while Redis is down: the worker loop keeps turning
  // (and its liveness heartbeat with it).
  if (!ensure_connected(1)) return {};
  std::vector<QueueEntry> batch;
  try {
    read_batch(max, batch);
    recovered();
  } catch (const RedisError& e) {
    handle(e);
    // Entries already read are ours: process them now; otherwise wait before
    // the next try, so that an error reply never turns into a busy loop.
    if (batch.empty()) back_off();
  }
  return batch;
}

Result<std::vector<Reply>> RedisStreamQueue::send(const std::vector<std::vector<std::string>>& tx) {
  using Sent = Result<std::vector<Reply>>;
  // Bounded in time as well as in tries: the worker's liveness heartbeat does
  // not beat meanwhile, and what is not acknowledged comes back anyway.
  const auto deadline = std::chrono::steady_clock::now() +
                        std::max<std::chrono::milliseconds>(options_.visibility_timeout / 4, std::chrono::seconds(1));
  for (int attempt = 0;; ++attempt) {
    const bool last = attempt >= kDeliverAttempts || std::chrono::steady_clock::now() >= deadline ||
                      (stop_.requested() && attempt >= 2);
    if (!ensure_connected(1)) {
      if (last) return Sent::Failed(Status::Retryable("redis " + options_.names.stream + ": not connected"));
      continue;
    }
    try {
      return Sent::Of(conn_->pipeline(tx));  // error replies are returned, transport errors thrown
    } catch (const RedisError& e) {
      handle(e);
      if (last) return Sent::Failed(Status::Retryable(e.what()));
    }
  }
}

Status RedisStreamQueue::deliver(const std::string& what, const std::vector<std::vector<std::string>>& tx) {
  const auto sent = send(tx);
  if (!sent.ok()) return sent.status;
  for (const auto& r : sent.value) {
    if (!r.view().is_error()) continue;
    const RedisError e = reply_error("redis " + options_.names.stream + ": " + what, r.view());
    handle(e);
    back_off();
    return Status::Retryable(e.what());
  }
  recovered();
  return Status::Ok();
}

// KEYS: one role stream per job; ARGV[1] the cap of a stream without a
// group (0: publish nothing to it), ARGV[2] enqueued_at, ARGV[2 + i] job i's
// payload. Whether a stream has a group is read in the same atomic step as the
// XADD: a group created meanwhile never sees its stream capped.
constexpr const char* kPublishJobsScript = R"lua(
local cap = tonumber(ARGV[1])
local consumed = {}
local published = 0
for i, key in ipairs(KEYS) do
  if consumed[key] == nil then
    consumed[key] = redis.call('EXISTS', key) == 1 and #redis.call('XINFO', 'GROUPS', key) > 0
  end
  if consumed[key] then
    redis.call('XADD', key, '*', 'payload', ARGV[i + 2], 'enqueued_at', ARGV[2])
    published = published + 1
  elseif cap > 0 then
    redis.call('XADD', key, 'MAXLEN', '~', cap, '*', 'payload', ARGV[i + 2], 'enqueued_at', ARGV[2])
    published = published + 1
  end
end
return published
)lua";

Status RedisStreamQueue::ack(const std::vector<std::string>& ids, const std::vector<OutboundJob>& jobs) {
  if (!jobs.empty()) {
    // Jobs first: an entry is acknowledged only once every job it owes is published.
    std::vector<std::string> eval = {"EVAL", kPublishJobsScript, std::to_string(jobs.size())};
    eval.reserve(3 + 2 * jobs.size() + 2);
    for (const auto& j : jobs) eval.push_back(options_.names.prefix + to_string(j.role));
    eval.push_back(std::to_string(options_.unconsumed_max_entries));
    eval.push_back(std::to_string(now_ms()));
    for (const auto& j : jobs) eval.push_back(j.payload);
    Status published = deliver("publishing " + std::to_string(jobs.size()) + " jobs", {eval});
    if (!published.ok()) return published;
  }
  if (ids.empty()) return Status::Ok();
  std::vector<std::string> xack = {"XACK", options_.names.stream, options_.names.group};
  xack.insert(xack.end(), ids.begin(), ids.end());
  return deliver("acknowledging " + std::to_string(ids.size()) + " entries", {xack});
}

// Written and acknowledged in one step, and only while the entry is still
// pending: a retry after a lost reply, a worker killed in between or a Redis
// restart never leaves a second copy (scripts run atomically; an error in the
// XADD raises before the XACK, so nothing changes). ARGV[3]: the cap of the
// dead-letter stream (0 = none).
constexpr const char* kDeadLetterScript = R"lua(
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #pending == 0 then return 0 end
if ARGV[3] == '0' then
  redis.call('XADD', KEYS[2], '*', unpack(ARGV, 4))
else
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 4))
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return 1
)lua";

Status RedisStreamQueue::dead_letter(const QueueEntry& entry, const std::string& reason, int attempts) {
  return deliver("dead-lettering " + entry.id,
                 {{"EVAL", kDeadLetterScript, "2", options_.names.stream, options_.names.dead_stream,
                   options_.names.group, entry.id, std::to_string(options_.dead_letter_max_entries), "payload", entry.payload, "reason", reason, "attempts",
                   std::to_string(attempts), "time", std::to_string(now_ms()), "entry_id", entry.id, "stream",
                   options_.names.stream, "consumer", options_.consumer}});
}

Status RedisStreamQueue::keep_uncounted(const std::vector<QueueEntry>& entries) {
  if (entries.empty()) return Status::Ok();
  std::vector<std::vector<std::string>> tx;
  tx.reserve(entries.size());
  for (const auto& e : entries)
    tx.push_back({"XCLAIM", options_.names.stream, options_.names.group, options_.consumer, "0", e.id, "RETRYCOUNT",
                  std::to_string(std::max(0, e.deliveries - 1)), "JUSTID"});
  return deliver("uncounting " + std::to_string(entries.size()) + " deliveries", tx);
}

}  // namespace hm::redis
