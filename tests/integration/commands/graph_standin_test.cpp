// The reply and enrich roles as Kubernetes runs them (the real hm-worker
// binary: ingest, reply and enrich daemons on the stack's MariaDB and Redis)
// against a loopback Graph API that behaves like Meta's: "Instagram API with
// Facebook Login" refuses POST /{IG-ID}/messages with (#3) and accepts
// /me/messages; every request's token must be the one of the account the
// recipient belongs to (190 otherwise); answers are scripted per customer with
// Meta's error shapes (message, type, code, error_subcode, fbtrace_id).
#include <atomic>
#include <deque>
#include <mutex>
#include <regex>

#include "integration/commands/worker_process_fixture.h"

namespace hm {
namespace {

using json = nlohmann::json;

const std::string kOk = "17841400000000001";       // account A: a good token
const std::string kRevoked = "17841400000000002";  // account B: its token in the file is wrong, then fixed
const std::string kLimited = "17841400000000003";  // account C: rate limits, then fine
const std::string kNoToken = "17841400000000004";  // account N: not in the tokens file

// Graph's error object, as Meta documents it.
test::FakeResponse graph_error(int status, int code, int subcode, const std::string& message, bool transient = false) {
  static std::atomic<int> trace{0};
  json e = {{"message", message}, {"type", "OAuthException"}, {"code", code},
            {"fbtrace_id", "AxTrace" + std::to_string(++trace)}};
  if (subcode) e["error_subcode"] = subcode;
  if (transient) e["is_transient"] = true;
  test::FakeResponse r;
  r.status = status;
  r.body = json{{"error", e}}.dump();
  return r;
}

// graph.facebook.com for "Instagram API with Facebook Login". Thread-safe.
class GraphStandIn {
 public:
  struct Customer {
    std::string account;
    std::deque<test::FakeResponse> script;  // answered before the first success
  };
  GraphStandIn(std::map<std::string, std::string> tokens, std::map<std::string, Customer> customers)
      : tokens_(std::move(tokens)), customers_(std::move(customers)),
        server_([this](const test::FakeRequest& r) { return answer(r); }) {}
  std::string base() const { return server_.base() + "/v21.0"; }
  // POSTs that reached the script or a success for this customer (a token refused is not one).
  int sends(const std::string& customer) { return count(sends_, customer); }
  int delivered(const std::string& customer) { return count(delivered_, customer); }
  int refused_tokens(const std::string& account) { return count(refused_tokens_, account); }
  int profile_reads(const std::string& customer) { return count(profiles_, customer); }
  int ig_id_posts() { return count(sends_, "/{IG-ID}/messages"); }

 private:
  int count(const std::map<std::string, int>& m, const std::string& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = m.find(key);
    return it == m.end() ? 0 : it->second;
  }
  static std::string token_of(const test::FakeRequest& r) {
    const auto h = r.headers.find("authorization");
    if (h != r.headers.end() && h->second.rfind("Bearer ", 0) == 0) return h->second.substr(7);
    std::smatch m;
    if (std::regex_search(r.query, m, std::regex("(^|&)access_token=([^&]*)"))) return m[2];
    return "";
  }
  test::FakeResponse answer(const test::FakeRequest& r) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string customer;
    if (r.method == "POST") {
      if (std::regex_match(r.path, std::regex("/v21\\.0/[0-9]+/messages"))) {
        ++sends_["/{IG-ID}/messages"];
        return graph_error(400, 3, 0, "(#3) Application does not have the capability to make this API call.");
      }
      if (r.path != "/v21.0/me/messages") return graph_error(400, 2500, 0, "Unknown path components: " + r.path);
      const json body = json::parse(r.body, nullptr, false);
      if (body.is_object() && body.contains("recipient")) customer = body["recipient"].value("id", "");
    } else {
      customer = r.path.substr(std::string("/v21.0/").size());
    }
    const auto c = customers_.find(customer);
    if (c == customers_.end()) return graph_error(400, 100, 2018001, "No matching user found");
    if (token_of(r) != tokens_.at(c->second.account)) {
      ++refused_tokens_[c->second.account];
      return graph_error(400, 190, 0, "Invalid OAuth access token - Cannot parse access token");
    }
    if (r.method == "GET") {
      ++profiles_[customer];
      test::FakeResponse ok;
      ok.body = json{{"name", "Müşteri " + customer.substr(customer.size() - 2)}, {"username", "m" + customer},
                     {"profile_pic", "https://scontent.cdninstagram.com/p.jpg"}, {"follower_count", 12},
                     {"is_verified_user", false}, {"is_user_follow_business", true},
                     {"is_business_follow_user", false}, {"id", customer}}
                    .dump();
      return ok;
    }
    ++sends_[customer];
    if (!c->second.script.empty()) {
      test::FakeResponse scripted = c->second.script.front();
      c->second.script.pop_front();
      return scripted;
    }
    ++delivered_[customer];
    test::FakeResponse ok;
    ok.body = json{{"recipient_id", customer}, {"message_id", "aWdfZAG1" + customer}}.dump();
    return ok;
  }

  std::mutex mutex_;
  const std::map<std::string, std::string> tokens_;  // account -> the token Meta accepts
  std::map<std::string, Customer> customers_;        // guarded by mutex_
  std::map<std::string, int> sends_, delivered_, refused_tokens_, profiles_;  // guarded by mutex_
  test::FakeHttpServer server_;  // last: it calls answer() until destroyed
};

class GraphStandInTest : public WorkerProcessTest {
 protected:
  void SetUp() override {
    WorkerProcessTest::SetUp();
    const std::string tag = std::to_string(::getpid());
    tokens_path_ = "/tmp/hm-standin-tokens-" + tag + ".json";
    rules_path_ = "/tmp/hm-standin-rules-" + tag + ".json";
    json rules = {{"accounts", json::object()}};
    for (const auto& a : {kOk, kRevoked, kLimited, kNoToken})
      rules["accounts"][a] = {{"rules", {{{"name", "hours"}, {"keywords", {"saat"}}, {"reply", "09-22 açığız"}}}}};
    std::ofstream(rules_path_) << rules.dump();
  }
  void TearDown() override {
    WorkerProcessTest::TearDown();
    std::remove(tokens_path_.c_str());
    std::remove(rules_path_.c_str());
  }
  // As Kubernetes updates a mounted Secret: a new file renamed over the old.
  void write_tokens(const std::string& revoked_token) {
    const json t = {{kOk, "token-a"}, {kRevoked, revoked_token}, {kLimited, "token-c"}};
    std::ofstream(tokens_path_ + ".new") << t.dump();
    std::rename((tokens_path_ + ".new").c_str(), tokens_path_.c_str());
  }
  static std::string delivery(const std::string& account, const std::string& customer, const std::string& mid) {
    const long long now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count();
    return json{{"object", "instagram"},
                {"entry",
                 {{{"time", now},
                   {"id", account},
                   {"messaging",
                    {{{"sender", {{"id", customer}}},
                      {"recipient", {{"id", account}}},
                      {"timestamp", now},
                      {"message", {{"mid", mid}, {"text", "Çalışma saatleri?"}}}}}}}}}}
        .dump();
  }
  ChildProcess& start(const std::string& role, int port, std::map<std::string, std::string> extra = {}) {
    std::map<std::string, std::string> env = {{"GRAPH_API_BASE", graph_base_},
                                              {"GRAPH_ACCESS_TOKENS_FILE", tokens_path_},
                                              {"REPLY_RULES_PATH", rules_path_},
                                              {"GRAPH_RATE_LIMIT_PAUSE", "1"},
                                              {"GRAPH_AUTH_PAUSE", "3600"},  // only a token change lets B out
                                              {"REPLY_HOUSEKEEPING_INTERVAL", "1"},
                                              {"METRICS_PORT", std::to_string(port)},
                                              {"METRICS_BIND", "127.0.0.1"}};
    for (auto& [k, v] : extra) env[k] = v;
    return start_worker("standin-" + role, env, role);
  }
  std::string reply_status(const std::string& customer) {
    const auto rows = db_.query("SELECT status FROM reply WHERE customer_id = '" + customer + "'");
    return rows.size() == 1 ? rows[0][0].value_or("") : std::to_string(rows.size()) + " rows";
  }
  // The value of hm_worker_graph_account_blocked for the account, or -1.
  static int blocked_gauge(int port, const std::string& account, const std::string& role) {
    const std::string body = test::http_get(port, "/metrics").body;
    const std::string series = "hm_worker_graph_account_blocked{account=\"" + account + "\",reason=\"auth\",role=\"" +
                               role + "\"} ";
    const auto at = body.find(series);
    return at == std::string::npos ? -1 : std::stoi(body.substr(at + series.size()));
  }
  static long long occurrences(const std::string& text, const std::string& what) {
    long long n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  }

  std::string tokens_path_, rules_path_, graph_base_;
};

// One run, every answer: A's replies sent, or unknown (code 1 with HTTP 500,
// a gateway's 502: sent once, never again) or failed (10/2534022) as Graph
// answered; C's rate limits (4, 613, 80002, 1200, 341) deferred and then sent
// exactly once; B's refused token holds B's replies and profile fetches
// (pending, never dead-lettered, no retry storm) while /readyz (still 200)
// and the gauge name B, until the tokens file is fixed; N without a token:
// its reply failed, named on /readyz.
TEST_F(GraphStandInTest, RepliesAndProfilesEndAsTheGraphApiAnswers) {
  std::map<std::string, GraphStandIn::Customer> customers = {
      {"910000000000001", {kOk, {}}},
      {"910000000000002", {kOk, {graph_error(500, 1, 0, "An unknown error occurred", true)}}},
      {"910000000000003", {kOk, {[] { test::FakeResponse r; r.status = 502; r.content_type = "text/html";
                                       r.body = "<html><body>502 Bad Gateway</body></html>"; return r; }()}}},
      {"910000000000004", {kOk, {graph_error(400, 10, 2534022, "(#10) This message is sent outside of allowed window.")}}},
      {"920000000000001", {kRevoked, {}}},
      {"920000000000002", {kRevoked, {}}},
      {"930000000000001", {kLimited, {graph_error(403, 4, 0, "(#4) Application request limit reached", true),
                                      graph_error(400, 613, 0, "(#613) Calls to this api have exceeded the rate limit."),
                                      graph_error(400, 80002, 2207051, "There have been too many calls to this Instagram account. Wait a bit and try again.", true)}}},
      {"930000000000002", {kLimited, {graph_error(400, 1200, 0, "Temporary send message failure. Please try again later", true)}}},
      {"930000000000003", {kLimited, {graph_error(400, 341, 0, "(#341) Application limit reached", true)}}},
      {"940000000000001", {kNoToken, {}}}};
  GraphStandIn graph({{kOk, "token-a"}, {kRevoked, "token-b"}, {kLimited, "token-c"}, {kNoToken, "token-n"}}, customers);
  graph_base_ = graph.base();
  write_tokens("token-b-before-rotation");
  const int reply_port = test::free_port(), enrich_port = test::free_port();
  start("ingest", 0);
  auto& reply = start("reply", reply_port);
  // Short visibility timeout and a dead-letter limit of 2: a wait that
  // counted as a delivery would dead-letter B's profile job within the test.
  auto& enrich = start("enrich", enrich_port,
                       {{"QUEUE_VISIBILITY_TIMEOUT", "4"}, {"QUEUE_MAX_DELIVERIES", "2"}, {"DB_QUERY_TIMEOUT", "2"},
                        {"DB_LOCK_WAIT_TIMEOUT", "1"}, {"DB_RETRY_MAX_TOTAL_MS", "1000"}});
  std::vector<std::string> lines;
  for (const auto& [customer, c] : customers) lines.push_back(delivery(c.account, customer, "mid-" + customer));
  enqueue(lines);

  // Everything but B settles.
  const std::map<std::string, std::string> expected = {
      {"910000000000001", "sent"},   {"910000000000002", "unknown"}, {"910000000000003", "unknown"},
      {"910000000000004", "failed"}, {"930000000000001", "sent"},    {"930000000000002", "sent"},
      {"930000000000003", "sent"},   {"940000000000001", "failed"}};
  const auto settled = [&] {
    for (const auto& [customer, status] : expected)
      if (reply_status(customer) != status) return false;
    return true;
  };
  ASSERT_TRUE(test::eventually(settled, 40s)) << reply.out() << reply.err();
  // B: held, its replies reserved, named on /readyz (still ready) and by the gauge.
  for (const char* b : {"920000000000001", "920000000000002"}) EXPECT_EQ(reply_status(b), "reserved");
  const auto ready = test::http_get(reply_port, "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_NE(ready.body.find("graph: account " + kRevoked + " blocked: token or permission refused (HTTP 400, Graph error 190)"),
            std::string::npos)
      << ready.body;
  EXPECT_NE(ready.body.find("graph: account " + kNoToken + " has no token"), std::string::npos) << ready.body;
  EXPECT_EQ(ready.body.find("token-b"), std::string::npos) << ready.body;
  EXPECT_EQ(blocked_gauge(reply_port, kRevoked, "reply"), 1);
  // Enrich: B's profile job waits, delivered again and again, never counted.
  // Two jobs wait; six waits mean one of them came at least three times,
  // which QUEUE_MAX_DELIVERIES=2 would have dead-lettered had they counted.
  ASSERT_TRUE(test::eventually([&] { return occurrences(enrich.out() + enrich.err(), "not counted as a delivery") >= 6; }, 40s))
      << enrich.out() << enrich.err();
  const auto enrich_ready = test::http_get(enrich_port, "/readyz");
  EXPECT_EQ(enrich_ready.status, 200);
  EXPECT_NE(enrich_ready.body.find("graph: account " + kRevoked + " blocked"), std::string::npos) << enrich_ready.body;
  EXPECT_EQ(db_.scalar("SELECT COUNT(*) FROM contact WHERE account_id = '" + kRevoked + "' AND profile_fetched_at IS NOT NULL"), 0);
  // No retry storm: B's token was refused once per worker thread at most
  // (two threads of each role may race the first answer), then held back.
  EXPECT_LE(graph.refused_tokens(kRevoked), 4);
  const int refused = graph.refused_tokens(kRevoked);

  // The operator fixes B's token: the waiting replies and profile go out.
  write_tokens("token-b");
  ASSERT_TRUE(test::eventually([&] { return reply_status("920000000000001") == "sent" && reply_status("920000000000002") == "sent"; }, 30s))
      << reply.out() << reply.err();
  ASSERT_TRUE(test::eventually([&] {
    return db_.scalar("SELECT COUNT(*) FROM contact WHERE profile_fetched_at IS NOT NULL AND name IS NOT NULL") == 9;
  }, 30s)) << enrich.out() << enrich.err();
  ASSERT_TRUE(test::eventually([&] { return blocked_gauge(reply_port, kRevoked, "reply") == 0; }, 10s));
  EXPECT_EQ(test::http_get(reply_port, "/readyz").body.find("account " + kRevoked), std::string::npos);
  EXPECT_EQ(graph.refused_tokens(kRevoked), refused);

  // Every reply went to /me/messages, once where it may have been delivered.
  EXPECT_EQ(graph.ig_id_posts(), 0);
  for (const auto& [customer, c] : customers) {
    if (c.account == kNoToken) continue;
    EXPECT_EQ(graph.delivered(customer), reply_status(customer) == "sent" ? 1 : 0) << customer;
  }
  EXPECT_EQ(graph.sends("910000000000002"), 1);  // code 1: unknown, never again
  EXPECT_EQ(graph.sends("910000000000003"), 1);  // 502: unknown, never again
  EXPECT_EQ(graph.sends("910000000000004"), 1);  // outside the window: failed
  EXPECT_EQ(graph.sends("930000000000001"), 4);  // three rate limits, then sent
  EXPECT_EQ(graph.sends("940000000000001"), 0);
  for (const auto& [customer, c] : customers) EXPECT_LE(graph.profile_reads(customer), 1) << customer;
  EXPECT_EQ(db_.scalar("SELECT COUNT(*) FROM reply"), static_cast<long long>(customers.size()));
  redis::StreamAdmin enrich_queue(redis_, {prefix() + "enrich", "hm-worker", prefix() + "enrich:dead", prefix()});
  EXPECT_EQ(enrich_queue.dead_length(), 0);
  ASSERT_TRUE(test::eventually([&] { return enrich_queue.pending() == 0 && enrich_queue.lag() == 0; }, 20s));
  for (auto& w : workers_) {
    w->signal(SIGTERM);
    EXPECT_EQ(w->wait(20s), 0) << w->out();
  }
}

}  // namespace
}  // namespace hm
