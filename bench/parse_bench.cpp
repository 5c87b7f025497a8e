// hm-parse-bench: the cost of parse_delivery per payload, nanoseconds and
// heap allocations (operator new calls, counted here), for every shape in
// tests/fixtures/payloads and the two shapes hm-bench sends (a text message,
// an image attachment). Single thread, no servers.
//   build/hm-parse-bench [FIXTURES_DIR] [SECONDS_PER_SHAPE]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "ingest/payload.h"

namespace {
std::atomic<long long> g_allocs{0};
}  // namespace

void* operator new(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

// The shape of hm-bench's delivery() (bench/hm_bench.cpp): i % 10 == 3 an image, else a text.
std::string bench_delivery(bool image) {
  const std::string mid = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1MzA5MjExODQ0OjM0MDI4MjM2Njg0MTcx";
  const std::string message =
      image ? R"({"attachments":[{"payload":{"url":"https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=18000000000000003&signature=Ab)" +
                  mid + R"("},"type":"image"}],"mid":")" + mid + "\"}"
            : R"({"mid":")" + mid + R"(","text":"Merhaba! Yarın akşam 19:30 için 2 kişilik masa ayırtabilir miyim? 🙏"})";
  return R"({"entry":[{"id":"17841405309211844","messaging":[{"message":)" + message +
         R"(,"recipient":{"id":"17841405309211844"},"sender":{"id":"1284930675412101"},"timestamp":1768396566941}],"time":1768396567241}],"object":"instagram"})";
}

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Figure {
  double ns = 0;
  double allocs = 0;
};

Figure measure(const std::string& payload, double seconds) {
  for (int i = 0; i < 1000; ++i) (void)hm::parse_delivery(payload);  // warm up (thread_local buffers, caches)
  using clock = std::chrono::steady_clock;
  long long n = 0;
  const long long a0 = g_allocs.load();
  const auto t0 = clock::now();
  auto t = t0;
  while (t - t0 < std::chrono::duration<double>(seconds)) {
    for (int i = 0; i < 200; ++i) {
      const hm::ParseResult r = hm::parse_delivery(payload);
      if (!r.ok) {
        std::fprintf(stderr, "not ok: %s\n", r.error.c_str());
        std::exit(1);
      }
    }
    n += 200;
    t = clock::now();
  }
  return {std::chrono::duration<double, std::nano>(t - t0).count() / static_cast<double>(n),
          static_cast<double>(g_allocs.load() - a0) / static_cast<double>(n)};
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 && argv[1][0] != 0 ? argv[1] : std::string(HM_FIXTURES_DIR) + "/payloads";
  const double seconds = argc > 2 ? std::atof(argv[2]) : 0.5;
  std::vector<std::pair<std::string, std::string>> shapes = {{"bench text", bench_delivery(false)},
                                                             {"bench image", bench_delivery(true)}};
  std::vector<std::filesystem::path> files;
  for (const auto& f : std::filesystem::directory_iterator(dir)) files.push_back(f.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) shapes.emplace_back(f.filename().string(), read(f));
  std::printf("%-26s %7s %10s %10s\n", "payload", "bytes", "ns", "allocs");
  double total_ns = 0;
  for (const auto& [name, payload] : shapes) {
    const Figure fig = measure(payload, seconds);
    total_ns += fig.ns;
    std::printf("%-26s %7zu %10.0f %10.1f\n", name.c_str(), payload.size(), fig.ns, fig.allocs);
  }
  std::printf("%-26s %7s %10.0f\n", "mean", "", total_ns / static_cast<double>(shapes.size()));
  return 0;
}
