// hm-demo-graph: a stand-in for the Graph API and the Instagram CDN on
// loopback, for the demo (scripts/demo) on a machine without network access.
//   hm-demo-graph PORT   then GET /<igsid> (profile), POST /me/messages
//                        (send), GET /ig_messaging_cdn/... (a small image).
// Like graph.facebook.com with a Page token, it refuses POST /<IG-ID>/messages
// with error (#3).
// Runs until SIGTERM or SIGINT; logs one line per request to stdout.
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include "support/fake_http.h"

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: hm-demo-graph PORTFILE\n");
    return 2;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  int sends = 0;
  hm::test::FakeHttpServer server([&](const hm::test::FakeRequest& r) {
    hm::test::FakeResponse resp;
    const bool me = r.path.size() >= 12 && r.path.compare(r.path.size() - 12, 12, "/me/messages") == 0;
    if (r.method == "POST" && !me) {
      resp.status = 400;
      resp.body = R"({"error":{"message":"(#3) Application does not have the capability to make this API call.",)"
                  R"("type":"OAuthException","code":3,"fbtrace_id":"DemoTrace"}})";
    } else if (r.method == "POST") {
      resp.body = "{\"recipient_id\":\"demo\",\"message_id\":\"demo-reply-" + std::to_string(++sends) + "\"}";
    } else if (r.path.rfind("/ig_messaging_cdn", 0) == 0) {
      resp.content_type = "image/jpeg";
      resp.body = std::string("\xff\xd8\xff\xe0", 4) + "demo image for " + r.query.substr(0, 40);
    } else {
      const std::string id = r.path.substr(1);
      resp.body = "{\"name\":\"Demo Customer " + id.substr(id.size() > 4 ? id.size() - 4 : 0) +
                  "\",\"username\":\"demo_" + id + "\",\"follower_count\":42,\"is_verified_user\":false}";
    }
    std::printf("%s %s -> %d\n", r.method.c_str(), r.path.c_str(), resp.status);
    std::fflush(stdout);
    return resp;
  });
  if (FILE* f = std::fopen(argv[1], "w")) {
    std::fprintf(f, "%d\n", server.port());
    std::fclose(f);
  }
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return 0;
}
