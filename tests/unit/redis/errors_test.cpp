// The one table of Redis errors (classify) and the process-wide SIGPIPE guard.
#include "redis/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace hm::redis {
namespace {

RedisErrorPolicy reply(const std::string& text) {
  return classify(RedisError(RedisErrorKind::kReply, "redis x: XREADGROUP: " + text, reply_code(text)));
}

TEST(RedisErrorPolicyTest, ServersThatCannotServeUsNowMeanReconnect) {
  for (const char* text : {"READONLY You can't write against a read only replica.",
                           "LOADING Redis is loading the dataset in memory",
                           "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
                           "NOAUTH Authentication required.", "WRONGPASS invalid username-password pair"}) {
    const auto p = reply(text);
    EXPECT_TRUE(p.reconnect) << text;
    EXPECT_FALSE(p.recreate_group) << text;
    EXPECT_EQ(p.kind, std::string(text).substr(0, std::string(text).find(' ')));
  }
}

TEST(RedisErrorPolicyTest, AMissingGroupIsRecreatedOnTheSameConnection) {
  for (const char* text : {"NOGROUP No such key 'hm:ingest' or consumer group 'hm-worker' in XREADGROUP with GROUP option",
                           "UNBLOCKED the stream key no longer exists"}) {
    const auto p = reply(text);
    EXPECT_TRUE(p.recreate_group) << text;
    EXPECT_FALSE(p.reconnect) << text;
  }
  EXPECT_EQ(reply("NOGROUP No such key").kind, "NOGROUP");
}

TEST(RedisErrorPolicyTest, OtherReplyErrorsKeepTheConnectionAndOnlyWait) {
  for (const char* text : {"MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist",
                           "BUSY Redis is busy running a script.", "OOM command not allowed when used memory > 'maxmemory'.",
                           "WRONGTYPE Operation against a key holding the wrong kind of value", "ERR unknown command"}) {
    const auto p = reply(text);
    EXPECT_FALSE(p.reconnect) << text;
    EXPECT_FALSE(p.recreate_group) << text;
  }
  EXPECT_EQ(reply("MISCONF Redis is configured").kind, "MISCONF");
  EXPECT_EQ(reply("BUSY Redis is busy").kind, "BUSY");
}

TEST(RedisErrorPolicyTest, TransportErrorsReconnectAndAreNamedByKind) {
  EXPECT_EQ(classify(RedisError(RedisErrorKind::kIo, "reset")).kind, "io");
  EXPECT_EQ(classify(RedisError(RedisErrorKind::kTimeout, "t")).kind, "timeout");
  EXPECT_EQ(classify(RedisError(RedisErrorKind::kProtocol, "p")).kind, "protocol");
  for (auto k : {RedisErrorKind::kIo, RedisErrorKind::kTimeout, RedisErrorKind::kProtocol})
    EXPECT_TRUE(classify(RedisError(k, "x")).reconnect);
}

TEST(RedisErrorPolicyTest, ReplyCodeIsTheUpperCaseFirstWordOrErr) {
  EXPECT_EQ(reply_code("NOGROUP No such key"), "NOGROUP");
  EXPECT_EQ(reply_code("ERR syntax error"), "ERR");
  EXPECT_EQ(reply_code("something odd happened"), "ERR");
  EXPECT_EQ(reply_code(""), "ERR");
  EXPECT_EQ(reply("Weird lower-case error").kind, "ERR");
}

TEST(RedisConnectionTest, WritingToAConnectionTheServerClosedFailsInsteadOfKillingTheProcess) {
  // A "server" that accepts and closes at once. Writing more than the socket
  // buffers hold makes the kernel answer the second write() with EPIPE, and
  // SIGPIPE by default: the default action would end this test binary.
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  RedisOptions o;
  o.host = "127.0.0.1";
  o.port = ntohs(addr.sin_port);
  auto conn = Connection::connect(o);  // no password, db 0: sends nothing
  const int accepted = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(accepted, 0);
  ::close(accepted);
  ::close(listener);
  const std::string big(64 << 20, 'x');
  EXPECT_THROW(conn->pipeline({{"SET", "k", big}}), RedisError);
  EXPECT_THROW(conn->pipeline({{"SET", "k", big}}), RedisError);
}

}  // namespace
}  // namespace hm::redis
