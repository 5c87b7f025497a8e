#include "redis/connection.h"

#include <hiredis/hiredis.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "config/config.h"

namespace hm::redis {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::vector<const char*> argv_ptrs(const std::vector<std::string>& argv, std::vector<size_t>& lens) {
  std::vector<const char*> ptrs;
  ptrs.reserve(argv.size());
  lens.clear();
  lens.reserve(argv.size());
  for (const auto& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  return ptrs;
}

int parse_port(const std::string& s) {
  int port = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), port);
  if (ec != std::errc() || p != s.data() + s.size() || port < 1 || port > 65535)
    throw ConfigError("REDIS_URL", "has a bad port '" + s + "', expected 1-65535");
  return port;
}

int parse_db(const std::string& s) {
  int db = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), db);
  if (ec != std::errc() || p != s.data() + s.size() || db < 0 || db > 10000)
    throw ConfigError("REDIS_URL", "has a bad database number '" + s + "'");
  return db;
}

}  // namespace

RedisOptions parse_redis_url(const std::string& url) {
  RedisOptions o;
  if (url.rfind("unix://", 0) == 0) {
    std::string rest = url.substr(7);
    const auto q = rest.find('?');
    o.socket = rest.substr(0, q);
    if (o.socket.empty()) throw ConfigError("REDIS_URL", "has an empty socket path");
    if (q != std::string::npos) {
      const std::string query = rest.substr(q + 1);
      if (query.rfind("db=", 0) != 0) throw ConfigError("REDIS_URL", "only ?db=N is understood after a socket path");
      o.db = parse_db(query.substr(3));
    }
    return o;
  }
  if (url.rfind("redis://", 0) != 0)
    throw ConfigError("REDIS_URL", "must start with redis:// or unix:// (redis://host:port/db)");
  std::string rest = url.substr(8);
  const auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos && slash + 1 < rest.size()) o.db = parse_db(rest.substr(slash + 1));
  const auto at = authority.rfind('@');
  if (at != std::string::npos) {
    const std::string userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const auto colon = userinfo.find(':');
    if (colon == std::string::npos) {
      o.password = userinfo;
    } else {
      o.username = userinfo.substr(0, colon);
      o.password = userinfo.substr(colon + 1);
    }
  }
  const auto colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    o.host = authority.substr(0, colon);
    o.port = parse_port(authority.substr(colon + 1));
  } else {
    o.host = authority;
  }
  if (o.host.empty()) throw ConfigError("REDIS_URL", "has an empty host");
  return o;
}

bool ReplyView::is_nil() const { return !r_ || r_->type == REDIS_REPLY_NIL; }
bool ReplyView::is_error() const { return r_ && r_->type == REDIS_REPLY_ERROR; }
bool ReplyView::is_array() const { return r_ && r_->type == REDIS_REPLY_ARRAY; }
bool ReplyView::is_string() const { return r_ && (r_->type == REDIS_REPLY_STRING || r_->type == REDIS_REPLY_STATUS); }
bool ReplyView::is_integer() const { return r_ && r_->type == REDIS_REPLY_INTEGER; }

std::string ReplyView::str() const {
  if (!r_ || !(r_->type == REDIS_REPLY_STRING || r_->type == REDIS_REPLY_STATUS || r_->type == REDIS_REPLY_ERROR))
    return {};
  return std::string(r_->str, r_->len);
}

long long ReplyView::integer() const {
  if (!r_) return 0;
  if (r_->type == REDIS_REPLY_INTEGER) return r_->integer;
  if (r_->type == REDIS_REPLY_STRING) {
    long long v = 0;
    std::from_chars(r_->str, r_->str + r_->len, v);
    return v;
  }
  return 0;
}

std::size_t ReplyView::size() const { return is_array() ? r_->elements : 0; }

ReplyView ReplyView::at(std::size_t i) const {
  if (!is_array() || i >= r_->elements) return ReplyView(nullptr);
  return ReplyView(r_->element[i]);
}

Reply::Reply(redisReply* r) : r_(r) {}
void Reply::Free::operator()(redisReply* r) const { freeReplyObject(r); }
void Connection::Free::operator()(redisContext* c) const { redisFree(c); }

Connection::Connection(redisContext* c, std::string address) : ctx_(c), address_(std::move(address)) {}

RedisError Connection::transport_error(const std::string& what) const {
  const redisContext* c = ctx_.get();
  const std::string detail = c && c->errstr[0] ? c->errstr : std::strerror(errno);
  RedisErrorKind kind = RedisErrorKind::kIo;
  if (c && c->err == REDIS_ERR_PROTOCOL) kind = RedisErrorKind::kProtocol;
  if (c && c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK ||
                                       detail.find("temporarily unavailable") != std::string::npos)) {
    kind = RedisErrorKind::kTimeout;
  }
  const char* label = kind == RedisErrorKind::kTimeout ? " (timeout)" : "";
  return RedisError(kind, "redis " + address_ + ": " + what + ": " + detail + label);
}

std::unique_ptr<Connection> Connection::connect(const RedisOptions& o) {
  const std::string address = o.socket.empty() ? o.host + ":" + std::to_string(o.port) : o.socket;
  redisContext* raw = o.socket.empty() ? redisConnectWithTimeout(o.host.c_str(), o.port, to_timeval(o.connect_timeout))
                                       : redisConnectUnixWithTimeout(o.socket.c_str(), to_timeval(o.connect_timeout));
  if (!raw) throw RedisError(RedisErrorKind::kIo, "redis " + address + ": cannot allocate a context");
  std::unique_ptr<Connection> conn(new Connection(raw, address));
  if (raw->err) throw conn->transport_error("connect");
  if (redisSetTimeout(raw, to_timeval(o.socket_timeout)) != REDIS_OK) throw conn->transport_error("set timeout");
  if (o.socket.empty()) redisEnableKeepAlive(raw);
  if (!o.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!o.username.empty()) auth.push_back(o.username);
    auth.push_back(o.password);
    try {
      conn->command(auth);
    } catch (const RedisError& e) {
      // The reply text never contains the password.
      throw RedisError(e.kind(), "redis " + address + ": authentication failed");
    }
  }
  if (o.db != 0) conn->command({"SELECT", std::to_string(o.db)});
  return conn;
}

Reply Connection::command(const std::vector<std::string>& argv) {
  std::vector<size_t> lens;
  auto ptrs = argv_ptrs(argv, lens);
  void* r = redisCommandArgv(ctx_.get(), static_cast<int>(ptrs.size()), ptrs.data(), lens.data());
  if (!r) throw transport_error(argv.empty() ? "command" : argv[0]);
  Reply reply(static_cast<redisReply*>(r));
  if (reply.view().is_error()) {
    throw RedisError(RedisErrorKind::kReply, "redis " + address_ + ": " + argv[0] + ": " + reply.view().str());
  }
  return reply;
}

std::vector<Reply> Connection::pipeline(const std::vector<std::vector<std::string>>& commands) {
  std::vector<size_t> lens;
  for (const auto& argv : commands) {
    auto ptrs = argv_ptrs(argv, lens);
    if (redisAppendCommandArgv(ctx_.get(), static_cast<int>(ptrs.size()), ptrs.data(), lens.data()) != REDIS_OK)
      throw transport_error("pipeline");
  }
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* r = nullptr;
    if (redisGetReply(ctx_.get(), &r) != REDIS_OK || !r) throw transport_error("pipeline");
    replies.emplace_back(static_cast<redisReply*>(r));
  }
  return replies;
}

}  // namespace hm::redis
