#include "redis/connection.h"

#include <hiredis/hiredis.h>

#include <cerrno>
#include <charconv>
#include <cstring>

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

}  // namespace

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
