// The webhook receiver as a process (hm-worker run --role webhook) in front of
// a real Redis and an ingest worker on a real MariaDB: what Meta's calls
// become, under faults and hostile clients.
#include <httplib.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

#include "integration/commands/worker_process_fixture.h"
#include "support/fault_proxy.h"
#include "webhook/signature.h"

namespace hm {
namespace {

const std::string kSecret = "test-app-secret-0123456789abcdef";
const std::string kToken = "test-verify-token";

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The process's resident memory (kB) and thread count, from /proc.
std::pair<long, long> rss_kb_and_threads(pid_t pid) {
  long rss = -1;
  long threads = -1;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) rss = std::stol(line.substr(6));
    if (line.rfind("Threads:", 0) == 0) threads = std::stol(line.substr(8));
  }
  return {rss, threads};
}

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
  if (fd >= 0) ::close(fd);
  return -1;
}

// Reads until the peer closes or `limit` passes; what it sent.
std::string read_all(int fd, std::chrono::seconds limit) {
  timeval tv{static_cast<time_t>(limit.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string got;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

// The first bytes the peer sends within `limit` (empty when none).
std::string read_first(int fd, std::chrono::seconds limit) {
  timeval tv{static_cast<time_t>(limit.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[512];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

class WebhookReceiverTest : public WorkerProcessTest {
 protected:
  void SetUp() override {
    WorkerProcessTest::SetUp();
    dir_ = std::filesystem::temp_directory_path() / ("hm-webhook-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "secret") << "# old and new during a rotation\nold-secret\n" << kSecret << "\n";
    std::ofstream(dir_ / "token") << kToken << "\n";
  }
  void TearDown() override {
    WorkerProcessTest::TearDown();
    std::filesystem::remove_all(dir_);
  }

  // The receiver, writing to this test's ingest stream (through `redis_url` when given).
  ChildProcess& start_receiver(std::map<std::string, std::string> extra = {}) {
    port_ = test::free_port();
    status_port_ = test::free_port();
    std::map<std::string, std::string> env = {{"QUEUE_STREAM", names_.stream},
                                              {"WEBHOOK_PORT", std::to_string(port_)},
                                              {"WEBHOOK_BIND", "127.0.0.1"},
                                              {"METRICS_PORT", std::to_string(status_port_)},
                                              {"APP_SECRET_FILE", (dir_ / "secret").string()},
                                              {"WEBHOOK_VERIFY_TOKEN_FILE", (dir_ / "token").string()},
                                              {"WEBHOOK_DRAIN_SECONDS", "1"},
                                              {"REDIS_TIMEOUT", "2"},
                                              {"QUEUE_BLOCK_MS", "200"}};
    for (const auto& [k, v] : extra) env[k] = v;
    ChildProcess& p = start_worker("receiver", env, "webhook");
    EXPECT_TRUE(test::eventually([&] { return test::http_get(status_port_, "/readyz").status == 200; }, 20s))
        << p.out() << p.err();
    return p;
  }

  httplib::Result post(const std::string& body, const std::string& secret = kSecret) {
    httplib::Client c("127.0.0.1", port_);
    c.set_connection_timeout(5);
    c.set_read_timeout(10);
    return c.Post("/webhook", {{"X-Hub-Signature-256", "sha256=" + webhook::hmac_sha256_hex(secret, body)}}, body,
                  "application/json");
  }

  std::vector<std::string> fixtures() {
    std::vector<std::string> out;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(std::string(HM_FIXTURES_DIR) + "/payloads"))
      files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) out.push_back(read_text(f));
    return out;
  }

  // Every column ingest writes, in a stable order.
  test::Rows messages(test::TestDatabase& db) {
    return db.query(
        "SELECT ig_message_id, account_id, sender_id, recipient_id, customer_id, direction, kind, text, attachments, "
        "reply_to_mid, postback_payload, event_time, is_deleted, deleted_at, edit_count, edited_at FROM message "
        "ORDER BY ig_message_id");
  }

  std::filesystem::path dir_;
  int port_ = 0;
  int status_port_ = 0;
  void expect_outage_loses_no_two_hundred(const std::function<void()>& go_down, const std::function<void()>& come_back);
};

TEST_F(WebhookReceiverTest, VerificationAnswersTheChallengeOnlyForTheToken) {
  start_receiver();
  httplib::Client c("127.0.0.1", port_);
  auto ok = c.Get("/webhook?hub.mode=subscribe&hub.verify_token=" + kToken + "&hub.challenge=1158201444");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, "1158201444");
  auto refused = c.Get("/webhook?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1158201444");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  auto other = c.Get("/elsewhere");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
}

// The deliveries Meta sends, through the receiver, become the same rows as
// the same bytes XADDed the way `enqueue` does; the entries hold the exact
// bytes; a repeated POST is a duplicate, not a second row.
TEST_F(WebhookReceiverTest, PostedDeliveriesAreStoredExactlyAsEnqueuedOnes) {
  const std::vector<std::string> bodies = fixtures();
  ASSERT_GE(bodies.size(), 10u);
  start_worker("ingest-1");
  start_receiver();
  for (const std::string& body : bodies) {
    auto r = post(body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
  }
  expect_drained();
  const auto via_webhook = messages(db_);
  ASSERT_FALSE(via_webhook.empty());
  // The stream holds the exact bytes, with received_at.
  const auto entries = admin().connection().command({"XRANGE", names_.stream, "-", "+"});
  ASSERT_EQ(entries.view().size(), bodies.size());
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    const auto fields = entries.view().at(i).at(1);
    ASSERT_EQ(fields.size(), 6u);
    EXPECT_EQ(fields.at(0).str(), "payload");
    EXPECT_EQ(fields.at(1).str(), bodies[i]) << "entry " << i << " is not the posted bytes";
    EXPECT_EQ(fields.at(4).str(), "received_at");
  }
  // Once more: duplicates, no new row.
  for (const std::string& body : bodies) {
    auto r = post(body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  expect_drained();
  EXPECT_EQ(messages(db_), via_webhook);

  // The same bytes the enqueue way, into a database of their own.
  test::TestDatabase other("proc_enq", true);
  const std::string stream = names_.stream + ":enq";
  for (const std::string& body : bodies) admin().connection().command({"XADD", stream, "*", "payload", body, "enqueued_at", "1"});
  auto env = test::worker_env_map(other.options());
  env["QUEUE_STREAM"] = stream;
  env["QUEUE_STREAM_PREFIX"] = prefix();
  env["METRICS_PORT"] = "0";
  env["QUEUE_BLOCK_MS"] = "200";
  ChildProcess enq(kBin, {"run", "--role", "ingest"}, env, "ingest-enq");
  redis::StreamAdmin enq_admin(redis_, {stream, "hm-worker", stream + ":dead", prefix()});
  ASSERT_TRUE(test::eventually([&] { return enq_admin.lag() == 0 && enq_admin.pending() == 0; }, 60s));
  EXPECT_EQ(messages(other), via_webhook);
  admin().connection().command({"DEL", stream, stream + ":dead"});
}

TEST_F(WebhookReceiverTest, UnsignedWronglySignedOrMalformedRequestsEnqueueNothing) {
  start_receiver();
  const std::string body = fixtures().front();
  httplib::Client c("127.0.0.1", port_);
  auto unsigned_post = c.Post("/webhook", body, "application/json");
  ASSERT_TRUE(unsigned_post);
  EXPECT_EQ(unsigned_post->status, 401);
  auto wrong = post(body, "not-the-secret");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 403);
  auto not_json = post("{\"object\":\"instagram\"}");
  ASSERT_TRUE(not_json);
  EXPECT_EQ(not_json->status, 400);
  auto rotated = post(body, "old-secret");  // the second secret of the file
  ASSERT_TRUE(rotated);
  EXPECT_EQ(rotated->status, 200);
  EXPECT_EQ(admin().length(), 1);
  const std::string metrics = test::http_get(status_port_, "/metrics").body;
  EXPECT_NE(metrics.find("hm_worker_webhook_requests_total{role=\"webhook\",outcome=\"bad_signature\"} 2"),
            std::string::npos)
      << metrics;
}

// Redis unreachable mid-load (every connection reset by a proxy), then back:
// every 200 is stored; no request that started during the outage got a 200.
// 600 deliveries from 4 clients while `go_down` and, 3 s later,
// `come_back` run: every delivery answered 200 must be stored, and none that
// started while Redis was down may have been answered 200.
void WebhookReceiverTest::expect_outage_loses_no_two_hundred(const std::function<void()>& go_down,
                                                              const std::function<void()>& come_back) {
  std::mutex mutex;
  std::vector<std::string> accepted;  // mids answered 200
  int refused = 0;
  int during_outage_200 = 0;
  std::atomic<long long> down_from{0};
  std::atomic<long long> down_until{0};
  std::atomic<int> next{0};
  const auto ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  auto client = [&] {
    for (int i = next++; i < 600; i = next++) {
      const std::string mid = "aWdfwebhook" + std::to_string(i);
      const long long started = ms();
      auto r = post(test::text_delivery(mid, "outage " + std::to_string(i)));
      const bool ok = r && r->status == 200;
      std::lock_guard<std::mutex> lock(mutex);
      if (ok) accepted.push_back(mid);
      else ++refused;
      if (ok && down_from > 0 && started > down_from + 200 && (down_until == 0 || started < down_until)) ++during_outage_200;
      std::this_thread::sleep_for(5ms);
    }
  };
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) clients.emplace_back(client);
  std::this_thread::sleep_for(1s);
  go_down();
  down_from = ms();
  std::this_thread::sleep_for(3s);
  down_until = ms();
  come_back();
  for (auto& t : clients) t.join();
  expect_drained();
  EXPECT_GT(refused, 0) << "the outage refused nothing: did it happen?";
  EXPECT_GT(accepted.size(), 100u);
  EXPECT_EQ(during_outage_200, 0);
  std::set<std::string> stored;
  for (const auto& row : db_.query("SELECT ig_message_id FROM message")) stored.insert(row[0].value_or(""));
  for (const auto& mid : accepted) EXPECT_TRUE(stored.count(mid)) << mid << " got 200 and was not stored";
  std::cout << "[ outage ] 200: " << accepted.size() << ", refused: " << refused << ", rows: " << stored.size()
            << std::endl;
}

// Every connection to Redis reset for 3 s (a network fault).
TEST_F(WebhookReceiverTest, NoTwoHundredWhileRedisIsDownAndEveryTwoHundredIsStored) {
  const auto url = redis::parse_redis_url(test::stack_redis_url());
  test::FaultProxy proxy(url.host, url.port);
  start_worker("ingest-1");
  start_receiver({{"REDIS_URL", "redis://127.0.0.1:" + std::to_string(proxy.port()) + "/" + std::to_string(url.db)}});
  expect_outage_loses_no_two_hundred([&] { proxy.set_mode(test::FaultProxy::Mode::kReset); },
                                     [&] { proxy.set_mode(test::FaultProxy::Mode::kPass); });
}

// The Redis server itself stopped mid-load and started again (its append-only
// file, fsync always, is what makes an acknowledged XADD survive).
TEST_F(WebhookReceiverTest, RedisStoppedAndRestartedMidLoadLosesNoTwoHundred) {
  start_worker("ingest-1");
  start_receiver({});
  const std::string stack = test::source_dir() + "/scripts/stack";
  expect_outage_loses_no_two_hundred([&] { ASSERT_EQ(test::run_command(stack + " stop redis").exit_code, 0); },
                                     [&] { ASSERT_EQ(test::run_command(stack + " start redis").exit_code, 0); });
}

// Slow headers, a 100 MB body, broken chunked encoding and 2,000 idle
// connections: the receiver answers a real delivery meanwhile, with bounded
// threads and memory.
TEST_F(WebhookReceiverTest, HostileClientsDoNotStopRealDeliveries) {
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = std::min<rlim_t>(nofile.rlim_max, 8192);
  ::setrlimit(RLIMIT_NOFILE, &nofile);
  ChildProcess& p = start_receiver({{"WEBHOOK_THREADS", "8"}});
  const std::string body = fixtures().front();

  // Slow headers: closed by the read timeout (5 s), never answered 200.
  const int slow = connect_to(port_);
  const std::string partial = "POST /webhook HTTP/1.1\r\nHost: x\r\n";
  ::send(slow, partial.data(), partial.size(), MSG_NOSIGNAL);
  // Broken chunked encoding: 400 or closed, no crash.
  const int chunked = connect_to(port_);
  const std::string bad_chunks =
      "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nxx\r\n";
  ::send(chunked, bad_chunks.data(), bad_chunks.size(), MSG_NOSIGNAL);
  // 2,000 idle connections.
  std::vector<int> idle;
  for (int i = 0; i < 2000; ++i) {
    const int fd = connect_to(port_);
    if (fd >= 0) idle.push_back(fd);
  }
  EXPECT_GE(idle.size(), 1900u);
  // Past TCP_DEFER_ACCEPT's wait (the read timeout, 5 s) the kernel hands
  // them over: each must give its thread back at once, or the real delivery
  // below waits behind 2,000 idle connections.
  std::this_thread::sleep_for(7s);
  // A 100 MB body: 413 without reading it.
  const auto big_start = std::chrono::steady_clock::now();
  const int big = connect_to(port_);
  const std::string head = "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                           std::to_string(100 * 1024 * 1024) + "\r\n\r\n";
  ::send(big, head.data(), head.size(), MSG_NOSIGNAL);
  const std::string chunk(1 << 20, '[');
  for (int i = 0; i < 8; ++i) ::send(big, chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  const std::string big_answer = read_first(big, 10s);
  EXPECT_EQ(big_answer.rfind("HTTP/1.1 413", 0), 0u) << big_answer.substr(0, 100);
  EXPECT_LT(std::chrono::steady_clock::now() - big_start, 3s) << "413 only after reading the body?";
  ::close(big);

  // Meanwhile a real delivery is served.
  auto r = post(body);
  ASSERT_TRUE(r) << "no answer while hostile clients hold connections";
  EXPECT_EQ(r->status, 200);
  const std::string chunked_answer = read_all(chunked, 10s);
  EXPECT_TRUE(chunked_answer.empty() || chunked_answer.rfind("HTTP/1.1 400", 0) == 0) << chunked_answer;
  const std::string slow_answer = read_all(slow, 10s);
  EXPECT_EQ(slow_answer.find("200 OK"), std::string::npos);
  const auto [rss_kb, threads] = rss_kb_and_threads(p.pid());
  std::cout << "[ hostile ] receiver RSS " << rss_kb << " kB, " << threads << " threads, " << idle.size()
            << " idle connections" << std::endl;
  EXPECT_LT(threads, 8 + 16);  // the pool, the status server's pool, helpers: not one per connection
#if defined(__SANITIZE_ADDRESS__)
  constexpr long kRssLimitKb = 256 * 1024;  // AddressSanitizer's shadow memory and quarantine (measured ~100 MB)
#else
  constexpr long kRssLimitKb = 64 * 1024;
#endif
  EXPECT_LT(rss_kb, kRssLimitKb);
  for (int fd : {slow, chunked}) ::close(fd);
  for (int fd : idle) ::close(fd);
  EXPECT_TRUE(p.running());
}

// SIGTERM: /readyz turns 503 first while deliveries are still served for
// WEBHOOK_DRAIN_SECONDS, then the port closes and the process exits 0.
TEST_F(WebhookReceiverTest, SigtermTurnsUnreadyFirstThenExitsZero) {
  ChildProcess& p = start_receiver({{"WEBHOOK_DRAIN_SECONDS", "2"}, {"SHUTDOWN_TIMEOUT", "10"}});
  const std::string body = fixtures().front();
  p.signal(SIGTERM);
  EXPECT_TRUE(test::eventually([&] { return test::http_get(status_port_, "/readyz").status == 503; }, 1s));
  auto during = post(body);
  ASSERT_TRUE(during) << "not served during the drain";
  EXPECT_EQ(during->status, 200);
  EXPECT_EQ(p.wait(10s), std::optional<int>(0)) << p.err();
  EXPECT_LT(connect_to(port_), 0) << "still accepting after the stop";
}

}  // namespace
}  // namespace hm
