#include "redis/stream_admin.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

#include "redis/stream_retention.h"

namespace hm::redis {
namespace {

// XADDs sent per pipeline by enqueue().
constexpr std::size_t kEnqueueChunk = 500;

}  // namespace

StreamAdmin::StreamAdmin(const RedisOptions& redis, StreamNames names)
    : names_(std::move(names)), conn_(Connection::connect(redis)) {
  ensure_group(*conn_, names_);
}

std::string StreamAdmin::enqueue_one(const std::string& payload, long long enqueued_ms) {
  return conn_->command({"XADD", names_.stream, "*", "payload", payload, "enqueued_at", std::to_string(enqueued_ms)})
      .view()
      .str();
}

std::size_t StreamAdmin::enqueue(DeliverySource& source, const Clock& clock) {
  std::size_t added = 0;
  std::size_t rejected = 0;
  std::vector<std::vector<std::string>> chunk;
  auto flush = [&] {
    if (chunk.empty()) return;
    for (const auto& r : conn_->pipeline(chunk)) {
      if (r.view().is_error()) throw RedisError(RedisErrorKind::kReply, "XADD " + names_.stream + ": " + r.view().str());
    }
    added += chunk.size();
    chunk.clear();
  };
  while (auto d = source.next()) {
    if (d->oversized) {
      ++rejected;
      spdlog::error("{}: {} bytes, over MAX_DELIVERY_BYTES; not enqueued", d->origin, d->size);
      continue;
    }
    chunk.push_back({"XADD", names_.stream, "*", "payload", d->payload, "enqueued_at", std::to_string(clock.wall_ms())});
    if (chunk.size() >= kEnqueueChunk) flush();
  }
  flush();
  if (const Status read = source.status(); !read.ok())
    throw std::runtime_error(read.message + "; " + std::to_string(added) + " deliveries before it were enqueued");
  if (rejected > 0) throw std::runtime_error(std::to_string(rejected) + " oversized deliveries were not enqueued");
  return added;
}

std::vector<StreamAdmin::DeadEntry> StreamAdmin::read_dead(const std::string& start, const std::string& end,
                                                           std::size_t count) {
  Reply reply = conn_->command({"XRANGE", names_.dead_stream, start, end, "COUNT", std::to_string(count)});
  std::vector<DeadEntry> out;
  const ReplyView root = reply.view();
  for (std::size_t i = 0; i < root.size(); ++i) {
    DeadEntry d;
    d.id = root.at(i).at(0).str();
    const ReplyView f = root.at(i).at(1);
    for (std::size_t k = 0; k + 1 < f.size(); k += 2) {
      const std::string key = f.at(k).str();
      const std::string value = f.at(k + 1).str();
      if (key == "payload") d.payload = value;
      if (key == "reason") d.reason = value;
      if (key == "attempts") d.attempts = value;
      if (key == "time") d.time_ms = value;
      if (key == "entry_id") d.entry_id = value;
    }
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<StreamAdmin::DeadEntry> StreamAdmin::dead_letters(std::size_t max) { return read_dead("-", "+", max); }

std::size_t StreamAdmin::replay_entries(const std::vector<DeadEntry>& chosen) {
  if (chosen.empty()) return 0;
  // XADD first; XDEL only the dead letters whose XADD succeeded (a
  // transaction would XDEL even after a failed XADD: Redis does not roll back).
  std::vector<std::vector<std::string>> xadds;
  xadds.reserve(chosen.size());
  for (const auto& d : chosen)
    xadds.push_back({"XADD", names_.stream, "*", "payload", d.payload, "enqueued_at", std::to_string(now_ms()),
                     "replayed_from", d.id});
  const std::vector<Reply> added = conn_->pipeline(xadds);
  std::vector<std::string> xdel = {"XDEL", names_.dead_stream};
  std::string failure;
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    if (!added[i].view().is_error()) {
      xdel.push_back(chosen[i].id);
    } else if (failure.empty()) {
      failure = added[i].view().str();
    }
  }
  const std::size_t moved = xdel.size() - 2;
  if (moved > 0) conn_->command(xdel);
  if (!failure.empty()) {
    throw RedisError(RedisErrorKind::kReply,
                     "replay to " + names_.stream + ": " + std::to_string(chosen.size() - moved) + " of " +
                         std::to_string(chosen.size()) + " dead letters not replayed (kept): " + failure,
                     reply_code(failure));
  }
  return moved;
}

std::size_t StreamAdmin::replay(const std::vector<std::string>& ids, std::size_t max) {
  if (!ids.empty()) {
    std::vector<DeadEntry> chosen;
    for (const auto& id : ids)
      for (auto& d : read_dead(id, id, 1)) chosen.push_back(std::move(d));
    return replay_entries(chosen);
  }
  // The last dead letter now: the end of this replay.
  Reply last = conn_->command({"XREVRANGE", names_.dead_stream, "+", "-", "COUNT", "1"});
  if (last.view().size() == 0) return 0;
  const std::string end = last.view().at(0).at(0).str();
  std::size_t moved = 0;
  std::string cursor = "-";
  while (max == 0 || moved < max) {
    const std::size_t want = max == 0 ? kEnqueueChunk : std::min(kEnqueueChunk, max - moved);
    const std::vector<DeadEntry> page = read_dead(cursor, end, want);
    if (page.empty()) break;
    moved += replay_entries(page);
    cursor = "(" + page.back().id;
  }
  return moved;
}

std::size_t StreamAdmin::purge(const std::vector<std::string>& ids) {
  if (ids.empty()) return 0;
  std::vector<std::string> argv = {"XDEL", names_.dead_stream};
  argv.insert(argv.end(), ids.begin(), ids.end());
  return static_cast<std::size_t>(conn_->command(argv).view().integer());
}

std::size_t StreamAdmin::purge_all() {
  const long long n = dead_length();
  conn_->command({"DEL", names_.dead_stream});
  return static_cast<std::size_t>(n);
}

std::size_t StreamAdmin::purge_older_than(std::chrono::milliseconds age) {
  return static_cast<std::size_t>(trim_dead_letters(*conn_, names_.dead_stream, 0, std::max(age, std::chrono::milliseconds(1))));
}

long long StreamAdmin::length() { return conn_->command({"XLEN", names_.stream}).view().integer(); }

long long StreamAdmin::dead_length() { return conn_->command({"XLEN", names_.dead_stream}).view().integer(); }

long long StreamAdmin::pending() {
  Reply r = conn_->command({"XPENDING", names_.stream, names_.group});
  return r.view().at(0).integer();
}

long long StreamAdmin::oldest_pending_age_ms() {
  Reply r = conn_->command({"XPENDING", names_.stream, names_.group});
  const ReplyView summary = r.view();
  if (summary.at(0).integer() == 0 || summary.at(1).is_nil()) return 0;
  const std::string oldest = summary.at(1).str();  // "<ms>-<seq>"
  const long long added_ms = std::stoll(oldest.substr(0, oldest.find('-')));
  Reply t = conn_->command({"TIME"});
  const long long now_ms = std::stoll(t.view().at(0).str()) * 1000 + std::stoll(t.view().at(1).str()) / 1000;
  return std::max(0LL, now_ms - added_ms);
}

long long StreamAdmin::lag() {
  // Redis 7.0 forgets (or misestimates) a group's entries-read, and so its
  // "lag", across a restart; the last delivered id against the stream's last
  // id is exact: equal means every entry was delivered.
  std::string last_generated;
  {
    Reply r = conn_->command({"XINFO", "STREAM", names_.stream});
    const ReplyView info = r.view();
    for (std::size_t k = 0; k + 1 < info.size(); k += 2)
      if (info.at(k).str() == "last-generated-id") last_generated = info.at(k + 1).str();
  }
  Reply r = conn_->command({"XINFO", "GROUPS", names_.stream});
  const ReplyView groups = r.view();
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const ReplyView info = groups.at(g);
    std::string name;
    std::string last_delivered;
    long long lag = -1;
    for (std::size_t k = 0; k + 1 < info.size(); k += 2) {
      const std::string key = info.at(k).str();
      if (key == "name") name = info.at(k + 1).str();
      if (key == "last-delivered-id") last_delivered = info.at(k + 1).str();
      if (key == "lag" && !info.at(k + 1).is_nil()) lag = info.at(k + 1).integer();
    }
    if (name != names_.group) continue;
    if (!last_generated.empty() && last_delivered == last_generated) return 0;
    return lag > 0 ? lag : -1;  // undelivered entries remain; how many is unknown when Redis lost count
  }
  return -1;
}

}  // namespace hm::redis
