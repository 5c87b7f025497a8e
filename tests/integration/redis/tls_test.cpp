// Redis with TLS as deploy/components/redis-tls runs it: hm-worker (hiredis
// 0.14, no TLS) talks plain Redis to an stunnel client on loopback, which
// speaks TLS to a redis-server that has no plain port (`scripts/stack start
// redis-tls`). The tunnels here run the component's own stunnel.conf, with
// only the addresses, the CA and the expected host name changed: the shipped
// verification is what is tested. A tunnel with the wrong CA or the wrong
// host name lets nothing through, and the worker stays up and unready.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "support/process.h"
#include "support/test_db.h"

namespace hm {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using test::ChildProcess;

const std::string kBin = HM_WORKER_BINARY;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `KEY='value'` from `scripts/stack env`.
std::string stack_env(const std::string& text, const std::string& key) {
  const std::string start = "export " + key + "='";
  const auto at = text.find(start);
  if (at == std::string::npos) return "";
  const auto from = at + start.size();
  return text.substr(from, text.find('\'', from) - from);
}

// The component's stunnel.conf with the [redis] service's `key = value` lines
// in `set` replaced; every key must already be there.
std::string shipped_conf_with(const std::map<std::string, std::string>& set) {
  std::istringstream in(slurp(fs::path(test::source_dir()) / "deploy/components/redis-tls/stunnel.conf"));
  std::ostringstream out;
  std::map<std::string, bool> done;
  for (std::string line; std::getline(in, line);) {
    for (const auto& [key, value] : set) {
      if (line.rfind(key + " =", 0) == 0) {
        line = key + " = " + value;
        done[key] = true;
      }
    }
    out << line << "\n";
  }
  for (const auto& kv : set) EXPECT_TRUE(done[kv.first]) << "stunnel.conf has no '" << kv.first << " =' line";
  return out.str();
}

class RedisTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string stack = test::source_dir() + "/scripts/stack";
    const auto started = test::run_command(stack + " start redis-tls");
    ASSERT_EQ(started.exit_code, 0) << started.err;
    const auto env = test::run_command(stack + " env");
    tls_port_ = stack_env(env.out, "HM_REDIS_TLS_PORT");
    ca_ = stack_env(env.out, "HM_REDIS_TLS_CA");
    stack_tunnel_ = stack_env(env.out, "HM_REDIS_TUNNEL_URL");
    ASSERT_FALSE(tls_port_.empty() || ca_.empty() || stack_tunnel_.empty()) << env.out;
    dir_ = fs::temp_directory_path() / ("hm-rtls-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    stream_ = "hm:test:rtls:" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ":" +
              std::to_string(::getpid());
  }

  void TearDown() override {
    worker_.reset();
    tunnel_.reset();
    tls_cli("DEL " + stream_ + " " + stream_ + ":dead " + stream_ + ":enrich " + stream_ + ":media " + stream_ +
            ":reply");
    fs::remove_all(dir_);
  }

  // redis-cli straight to the TLS server (no plain port there), verifying it.
  std::string tls_cli(const std::string& args) {
    const auto r = test::run_command("redis-cli --tls --cacert " + ca_ + " --sni localhost -h 127.0.0.1 -p " +
                                     tls_port_ + " " + args);
    EXPECT_EQ(r.exit_code, 0) << args << ": " << r.err;
    return r.out;
  }
  long long xlen() { return std::stoll("0" + tls_cli("XLEN " + stream_)); }
  long long rows() { return db_.scalar("SELECT COUNT(*) FROM message"); }

  // The component's stunnel.conf in front of the stack's TLS server, with
  // `extra` on top; returns the plain URL of its loopback end.
  std::string start_tunnel(const std::map<std::string, std::string>& extra) {
    const int port = test::free_port();
    std::map<std::string, std::string> set = {{"accept", "127.0.0.1:" + std::to_string(port)},
                                              {"connect", "127.0.0.1:" + tls_port_},
                                              {"CAfile", ca_},
                                              {"checkHost", "localhost"},
                                              {"sni", "localhost"}};
    for (const auto& [k, v] : extra) set[k] = v;
    const fs::path conf = dir_ / "stunnel.conf";
    std::ofstream(conf) << shipped_conf_with(set);
    tunnel_ = std::make_unique<ChildProcess>("/usr/bin/stunnel4", std::vector<std::string>{conf.string()},
                                             std::map<std::string, std::string>{}, "stunnel");
    EXPECT_TRUE(test::eventually([&] { return tunnel_->err().find("Configuration successful") != std::string::npos; },
                                 10s))
        << tunnel_->err();
    return "redis://127.0.0.1:" + std::to_string(port) + "/0";
  }

  // Deliveries added by the real binary through the stack's own tunnel.
  void enqueue(int n) {
    std::ofstream file(dir_ / "deliveries.jsonl");
    for (int i = 0; i < n; ++i) file << test::text_delivery("rtls-" + std::to_string(i), "hello " + std::to_string(i)) << "\n";
    file.close();
    const auto r = test::run_command("REDIS_URL='" + stack_tunnel_ + "' QUEUE_STREAM='" + stream_ + "' " + kBin +
                                     " enqueue --role ingest " + (dir_ / "deliveries.jsonl").string());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("enqueued=" + std::to_string(n)), std::string::npos) << r.out;
  }

  void start_worker(const std::string& redis_url) {
    auto env = test::worker_env_map(db_.options());
    env["REDIS_URL"] = redis_url;
    env["REDIS_TIMEOUT"] = "2";
    env["QUEUE_STREAM"] = stream_;
    env["QUEUE_STREAM_PREFIX"] = stream_ + ":";
    env["QUEUE_BLOCK_MS"] = "200";
    env["CONSUMER_NAME"] = "rtls";
    env["WORKER_CONCURRENCY"] = "1";
    env["DB_POOL_SIZE"] = "2";
    env["SHUTDOWN_TIMEOUT"] = "10";
    metrics_port_ = test::free_port();
    env["METRICS_PORT"] = std::to_string(metrics_port_);
    worker_ = std::make_unique<ChildProcess>(kBin, std::vector<std::string>{"run", "--role", "ingest"}, env, "rtls");
  }

  std::string logs() const {
    return "\nworker:\n" + (worker_ ? worker_->out() + worker_->err() : "") + "\nstunnel:\n" +
           (tunnel_ ? tunnel_->err() : "");
  }

  // A tunnel configured with `bad`: no entry gets to the worker, which stays
  // up and unready; nothing is stored; the entries wait on the server.
  void expect_refused(const std::map<std::string, std::string>& bad) {
    enqueue(20);
    start_worker(start_tunnel(bad));
    ASSERT_TRUE(test::eventually([&] { return tunnel_->err().find("certificate verify failed") != std::string::npos; },
                                 20s))
        << "the tunnel did not refuse the certificate" << logs();
    std::this_thread::sleep_for(3s);
    ASSERT_TRUE(worker_->running()) << "the worker exited" << logs();
    EXPECT_EQ(test::http_get(metrics_port_, "/readyz").status, 503) << logs();
    EXPECT_EQ(test::http_get(metrics_port_, "/healthz").status, 200) << logs();
    EXPECT_EQ(rows(), 0) << logs();
    EXPECT_EQ(xlen(), 20);
    // The worker never reached the server: no consumer ever read from the
    // group (which `enqueue` made).
    EXPECT_EQ(tls_cli("XINFO CONSUMERS " + stream_ + " hm-worker"), "\n") << logs();
    worker_->signal(SIGTERM);
    EXPECT_TRUE(worker_->wait(20s).has_value()) << "no stop after SIGTERM" << logs();
  }

  // One migrated database for the suite, emptied before each test.
  static void SetUpTestSuite() { suite_db_.open(); }
  static void TearDownTestSuite() { suite_db_.close(); }
  static inline test::SuiteDatabase suite_db_{"rtls"};
  test::TestDatabase& db_ = suite_db_.emptied();
  std::string tls_port_, ca_, stack_tunnel_, stream_;
  fs::path dir_;
  int metrics_port_ = 0;
  std::unique_ptr<ChildProcess> tunnel_;
  std::unique_ptr<ChildProcess> worker_;
};

TEST_F(RedisTlsTest, WorkerBehindAVerifyingTunnelStoresEverything) {
  enqueue(50);
  start_worker(start_tunnel({}));
  ASSERT_TRUE(test::eventually([&] { return rows() == 50; }, 60s)) << "rows=" << rows() << logs();
  EXPECT_TRUE(test::eventually([&] { return test::http_get(metrics_port_, "/readyz").status == 200; }, 15s)) << logs();
  // Acknowledged on the TLS server, and the tunnel checked the certificate.
  EXPECT_TRUE(test::eventually([&] { return tls_cli("XPENDING " + stream_ + " hm-worker").rfind("0\n", 0) == 0; }, 15s))
      << tls_cli("XPENDING " + stream_ + " hm-worker");
  EXPECT_NE(tunnel_->err().find("Certificate accepted at depth=0: CN=localhost"), std::string::npos) << logs();
  worker_->signal(SIGTERM);
  EXPECT_EQ(worker_->wait(20s), std::optional<int>(0)) << logs();
}

TEST_F(RedisTlsTest, TunnelWithAnotherCaLetsNothingThrough) {
  // A CA of its own, which did not sign the server's certificate.
  const std::string other = (dir_ / "other-ca.crt").string();
  const auto made = test::run_command("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
                                      (dir_ / "other-ca.key").string() + " -out " + other +
                                      " -days 1 -subj '/CN=another CA'");
  ASSERT_EQ(made.exit_code, 0) << made.err;
  expect_refused({{"CAfile", other}});
}

TEST_F(RedisTlsTest, TunnelExpectingAnotherHostNameLetsNothingThrough) {
  expect_refused({{"checkHost", "redis.example.invalid"}, {"sni", "redis.example.invalid"}});
}

// hiredis 0.14 has no TLS: a rediss:// URL stops the start (exit 2) and says
// where TLS comes from instead; before, only "must start with redis://".
TEST_F(RedisTlsTest, RedissUrlStopsTheStartAndPointsToTheSidecar) {
  const auto r = test::run_command("REDIS_URL='rediss://:hunter2-marker@127.0.0.1:" + tls_port_ + "/0' " + kBin +
                                   " run --role ingest --source redis");
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("REDIS_URL"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("stunnel sidecar"), std::string::npos) << r.err;
  EXPECT_EQ((r.out + r.err).find("hunter2-marker"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace hm
