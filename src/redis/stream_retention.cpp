#include "redis/stream_retention.h"

#include <unistd.h>

#include <algorithm>
#include <random>

#include <spdlog/spdlog.h>

namespace hm::redis {
namespace {

// Stream ids compared as (ms, seq) pairs; Lua numbers are doubles, exact up
// to 2^53 (ids' ms and sequence numbers stay far below).
constexpr const char* kIdLess = R"lua(
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
local function field(list, name)
  for i = 1, #list, 2 do
    if list[i] == name then return list[i + 1] end
  end
  return nil
end
)lua";

// KEYS[1] the stream. The bound is the smallest, over every group, of its
// oldest pending id and its last-delivered id: what is below was delivered to
// and acknowledged by every group. XTRIM MINID keeps the bound itself.
constexpr const char* kTrimAcknowledged = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
if #groups == 0 then return 0 end
local bound = nil
for _, g in ipairs(groups) do
  local b = field(g, 'last-delivered-id')
  local summary = redis.call('XPENDING', KEYS[1], field(g, 'name'))
  if summary[1] > 0 and less(summary[2], b) then b = summary[2] end
  if bound == nil or less(b, bound) then bound = b end
end
if bound == '0-0' then return 0 end
return redis.call('XTRIM', KEYS[1], 'MINID', bound)
)lua";

// KEYS[1] the stream; ARGV[1] idle ms; ARGV[2..] consumers never deleted.
// A consumer's pending count is read and the consumer deleted in one atomic
// step: one that took an entry in between is not deleted.
constexpr const char* kDeleteIdleConsumers = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local keep = {}
for i = 2, #ARGV do keep[ARGV[i]] = true end
local idle_ms = tonumber(ARGV[1])
local deleted = 0
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local group = field(g, 'name')
  for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], group)) do
    local name = field(c, 'name')
    if field(c, 'pending') == 0 and field(c, 'idle') > idle_ms and not keep[name] then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], group, name)
      deleted = deleted + 1
    end
  end
end
return deleted
)lua";

constexpr const char* kReleaseLease = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua";

long long redis_now_ms(Connection& c) {
  Reply t = c.command({"TIME"});
  return std::stoll(t.view().at(0).str()) * 1000 + std::stoll(t.view().at(1).str()) / 1000;
}

}  // namespace

long long trim_acknowledged(Connection& c, const std::string& stream) {
  return c.command({"EVAL", std::string(kIdLess) + kTrimAcknowledged, "1", stream}).view().integer();
}

long long trim_dead_letters(Connection& c, const std::string& dead_stream, long long max_entries,
                            std::chrono::milliseconds max_age) {
  long long removed = 0;
  if (max_age.count() > 0) {
    // Ids are "<ms>-<seq>" of the time the dead letter was written (XADD *).
    const long long bound = redis_now_ms(c) - max_age.count();
    if (bound > 0) removed += c.command({"XTRIM", dead_stream, "MINID", std::to_string(bound)}).view().integer();
  }
  if (max_entries > 0)
    removed += c.command({"XTRIM", dead_stream, "MAXLEN", std::to_string(max_entries)}).view().integer();
  return removed;
}

long long delete_idle_consumers(Connection& c, const std::string& stream, std::chrono::milliseconds idle,
                                const std::vector<std::string>& keep) {
  std::vector<std::string> argv = {"EVAL", std::string(kIdLess) + kDeleteIdleConsumers, "1", stream,
                                   std::to_string(idle.count())};
  argv.insert(argv.end(), keep.begin(), keep.end());
  return c.command(argv).view().integer();
}

bool RedisLease::acquire(Connection& c, std::chrono::milliseconds ttl) {
  Reply r = c.command({"SET", key_, token_, "NX", "PX", std::to_string(std::max<long long>(1, ttl.count()))});
  return !r.view().is_nil();
}

bool RedisLease::release(Connection& c) {
  return c.command({"EVAL", kReleaseLease, "1", key_, token_}).view().integer() == 1;
}

std::string lease_token(const std::string& host) {
  std::random_device rd;
  const unsigned long long r = (static_cast<unsigned long long>(rd()) << 32) ^ rd();
  return host + ":" + std::to_string(::getpid()) + ":" + std::to_string(r);
}

StreamRetention::StreamRetention(RetentionOptions options, Telemetry& telemetry)
    : options_(std::move(options)), telemetry_(telemetry), lease_(options_.lease_key, options_.lease_token) {}

StreamRetention::~StreamRetention() = default;

StreamRetention::Outcome StreamRetention::run_locked(Connection& c) {
  Outcome out;
  out.ran = true;
  for (const auto& s : options_.streams) {
    if (const long long n = trim_acknowledged(c, s); n > 0) out.trimmed[s] += n;
    if (options_.consumer_idle_delete.count() <= 0) continue;
    const long long gone = delete_idle_consumers(c, s, options_.consumer_idle_delete, options_.own_consumers);
    if (gone <= 0) continue;
    out.consumers_deleted += gone;
    telemetry_.consumers_deleted(s, gone);
    spdlog::info("{}: deleted {} consumers idle for over {} s with nothing pending", s, gone,
                 options_.consumer_idle_delete.count() / 1000);
  }
  for (const auto& d : options_.dead_streams)
    if (const long long n = trim_dead_letters(c, d, options_.dead_letter_max_entries, options_.dead_letter_max_age); n > 0)
      out.trimmed[d] += n;
  for (const auto& [stream, n] : out.trimmed) {
    telemetry_.trimmed(stream, n);
    spdlog::debug("{}: trimmed {} entries", stream, n);
  }
  return out;
}

StreamRetention::Outcome StreamRetention::run_once() {
  try {
    if (!conn_) conn_ = Connection::connect(options_.redis);
  } catch (const RedisError& e) {
    spdlog::warn("retention: redis not reachable ({}); next try in {} s", e.what(), options_.retention_interval.count() / 1000);
    return {};
  }
  bool held = false;
  try {
    held = lease_.acquire(*conn_, options_.retention_interval);
    if (!held) return {};
    return run_locked(*conn_);
  } catch (const RedisError& e) {
    spdlog::warn("retention: {}; next try in {} s", e.what(), options_.retention_interval.count() / 1000);
    if (held && !e.connection_broken()) {
      try {
        lease_.release(*conn_);  // another process may try before our next period
      } catch (const RedisError&) {
      }
    }
    if (e.connection_broken()) conn_.reset();
    return {};
  }
}

}  // namespace hm::redis
