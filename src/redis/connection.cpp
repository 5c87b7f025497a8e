#include "redis/connection.h"

#include <hiredis/hiredis.h>

#include <csignal>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>

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

// Error replies that mean "this server cannot serve us now, another (or the
// same one, later) will": a fresh connection is the way back. Every other code
// keeps the connection (MISCONF, BUSY, OOM, WRONGTYPE, ERR...): waiting is all
// a client can do there.
constexpr std::array<const char*, 5> kReconnectCodes = {"READONLY", "LOADING", "MASTERDOWN", "NOAUTH", "WRONGPASS"};
// The stream key was deleted (or lost with a restart): its group went with it.
// Redis 7 answers a blocked XREADGROUP with UNBLOCKED when the key is deleted.
constexpr std::array<const char*, 2> kGroupGoneCodes = {"NOGROUP", "UNBLOCKED"};

}  // namespace

std::string reply_code(const std::string& error_text) {
  std::string word = error_text.substr(0, error_text.find(' '));
  if (word.empty()) return "ERR";
  for (char ch : word)
    if (!(ch >= 'A' && ch <= 'Z') && ch != '_') return "ERR";
  return word;
}

RedisErrorPolicy classify(const RedisError& e) {
  RedisErrorPolicy p;
  switch (e.kind()) {
    case RedisErrorKind::kIo:
      p.kind = "io";
      p.reconnect = true;
      return p;
    case RedisErrorKind::kTimeout:
      p.kind = "timeout";
      p.reconnect = true;
      return p;
    case RedisErrorKind::kProtocol:
      p.kind = "protocol";
      p.reconnect = true;
      return p;
    case RedisErrorKind::kReply:
      break;
  }
  p.kind = e.code().empty() ? "ERR" : e.code();
  for (const char* code : kReconnectCodes) p.reconnect = p.reconnect || p.kind == code;
  for (const char* code : kGroupGoneCodes) p.recreate_group = p.recreate_group || p.kind == code;
  return p;
}

RedisError reply_error(const std::string& context, const ReplyView& error_reply) {
  const std::string text = error_reply.str();
  return RedisError(RedisErrorKind::kReply, context + ": " + text, reply_code(text));
}

void ignore_sigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
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
  ignore_sigpipe();
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
      throw RedisError(e.kind(), "redis " + address + ": authentication failed", e.code());
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
  if (reply.view().is_error()) throw reply_error("redis " + address_ + ": " + argv[0], reply.view());
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
