#include "redis/stream_queue.h"

#include <algorithm>
#include <map>
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
    }
    if (names.size() < 200) names += (names.empty() ? "" : ",") + key;
  }
  if (!*deleted && !has_payload) q.problem = "no payload field (fields: " + names + ")";
  return q;
}

}  // namespace

RedisStreamQueue::RedisStreamQueue(StreamQueueOptions options, const StopSignal& stop)
    : options_(std::move(options)), stop_(stop) {}

void RedisStreamQueue::drop(const RedisError& e) {
  if (!e.connection_broken()) {
    spdlog::error("redis {}: {}", options_.names.stream, e.what());
    return;
  }
  spdlog::warn("{}; reconnecting", e.what());
  conn_.reset();
  // Whatever was delivered to us on the lost connection is in our pending
  // list: take it back first after reconnecting.
  own_pending_done_ = false;
  own_pending_cursor_ = "0";
}

bool RedisStreamQueue::ensure_connected(int max_attempts) {
  thread_local std::mt19937 rng{std::random_device{}()};
  for (int attempt = 0; !conn_; ++attempt) {
    if (attempt >= max_attempts) return false;
    try {
      auto c = Connection::connect(options_.redis);
      ensure_group(*c, options_.names);
      conn_ = std::move(c);
      if (failures_ > 0) spdlog::info("redis {} reachable again after {} failed attempts", conn_->address(), failures_);
      failures_ = 0;
      ++reconnects_;
    } catch (const RedisError& e) {
      ++failures_;
      if (failures_ == 1 || failures_ % 20 == 0) spdlog::warn("{} (attempt {})", e.what(), failures_);
      const long long cap = std::min<long long>(5000, 100LL << std::min(failures_, 6));
      const auto delay = std::chrono::milliseconds(std::uniform_int_distribution<long long>(cap / 2, cap)(rng));
      if (stop_.requested() || stop_.wait_for(delay)) return false;
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
  std::string lo = entries.front().id;
  std::string hi = entries.front().id;
  for (const auto& e : entries) {
    // Stream ids compare as (ms, seq); compare numerically through the parts.
    auto key = [](const std::string& id) {
      const auto dash = id.find('-');
      return std::make_pair(std::stoull(id.substr(0, dash)),
                            dash == std::string::npos ? 0ULL : std::stoull(id.substr(dash + 1)));
    };
    if (key(e.id) < key(lo)) lo = e.id;
    if (key(e.id) > key(hi)) hi = e.id;
  }
  Reply reply = conn_->command({"XPENDING", options_.names.stream, options_.names.group, lo, hi,
                                std::to_string(entries.size() * 4 + 16), options_.consumer});
  std::map<std::string, int> counts;
  const ReplyView root = reply.view();
  for (std::size_t i = 0; i < root.size(); ++i) {
    counts[root.at(i).at(0).str()] = static_cast<int>(root.at(i).at(3).integer());
  }
  for (auto& e : entries) {
    auto it = counts.find(e.id);
    if (it != counts.end()) e.deliveries = std::max(1, it->second);
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

std::vector<QueueEntry> RedisStreamQueue::read(std::size_t max) {
  // One attempt per call while Redis is down: the worker loop keeps turning
  // (and its liveness heartbeat with it).
  if (!ensure_connected(1)) return {};
  std::vector<QueueEntry> batch;
  try {
    while (!own_pending_done_) {
      batch = read_group(own_pending_cursor_, max, std::nullopt);
      if (last_page_id_.empty()) {
        own_pending_done_ = true;  // the history is exhausted
      } else {
        own_pending_cursor_ = last_page_id_;
        if (!batch.empty()) {
          fill_delivery_counts(batch);
          spdlog::info("took back {} of this consumer's unacknowledged entries", batch.size());
          return batch;
        }
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_reclaim_) {
      next_reclaim_ = now + std::max<std::chrono::milliseconds>(options_.visibility_timeout / 4,
                                                                std::chrono::milliseconds(100));
      batch = reclaim(max);
      if (!batch.empty()) return batch;
    }
    batch = read_group(">", max, options_.block.count());
    if (!batch.empty() && batch.size() < max && options_.linger.count() > 0) {
      const auto deadline = std::chrono::steady_clock::now() + options_.linger;
      while (batch.size() < max) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        auto more = read_group(">", max - batch.size(), left.count());
        if (more.empty()) break;
        for (auto& e : more) batch.push_back(std::move(e));
      }
    }
    return batch;
  } catch (const RedisError& e) {
    drop(e);
    return batch;  // entries already read are ours: process them
  }
}

Result<std::vector<Reply>> RedisStreamQueue::send(const std::vector<std::vector<std::string>>& tx) {
  using Sent = Result<std::vector<Reply>>;
  for (int attempt = 0;; ++attempt) {
    if (!ensure_connected(kDeliverAttempts))
      return Sent::Failed(Status::Retryable("redis " + options_.names.stream + ": not connected"));
    try {
      return Sent::Of(conn_->pipeline(tx));
    } catch (const RedisError& e) {
      drop(e);
      if (!e.connection_broken()) return Sent::Failed(Status::Permanent(e.what()));
      if (attempt >= kDeliverAttempts || (stop_.requested() && attempt >= 2))
        return Sent::Failed(Status::Retryable(e.what()));
    }
  }
}

Status RedisStreamQueue::ack(const std::vector<std::string>& ids, const std::vector<OutboundJob>& jobs) {
  if (ids.empty() && jobs.empty()) return Status::Ok();
  std::vector<std::vector<std::string>> tx;
  if (!jobs.empty()) tx.push_back({"MULTI"});
  const std::string now = std::to_string(now_ms());
  for (const auto& j : jobs) tx.push_back({"XADD", options_.names.prefix + to_string(j.role), "*", "payload", j.payload, "enqueued_at", now});
  if (!ids.empty()) {
    std::vector<std::string> xack = {"XACK", options_.names.stream, options_.names.group};
    xack.insert(xack.end(), ids.begin(), ids.end());
    tx.push_back(std::move(xack));
  }
  if (!jobs.empty()) tx.push_back({"EXEC"});
  const auto sent = send(tx);
  if (!sent.ok()) return sent.status;
  const ReplyView last = sent.value.back().view();
  if (last.is_error() || (!jobs.empty() && !last.is_array())) {
    spdlog::error("acknowledging {} entries: {}", ids.size(), last.str());
    return Status::Permanent("acknowledging " + std::to_string(ids.size()) + " entries: " + last.str());
  }
  return Status::Ok();
}

Status RedisStreamQueue::dead_letter(const QueueEntry& entry, const std::string& reason, int attempts) {
  const std::vector<std::vector<std::string>> tx = {
      {"MULTI"},
      {"XADD", options_.names.dead_stream, "*", "payload", entry.payload, "reason", reason, "attempts",
       std::to_string(attempts), "time", std::to_string(now_ms()), "entry_id", entry.id, "stream",
       options_.names.stream, "consumer", options_.consumer},
      {"XACK", options_.names.stream, options_.names.group, entry.id},
      {"EXEC"}};
  const auto sent = send(tx);
  if (!sent.ok()) return sent.status;
  const ReplyView exec = sent.value.back().view();
  if (exec.is_array() && exec.size() == 2 && !exec.at(0).is_error()) return Status::Ok();
  const std::string why = exec.is_error() ? exec.str() : sent.value[1].view().str();
  spdlog::error("dead-lettering {}: transaction failed: {}", entry.id, why);
  return Status::Permanent("dead-lettering " + entry.id + ": transaction failed: " + why);
}

}  // namespace hm::redis
