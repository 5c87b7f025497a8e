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
  // code: an error reply's first word (NOGROUP, READONLY, ERR...); empty for transport errors.
  RedisError(RedisErrorKind kind, const std::string& message, std::string code = {})
      : std::runtime_error(message), kind_(kind), code_(std::move(code)) {}
  RedisErrorKind kind() const { return kind_; }
  const std::string& code() const { return code_; }
  bool connection_broken() const { return kind_ != RedisErrorKind::kReply; }

 private:
  RedisErrorKind kind_;
  std::string code_;
};

// What a client of Redis does after an error: the one table of Redis errors
// (connection.cpp). Whatever the kind, the caller backs off (with jitter,
// interruptible by a stop) before trying again: no error spins.
struct RedisErrorPolicy {
  std::string kind;             // for logs and telemetry: the reply's code, or io / timeout / protocol
  bool reconnect = false;       // drop the connection: it is gone, or on a server that cannot serve us
                                // (a demoted replica, one still loading, one without its primary)
  bool recreate_group = false;  // the stream or its group is gone: XGROUP CREATE ... MKSTREAM, then go on
};
RedisErrorPolicy classify(const RedisError& e);

// The first word of an error reply when it is a code (upper case), else "ERR".
std::string reply_code(const std::string& error_text);

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

// A RedisError (kReply) for an error reply found in a pipeline's answers.
RedisError reply_error(const std::string& context, const ReplyView& error_reply);

// Sets SIGPIPE to ignored for the process (once; later calls do nothing):
// hiredis writes with write(), and a write to a socket the server closed must
// fail with EPIPE, not kill the process. Connection::connect calls it.
void ignore_sigpipe();

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
