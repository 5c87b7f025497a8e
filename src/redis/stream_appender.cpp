#include "redis/stream_appender.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "redis/stream_group.h"

namespace hm::redis {
namespace {

long long steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Full jitter over min(max, 100 ms * 2^(failures-1)).
std::chrono::nanoseconds backoff(int failures, std::chrono::milliseconds max) {
  const int shift = std::clamp(failures - 1, 0, 16);
  const auto ceiling = std::min<std::chrono::nanoseconds>(max, std::chrono::milliseconds(100) * (1LL << shift));
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<long long> pick(ceiling.count() / 2, std::max<long long>(ceiling.count(), 1));
  return std::chrono::nanoseconds(pick(rng));
}

}  // namespace

RedisStreamAppender::RedisStreamAppender(StreamAppenderOptions options) : options_(std::move(options)) {}

RedisStreamAppender::~RedisStreamAppender() = default;

std::unique_ptr<Connection> RedisStreamAppender::lease() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  return Connection::connect(options_.redis);  // never under the lock
}

void RedisStreamAppender::give_back(std::unique_ptr<Connection> c) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (idle_.size() < options_.max_idle) idle_.push_back(std::move(c));
}

Status RedisStreamAppender::failed(const std::string& why) {
  const int n = failures_.fetch_add(1) + 1;
  quiet_until_ns_.store(steady_ns() + backoff(n, options_.backoff_max).count());
  if (n == 1 || n % 100 == 0) spdlog::warn("webhook: redis {}: {} ({} failures in a row)", options_.stream, why, n);
  return Status::Retryable("redis: " + why);
}

Status RedisStreamAppender::write(Connection& c, const std::string& payload, long long received_ms) {
  std::vector<std::vector<std::string>> commands{{"XADD", options_.stream, "*", "payload", payload, "enqueued_at",
                                                  std::to_string(now_ms()), "received_at", std::to_string(received_ms)}};
  if (options_.replicas > 0)
    commands.push_back({"WAIT", std::to_string(options_.replicas), std::to_string(options_.redis_wait.count())});
  const std::vector<Reply> replies = c.pipeline(commands);
  const ReplyView added = replies.at(0).view();
  if (added.is_error()) throw reply_error("XADD " + options_.stream, added);
  if (options_.replicas > 0) {
    const ReplyView acked = replies.at(1).view();
    if (acked.is_error()) throw reply_error("WAIT", acked);
    if (acked.integer() < options_.replicas)
      return Status::Unknown("WAIT: " + std::to_string(acked.integer()) + " of " + std::to_string(options_.replicas) +
                             " replicas acknowledged");
  }
  return Status::Ok();
}

Status RedisStreamAppender::append(const std::string& payload, long long received_ms) {
  if (failures_.load() > 0 && steady_ns() < quiet_until_ns_.load()) return Status::Retryable("redis: backing off");
  std::unique_ptr<Connection> c;
  try {
    c = lease();
    Status s = write(*c, payload, received_ms);
    give_back(std::move(c));
    used_.store(true);
    if (failures_.exchange(0) > 0) spdlog::info("webhook: redis {} answers again", options_.stream);
    return s;
  } catch (const RedisError& e) {
    if (c && !e.connection_broken()) give_back(std::move(c));
    return failed(e.what());
  } catch (const std::exception& e) {
    return failed(e.what());
  }
}

}  // namespace hm::redis
