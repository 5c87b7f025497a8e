#pragma once
// One Redis connection over hiredis 0.14, owned by RAII. Timeouts are applied
// on every (re)connect: hiredis 0.14's redisReconnect forgets redisSetTimeout,
// so a broken connection is replaced by a new one, never reconnected in place.
// hiredis replies and error codes are translated here only (RedisError).
//
// Thread-safety: none. A context belongs to one thread.

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "redis/redis_url.h"

struct redisContext;
struct redisReply;

namespace hm::redis {

enum class RedisErrorKind {
  kIo,        // connect refused, reset, EOF: the connection is gone
  kTimeout,   // no answer within the socket timeout: the connection is gone
  kProtocol,  // garbage on the wire: the connection is gone
  kReply,     // the server answered with an error (e.g. WRONGTYPE): the connection is fine
};

class RedisError : public std::runtime_error {
 public:
  RedisError(RedisErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  RedisErrorKind kind() const { return kind_; }
  bool connection_broken() const { return kind_ != RedisErrorKind::kReply; }

 private:
  RedisErrorKind kind_;
};

// A read-only view of one reply node; valid while its Reply lives.
class ReplyView {
 public:
  explicit ReplyView(const redisReply* r) : r_(r) {}
  bool is_nil() const;
  bool is_error() const;
  bool is_array() const;
  bool is_string() const;  // bulk or status string
  bool is_integer() const;
  std::string str() const;  // string, status or error text
  long long integer() const;
  std::size_t size() const;  // array length, 0 otherwise
  ReplyView at(std::size_t i) const;

 private:
  const redisReply* r_;
};

class Reply {
 public:
  explicit Reply(redisReply* r);
  ReplyView view() const { return ReplyView(r_.get()); }

 private:
  struct Free {
    void operator()(redisReply* r) const;
  };
  std::unique_ptr<redisReply, Free> r_;
};

class Connection {
 public:
  // Connects, applies timeouts and keepalive, authenticates, selects the db.
  static std::unique_ptr<Connection> connect(const RedisOptions& options);

  // Runs one command. Throws RedisError (kReply for an error reply).
  Reply command(const std::vector<std::string>& argv);
  // Sends all commands, then reads all replies (one round trip). Error replies
  // are returned, not thrown; transport errors throw.
  std::vector<Reply> pipeline(const std::vector<std::vector<std::string>>& commands);

  const std::string& address() const { return address_; }

 private:
  struct Free {
    void operator()(redisContext* c) const;
  };
  explicit Connection(redisContext* c, std::string address);
  RedisError transport_error(const std::string& what) const;

  std::unique_ptr<redisContext, Free> ctx_;
  std::string address_;
};

}  // namespace hm::redis
