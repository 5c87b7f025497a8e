// Issue 13, media SSRF: attachment URLs come from outside, so the media role
// must not fetch loopback, private or metadata addresses, hosts off the
// allow-list, plain http, or follow a redirect to any of them. Each case runs
// the real MediaService and libcurl client against a loopback CDN stand-in and
// the real MariaDB: the row is `failed` with a reason naming the host and the
// rule, the job is done (no retry, no dead letter), and the stand-in saw no
// request. On today's code every one of these is fetched and stored. The
// https cases use a TLS stand-in (cpp-httplib) with a certificate made by openssl.
#include <gtest/gtest.h>

#include <httplib.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "http/curl_client.h"
#include "mysql/message_store.h"
#include "mysql/role_store.h"
#include "roles/media.h"
#include "support/fake_http.h"
#include "support/fakes.h"
#include "support/test_db.h"

namespace hm {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

test::FakeResponse image(const test::FakeRequest&) {
  test::FakeResponse r;
  r.content_type = "image/jpeg";
  r.body = "\xff\xd8 not really a jpeg";
  return r;
}

// A client whose DNS answers are `entries` ("host:port:address").
CurlClientOptions resolving(std::vector<std::string> entries) {
  CurlClientOptions o;
  o.resolve = std::move(entries);
  return o;
}

class MediaDestinationTest : public ::testing::Test {
 protected:
  MediaDestinationTest()
      : pool_(PoolOptions{}, [this] { return mysql::Session::connect(test::driver(), db_.options()); }, clock_),
        messages_(pool_),
        roles_(pool_),
        cdn_(image) {
    dir_ = "/tmp/hm-media-dest-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir_);
  }
  ~MediaDestinationTest() override { std::filesystem::remove_all(dir_); }

  // The options of a test: strict defaults unless the test relaxes them.
  MediaOptions options() const {
    MediaOptions o;
    o.dir = dir_;
    o.timeout = 3s;
    o.connect_timeout = 2s;
    o.retry.max_attempts = 3;
    o.retry.base_delay = 1ms;
    o.retry.max_delay = 2ms;
    return o;
  }
  // Stores message `mid` with one attachment per URL.
  void message(const std::string& mid, const std::vector<std::string>& urls) {
    json a = json::array();
    for (const auto& u : urls) a.push_back({{"type", "image"}, {"payload", {{"url", u}}}});
    NewMessage m;
    m.mid = mid;
    m.account_id = "17841405309211844";
    m.sender_id = "1284930675412097";
    m.recipient_id = m.account_id;
    m.direction = Direction::kInbound;
    m.attachments_json = a.dump();
    m.timestamp_ms = clock_.wall_ms();
    ASSERT_TRUE(messages_.store(m).ok());
  }
  // Runs the media job of `mid` with `o` and `http`; expects it done.
  void run(const std::string& mid, const MediaOptions& o, HttpClient& http) {
    MediaService media(roles_, http, o, clock_, nullptr);
    const auto out = media.handle({json{{"mid", mid}}.dump()});
    ASSERT_EQ(out.at(0).verdict, Verdict::kDone) << out.at(0).reason;
  }
  // (status, error) of each media row, by idx.
  std::vector<std::pair<std::string, std::string>> rows() {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& r : db_.query("SELECT status, error FROM media ORDER BY idx"))
      out.emplace_back(r[0].value_or(""), r[1].value_or(""));
    return out;
  }
  std::string port() const { return std::to_string(cdn_.port()); }
  static bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

  // One migrated database for the suite, emptied before each test.
  static void SetUpTestSuite() { suite_db_.open(); }
  static void TearDownTestSuite() { suite_db_.close(); }
  static inline test::SuiteDatabase suite_db_{"mediadest"};
  test::TestDatabase& db_ = suite_db_.emptied();
  SystemClock clock_;
  mysql::SessionPool pool_;
  mysql::MysqlMessageStore messages_;
  mysql::MysqlRoleStore roles_;
  test::FakeHttpServer cdn_;
  CurlHttpClient http_;
  std::string dir_;
};

// The four URLs with the defaults: https only, the Meta CDN domains.
TEST_F(MediaDestinationTest, TheFourLoopbackUrlsAreRefusedByDefault) {
  message("d1", {"http://127.0.0.1:" + port() + "/a.jpg", "http://localhost:" + port() + "/b.jpg",
                 "http://2130706433:" + port() + "/c.jpg", "https://127.0.0.1:" + port() + "/d.jpg",
                 "https://2130706433:" + port() + "/e.jpg", "file:///etc/passwd", "gopher://lookaside.fbsbx.com/x"});
  run("d1", options(), http_);
  const auto r = rows();
  ASSERT_EQ(r.size(), 7u);
  for (const auto& [status, error] : r) EXPECT_EQ(status, "failed") << error;
  EXPECT_TRUE(has(r[0].second, "scheme http is not https (host 127.0.0.1)")) << r[0].second;
  EXPECT_TRUE(has(r[0].second, "MEDIA_ALLOW_HTTP")) << r[0].second;
  EXPECT_TRUE(has(r[1].second, "(host localhost)")) << r[1].second;
  EXPECT_TRUE(has(r[3].second, "host 127.0.0.1 is not allowed")) << r[3].second;
  EXPECT_TRUE(has(r[3].second, "MEDIA_ALLOWED_HOSTS")) << r[3].second;
  EXPECT_TRUE(has(r[4].second, "host 127.0.0.1 is not allowed")) << r[4].second;  // decimal form, parsed
  EXPECT_TRUE(has(r[5].second, "scheme file")) << r[5].second;
  EXPECT_TRUE(has(r[6].second, "scheme gopher")) << r[6].second;
  EXPECT_TRUE(cdn_.requests().empty());
}

// http allowed and the name or address listed: only the address rule is left.
TEST_F(MediaDestinationTest, ListedLoopbackHostsAreRefusedByTheAddressRule) {
  MediaOptions o = options();
  o.allow_http = true;
  o.allowed_hosts = {"127.0.0.1", "localhost", "::ffff:127.0.0.1"};
  message("a1", {"http://127.0.0.1:" + port() + "/a.jpg", "http://localhost:" + port() + "/b.jpg",
                 "http://2130706433:" + port() + "/c.jpg", "http://[::ffff:127.0.0.1]:" + port() + "/d.jpg"});
  run("a1", o, http_);
  const auto r = rows();
  ASSERT_EQ(r.size(), 4u);
  for (const auto& [status, error] : r) {
    EXPECT_EQ(status, "failed") << error;
    EXPECT_TRUE(has(error, "MEDIA_ALLOW_PRIVATE_ADDRESSES")) << error;
  }
  EXPECT_TRUE(has(r[0].second, "host 127.0.0.1 is a loopback address")) << r[0].second;
  EXPECT_TRUE(has(r[1].second, "host localhost resolved to")) << r[1].second;  // refused at connect
  EXPECT_TRUE(has(r[1].second, "(loopback)")) << r[1].second;
  EXPECT_TRUE(has(r[2].second, "loopback")) << r[2].second;
  EXPECT_TRUE(has(r[3].second, "::ffff:127.0.0.1")) << r[3].second;
  EXPECT_TRUE(cdn_.requests().empty());
}

// An allowed CDN name that DNS points at 127.0.0.1: the host passes the
// allow-list, http is allowed, so only the check of the connected address
// stands between the download and loopback.
TEST_F(MediaDestinationTest, AnAllowedNameResolvingToLoopbackIsRefusedAtConnect) {
  CurlHttpClient http(resolving({"scontent.xx.fbcdn.net:" + port() + ":127.0.0.1"}));
  MediaOptions o = options();
  o.allow_http = true;
  message("n1", {"http://scontent.xx.fbcdn.net:" + port() + "/a.jpg"});
  run("n1", o, http);
  const auto r = rows();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].first, "failed");
  EXPECT_EQ(r[0].second,
            "refused: host scontent.xx.fbcdn.net resolved to 127.0.0.1 (loopback) (MEDIA_ALLOW_PRIVATE_ADDRESSES)");
  EXPECT_TRUE(cdn_.requests().empty());

  // The control: with private addresses allowed the same URL is stored.
  o.allow_private_addresses = true;
  message("n2", {"http://scontent.xx.fbcdn.net:" + port() + "/a.jpg"});
  run("n2", o, http);
  EXPECT_EQ(db_.scalar("SELECT COUNT(*) FROM media WHERE status = 'stored'"), 1);
  EXPECT_EQ(cdn_.requests().size(), 1u);
}

// Every redirect hop is checked like the first: an allowed CDN that redirects
// to a host off the list (a cluster service, the metadata address, the decimal
// form of loopback) is refused, and the target sees nothing.
TEST_F(MediaDestinationTest, RedirectsToDisallowedHostsAreRefused) {
  test::FakeHttpServer internal(image);
  const std::string in = std::to_string(internal.port());
  test::FakeHttpServer cdn([&](const test::FakeRequest& req) {
    test::FakeResponse r;
    r.status = 302;
    if (req.path == "/to-service") r.headers = {"Location: http://redis.default.svc.cluster.local:" + in + "/x"};
    if (req.path == "/to-metadata") r.headers = {"Location: http://169.254.169.254/latest/meta-data/"};
    if (req.path == "/to-decimal") r.headers = {"Location: http://2130706433:" + in + "/x"};
    if (req.path == "/to-ok") r.headers = {"Location: /ok.jpg"};
    if (req.path == "/ok.jpg") return image(req);
    return r;
  });
  const std::string cp = std::to_string(cdn.port());
  CurlHttpClient http(
      resolving({"cdn.fbcdn.net:" + cp + ":127.0.0.1", "redis.default.svc.cluster.local:" + in + ":127.0.0.1"}));
  MediaOptions o = options();
  o.allow_http = true;
  o.allow_private_addresses = true;  // the stand-ins are on loopback: the host rule must refuse
  const std::string base = "http://cdn.fbcdn.net:" + cp;
  message("r1", {base + "/to-service", base + "/to-metadata", base + "/to-decimal", base + "/to-ok"});
  run("r1", o, http);
  const auto r = rows();
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].first, "failed");
  EXPECT_TRUE(has(r[0].second, "host redis.default.svc.cluster.local is not allowed")) << r[0].second;
  EXPECT_EQ(r[1].first, "failed");
  EXPECT_TRUE(has(r[1].second, "host 169.254.169.254 is not allowed")) << r[1].second;
  EXPECT_EQ(r[2].first, "failed");
  EXPECT_TRUE(has(r[2].second, "host 127.0.0.1 is not allowed")) << r[2].second;
  EXPECT_EQ(r[3].first, "stored") << r[3].second;  // a redirect within the allowed hosts is followed
  EXPECT_TRUE(internal.requests().empty());
  EXPECT_EQ(cdn.requests().size(), 5u);  // each first hop once (no retry), and /ok.jpg
}

// A TLS CDN stand-in for cdn.fbcdn.net (a certificate of its own, trusted
// through the client's test-only CA option) that redirects to plain http.
class TlsCdn {
 public:
  TlsCdn(const std::string& dir, const std::string& http_target) {
    std::filesystem::create_directories(dir);
    cert_ = dir + "/cdn.pem";
    const std::string key = dir + "/cdn.key";
    const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + key + " -out " + cert_ +
                            " -days 1 -subj /CN=cdn.fbcdn.net -addext subjectAltName=DNS:cdn.fbcdn.net >/dev/null 2>&1";
    ok_ = std::system(cmd.c_str()) == 0;
    server_ = std::make_unique<httplib::SSLServer>(cert_.c_str(), key.c_str());
    server_->Get("/a.jpg", [](const httplib::Request&, httplib::Response& res) { res.set_content("tls bytes", "image/jpeg"); });
    server_->Get("/moved.jpg", [http_target](const httplib::Request&, httplib::Response& res) {
      res.status = 302;
      res.set_header("Location", http_target);
    });
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
  }
  ~TlsCdn() {
    server_->stop();
    thread_.join();
  }
  bool ok() const { return ok_ && server_->is_valid() && port_ > 0; }
  int port() const { return port_; }
  const std::string& cert() const { return cert_; }

 private:
  bool ok_ = false;
  std::string cert_;
  std::unique_ptr<httplib::SSLServer> server_;
  int port_ = 0;
  std::thread thread_;
};

// https -> http is a downgrade: refused unless MEDIA_ALLOW_HTTP, and the http
// target sees nothing.
TEST_F(MediaDestinationTest, AnHttpsToHttpRedirectIsRefusedAsADowngrade) {
  TlsCdn tls(dir_ + "-tls", "http://cdn.fbcdn.net:" + port() + "/a.jpg");
  ASSERT_TRUE(tls.ok());
  const std::string tp = std::to_string(tls.port());
  CurlClientOptions client = resolving({"cdn.fbcdn.net:" + tp + ":127.0.0.1", "cdn.fbcdn.net:" + port() + ":127.0.0.1"});
  client.ca_file = tls.cert();
  CurlHttpClient http(client);
  MediaOptions o = options();
  o.allow_private_addresses = true;  // the stand-ins are on loopback; https only (the default)
  message("g1", {"https://cdn.fbcdn.net:" + tp + "/a.jpg", "https://cdn.fbcdn.net:" + tp + "/moved.jpg"});
  run("g1", o, http);
  auto r = rows();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].first, "stored") << r[0].second;  // the control: https to the allowed name works
  EXPECT_EQ(r[1].first, "failed");
  EXPECT_EQ(r[1].second, "refused: a redirect from https to http (host cdn.fbcdn.net) (MEDIA_ALLOW_HTTP)");
  EXPECT_TRUE(cdn_.requests().empty());

  o.allow_http = true;  // relaxed: the same redirect is followed
  message("g2", {"https://cdn.fbcdn.net:" + tp + "/moved.jpg"});
  run("g2", o, http);
  EXPECT_EQ(db_.scalar("SELECT COUNT(*) FROM media WHERE status = 'stored'"), 2);
  EXPECT_EQ(cdn_.requests().size(), 1u);
  std::filesystem::remove_all(dir_ + "-tls");
}

// Proxies from the environment are not used: a proxy would connect for us and
// the address check would see only the proxy.
TEST_F(MediaDestinationTest, EnvironmentProxiesAreNotUsed) {
  test::FakeHttpServer proxy(image);
  ::setenv("http_proxy", proxy.base().c_str(), 1);
  ::setenv("HTTPS_PROXY", proxy.base().c_str(), 1);
  ::setenv("ALL_PROXY", proxy.base().c_str(), 1);
  CurlHttpClient http(resolving({"scontent.xx.fbcdn.net:" + port() + ":127.0.0.1"}));
  MediaOptions o = options();
  o.allow_http = true;
  o.allow_private_addresses = true;
  message("p1", {"http://scontent.xx.fbcdn.net:" + port() + "/a.jpg"});
  run("p1", o, http);
  ::unsetenv("http_proxy");
  ::unsetenv("HTTPS_PROXY");
  ::unsetenv("ALL_PROXY");
  EXPECT_EQ(rows().at(0).first, "stored");
  EXPECT_TRUE(proxy.requests().empty());
  EXPECT_EQ(cdn_.requests().size(), 1u);
}

}  // namespace
}  // namespace hm
