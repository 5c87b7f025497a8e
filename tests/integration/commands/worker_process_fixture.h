#pragma once
// The fixture of the process-level tests: hm-worker daemons as Kubernetes
// runs them, on a real Redis stream and a real MariaDB (a database of the
// test's own), and the four roles end to end with a loopback Graph API/CDN.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "redis/stream_admin.h"
#include "support/fake_http.h"
#include "support/fakes.h"
#include "support/process.h"
#include "support/test_db.h"

namespace hm {

using namespace std::chrono_literals;  // NOLINT(google-build-using-namespace)
using test::ChildProcess;

inline const std::string kBin = HM_WORKER_BINARY;

class WorkerProcessTest : public ::testing::Test {
 protected:
  // migrate = false: the test database starts empty (a test runs migrate itself).
  explicit WorkerProcessTest(bool migrate = true) : db_("proc", migrate) {}

  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    names_ = {"hm:test:" + std::string(info->name()) + ":" + std::to_string(::getpid()), "hm-worker", ""};
    names_.dead_stream = names_.stream + ":dead";
    redis_ = redis::parse_redis_url(test::stack_redis_url());
    admin_ = std::make_unique<redis::StreamAdmin>(redis_, names_);
  }
  void TearDown() override {
    workers_.clear();
    try {
      admin().connection().command({"DEL", names_.stream, names_.dead_stream});
      for (const char* role : {"ingest", "enrich", "media", "reply"}) {
        const std::string s = prefix() + role;
        admin().connection().command({"DEL", s, s + ":dead"});
      }
    } catch (...) {
    }
  }

  // Where ingest publishes jobs for the other roles in these tests.
  std::string prefix() const { return names_.stream + ":"; }

  // A worker with test-sized timeouts; `extra` overrides.
  ChildProcess& start_worker(const std::string& consumer, std::map<std::string, std::string> extra = {},
                             const std::string& role = "ingest") {
    auto env = test::worker_env_map(db_.options());
    env["QUEUE_STREAM_PREFIX"] = prefix();
    env["QUEUE_STREAM"] = role == "ingest" ? names_.stream : prefix() + role;
    env["CONSUMER_NAME"] = consumer;
    env["DB_POOL_SIZE"] = "3";
    env["DB_MAX_OVERFLOW"] = "1";
    env["WORKER_CONCURRENCY"] = "2";
    env["INGEST_BATCH_SIZE"] = "20";
    env["INGEST_BATCH_LINGER_MS"] = "10";
    env["QUEUE_BLOCK_MS"] = "200";
    env["DB_QUERY_TIMEOUT"] = "5";
    env["DB_LOCK_WAIT_TIMEOUT"] = "2";
    env["DB_RETRY_ATTEMPTS"] = "20";
    env["DB_RETRY_BASE_MS"] = "50";
    env["DB_RETRY_MAX_MS"] = "500";
    env["DB_RETRY_MAX_TOTAL_MS"] = "10000";
    env["QUEUE_VISIBILITY_TIMEOUT"] = "16";
    env["SHUTDOWN_TIMEOUT"] = "15";
    env["METRICS_PORT"] = "0";  // several workers at once: no fixed port
    for (const auto& [k, v] : extra) env[k] = v;
    workers_.push_back(std::make_unique<ChildProcess>(kBin, std::vector<std::string>{"run", "--role", role}, env,
                                                      consumer));
    return *workers_.back();
  }

  redis::StreamAdmin& admin() {
    try {
      admin_->connection().command({"PING"});
    } catch (const redis::RedisError&) {
      admin_ = std::make_unique<redis::StreamAdmin>(redis_, names_);
    }
    return *admin_;
  }

  void enqueue(const std::vector<std::string>& lines) {
    std::vector<std::vector<std::string>> chunk;
    for (const auto& l : lines) {
      chunk.push_back({"XADD", names_.stream, "*", "payload", l, "enqueued_at", "1"});
      if (chunk.size() == 500) {
        admin().connection().pipeline(chunk);
        chunk.clear();
      }
    }
    if (!chunk.empty()) admin().connection().pipeline(chunk);
  }

  // Every entry delivered and acknowledged.
  bool drained() { return admin().lag() == 0 && admin().pending() == 0; }

  void expect_drained(std::chrono::seconds limit = 90s) {
    ASSERT_TRUE(test::eventually([&] { return drained(); }, limit))
        << "lag=" << admin().lag() << " pending=" << admin().pending()
        << (workers_.empty() ? "" : "\nlast worker log:\n" + workers_.back()->out() + workers_.back()->err());
  }

  long long rows() { return db_.scalar("SELECT COUNT(*) FROM message"); }

  // Another session inserts `mid` and keeps its transaction open: the row's
  // unique-key lock is held until the returned session rolls back.
  std::unique_ptr<mysql::Session> hold_row_lock(const std::string& mid) {
    auto holder = db_.connect();
    holder->begin();
    holder->execute(
        "INSERT INTO message (ig_message_id, account_id, sender_id, recipient_id, customer_id, direction, event_time) "
        "VALUES ('" + mid + "', '1', '2', '1', '2', 'inbound', NOW(3))");
    return holder;
  }

  // n unique mids, plus `redeliveries` copies of random ones, shuffled;
  // `sent` gets each mid with its text.
  std::vector<std::string> workload(int n, int redeliveries, std::map<std::string, std::string>* sent = nullptr) {
    std::vector<std::string> lines;
    std::mt19937 rng(42);
    for (int i = 0; i < n; ++i) {
      const std::string mid = "aWdf" + std::to_string(i) + "_" + std::string(i % 2 ? "Ab" : "aB");
      const std::string text = "Merhaba 🙏 " + std::to_string(i) + " مرحبا";
      if (sent) (*sent)[mid] = text;
      lines.push_back(test::text_delivery(mid, text, 1768396566941LL + i));
    }
    for (int k = 0; k < redeliveries; ++k) lines.push_back(lines[rng() % n]);
    std::shuffle(lines.begin(), lines.end(), rng);
    return lines;
  }

  // The stored (mid, text) pairs are exactly the ones sent: none missing,
  // altered or extra.
  void expect_stored_exactly(const std::map<std::string, std::string>& sent) {
    std::map<std::string, std::string> got;
    for (const auto& row : db_.query("SELECT ig_message_id, text FROM message"))
      got[row[0].value_or("")] = row[1].value_or("");
    int missing = 0, altered = 0, extra = 0;
    for (const auto& [mid, text] : sent) {
      const auto it = got.find(mid);
      if (it == got.end()) {
        ++missing;
      } else if (it->second != text) {
        ++altered;
      }
    }
    for (const auto& [mid, text] : got)
      if (!sent.count(mid)) ++extra;
    EXPECT_EQ(missing, 0);
    EXPECT_EQ(altered, 0);
    EXPECT_EQ(extra, 0);
    EXPECT_EQ(got.size(), sent.size());
  }

  // The four roles on one delivery set, with a loopback Graph API/CDN stand-in:
  // messages, contact, conversation, media and one reply stored and sent.
  // `account` is added to every worker's environment (e.g. another DB_USER).
  void four_roles_end_to_end(const std::map<std::string, std::string>& account = {}) {
    const std::string image(200000, '\x42');
    test::FakeHttpServer graph([&](const test::FakeRequest& r) {
      test::FakeResponse resp;
      if (r.method == "POST") {
        resp.body = R"({"recipient_id":"1284930675412097","message_id":"reply-1"})";
      } else if (r.path == "/cdn/photo.jpg") {
        resp.content_type = "image/jpeg";
        resp.body = image;
      } else {
        resp.body = R"({"name":"Ayşe","username":"ayse"})";
      }
      return resp;
    });
    const std::string rules = "/tmp/hm-rules-" + std::to_string(::getpid()) + ".json";
    std::ofstream(rules) << R"({"accounts": {"17841405309211844": {"rules": [{"name": "hours", "keywords": ["saat"], "reply": "09-22 açığız"}]}}})";
    const std::string media = "/tmp/hm-e2e-media-" + std::to_string(::getpid());
    const long long now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count();
    nlohmann::json pic = nlohmann::json::parse(test::text_delivery("e2e-pic", "", now - 2000));
    pic["entry"][0]["messaging"][0]["message"].erase("text");
    pic["entry"][0]["messaging"][0]["message"]["attachments"] = {
        {{"type", "image"}, {"payload", {{"url", graph.base() + "/cdn/photo.jpg?sig=abc"}}}},
        {{"type", "image"}, {"payload", {{"url", "http://169.254.169.254/latest/meta-data/"}}}}};  // refused
    const std::string question = test::text_delivery("e2e-question", "Çalışma saatleriniz?", now - 1000);
    enqueue({question, pic.dump(), question, test::text_delivery("e2e-thanks", "teşekkürler", now)});
    const std::map<std::string, std::string> env = {{"GRAPH_API_BASE", graph.base()},
                                                    {"GRAPH_ACCESS_TOKEN", "e2e-token"},
                                                    {"REPLY_RULES_PATH", rules},
                                                    {"MEDIA_DIR", media},
                                                    // the loopback CDN stand-in: the three relaxations, explicitly
                                                    {"MEDIA_ALLOWED_HOSTS", "127.0.0.1"},
                                                    {"MEDIA_ALLOW_HTTP", "true"},
                                                    {"MEDIA_ALLOW_PRIVATE_ADDRESSES", "true"}};
    std::map<std::string, std::string> worker_env = env;
    for (const auto& [k, v] : account) worker_env[k] = v;
    for (const char* role : {"ingest", "enrich", "media", "reply"})
      start_worker(std::string("e2e-") + role, worker_env, role);
    auto drained_all = [&] {
      for (const char* role : {"enrich", "media", "reply"}) {
        redis::StreamAdmin a(redis_, {prefix() + role, "hm-worker", prefix() + role + ":dead", prefix()});
        if (a.lag() != 0 || a.pending() != 0 || a.length() == 0) return false;
      }
      return drained();
    };
    ASSERT_TRUE(test::eventually(drained_all, 60s)) << workers_.back()->out();
    ASSERT_TRUE(test::eventually([&] { return db_.scalar("SELECT COUNT(*) FROM reply WHERE status = 'sent'") == 1; }, 20s));
    EXPECT_EQ(rows(), 3);
    EXPECT_EQ(db_.query("SELECT name FROM contact").at(0).at(0).value_or(""), "Ayşe");
    EXPECT_EQ(db_.scalar("SELECT inbound_count FROM conversation"), 3);
    const auto m = db_.query("SELECT status, sha256, error FROM media ORDER BY idx");
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m[0][0].value_or(""), "stored");
    EXPECT_EQ(m[1][0].value_or(""), "failed");  // the metadata address: not on MEDIA_ALLOWED_HOSTS
    EXPECT_NE(m[1][2].value_or("").find("host 169.254.169.254 is not allowed"), std::string::npos) << m[1][2].value_or("");
    const std::string sha = m[0][1].value_or("");
    EXPECT_TRUE(std::filesystem::exists(media + "/" + sha.substr(0, 2) + "/" + sha));
    EXPECT_EQ(graph.count("POST", "/me/messages"), 1);  // the question came twice: one reply
    EXPECT_EQ(db_.scalar("SELECT COUNT(*) FROM reply"), 1);
    for (auto& w : workers_) {
      w->signal(SIGTERM);
      EXPECT_EQ(w->wait(20s), 0) << w->out();
    }
    std::filesystem::remove_all(media);
    std::remove(rules.c_str());
  }
  test::TestDatabase db_;
  redis::StreamNames names_;
  redis::RedisOptions redis_;
  std::unique_ptr<redis::StreamAdmin> admin_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
};

}  // namespace hm
