#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "http/server.h"
#include "ingest/ingest_service.h"
#include "ops/metrics.h"
#include "ops/periodic.h"
#include "ops/probes.h"
#include "ops/process_stats.h"
#include "support/fakes.h"
#include "support/process.h"

namespace hm {
namespace {

using namespace std::chrono_literals;

// Blocks (a server that does not answer) until released; a hang detector
// bound elsewhere, never a speed claim.
struct Gate {
  std::atomic<bool> open{false};
  std::atomic<int> entered{0};
  void pass() {
    ++entered;
    while (!open) std::this_thread::sleep_for(5ms);
  }
};

// Runs `f` on another thread; true when it returned within `limit` (a hang
// detector: the limit is generous, not a speed claim).
template <class F>
bool returns_within(std::chrono::milliseconds limit, F f) {
  auto done = std::async(std::launch::async, std::move(f));
  const bool ready = done.wait_for(limit) == std::future_status::ready;
  if (!ready) ADD_FAILURE() << "hung";
  return ready;
}

StatusEndpoints::Background checks(std::vector<StatusEndpoints::Check> readiness) {
  StatusEndpoints::Background b;
  b.readiness = std::move(readiness);
  return b;
}

TEST(WorkerHeartbeatsTest, StaleWorkersAreNamedFinishedOnesIgnored) {
  test::FakeClock clock;
  WorkerHeartbeats h(3, clock);
  EXPECT_TRUE(h.stale(1000ms).empty());
  clock.advance(30ms);
  EXPECT_EQ(h.stale(30ms), std::vector<int>{});  // exactly at the limit: not stale yet
  h.beat(0);
  h.finished(2);
  EXPECT_EQ(h.stale(20ms), std::vector<int>{1});
}

TEST(StatusEndpointsTest, HealthzIgnoresTheDatabaseReadyzReportsEachProblem) {
  test::FakeClock clock;
  WorkerHeartbeats h(1, clock);
  StopSignal stop;
  std::string db_problem = "database: MySQL error 2003: Can't connect";
  StatusEndpoints ep(h, 60s, stop, checks({[&] { return db_problem; }, [] { return std::string(); }}),
                     [] { return std::string("metrics\n"); });
  EXPECT_EQ(ep.handle("/healthz").status, 200);  // a database outage must not restart pods
  ASSERT_TRUE(test::eventually([&] { return ep.handle("/readyz").body.find("2003") != std::string::npos; }, 5s));
  const auto not_ready = ep.handle("/readyz");
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_NE(not_ready.body.find("2003"), std::string::npos);
  EXPECT_EQ(ep.handle("/metrics").body, "metrics\n");
  EXPECT_EQ(ep.handle("/nope").status, 404);
}

TEST(StatusEndpointsTest, ReadyzAnswersFromTheLastCheckAndSaysWhenStopping) {
  test::FakeClock clock;
  WorkerHeartbeats h(1, clock);
  StopSignal stop;
  std::atomic<int> calls{0};
  StatusEndpoints ep(h, 60s, stop, checks({[&] { ++calls; return std::string(); }}), [] { return std::string(); });
  ASSERT_TRUE(test::eventually([&] { return ep.readyz().status == 200; }, 5s));
  const int before = calls;
  for (int i = 0; i < 20; ++i) EXPECT_EQ(ep.readyz().status, 200);
  EXPECT_LE(calls - before, 1);  // probes do not run the checks
  stop.request();
  const auto r = ep.readyz();
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("shutting down"), std::string::npos);
}

// One Graph account's refused token must not take every enrich and reply
// pod out of service: its line is in the body, the answer stays 200; with a
// real problem both are listed and the answer is 503.
TEST(StatusEndpointsTest, NotesAreListedWithoutMakingThePodUnready) {
  test::FakeClock clock;
  WorkerHeartbeats h(1, clock);
  StopSignal stop;
  std::atomic<bool> db_down{false};
  StatusEndpoints::Background b = checks({[&] { return std::string(db_down ? "database does not answer" : ""); }});
  b.notes = [] { return std::vector<std::string>{"graph: account 111 blocked: token or permission refused"}; };
  StatusEndpoints ep(h, 60s, stop, std::move(b), [] { return std::string(); });
  ASSERT_TRUE(test::eventually([&] { return ep.readyz().status == 200; }, 5s));
  EXPECT_EQ(ep.readyz().body, "ready\ngraph: account 111 blocked: token or permission refused\n");
  db_down = true;
  ASSERT_TRUE(test::eventually([&] { return ep.readyz().status == 503; }, 5s));
  EXPECT_EQ(ep.readyz().body, "database does not answer\ngraph: account 111 blocked: token or permission refused\n");
}

TEST(StatusEndpointsTest, ABlockingCheckNeverHoldsUpTheProbes) {
  test::FakeClock clock;
  WorkerHeartbeats h(1, clock);
  StopSignal stop;
  Gate gate;
  StatusEndpoints ep(h, 60s, stop, checks({[&] { gate.pass(); return std::string(); }}),  // a database that does not answer
                     [] { return std::string(); });
  EXPECT_EQ(ep.readyz().status, 503);  // not checked yet, answered at once
  EXPECT_EQ(ep.healthz().status, 200);
  gate.open = true;
}

// Defect 6: with Redis and MariaDB not answering, the probes and /metrics are
// still served over HTTP, from memory, while the checks and the gauges wait.
TEST(StatusEndpointsTest, HealthzAndMetricsAnswerOverHttpWhileTheChecksAndGaugesBlock) {
  test::FakeClock clock;
  WorkerHeartbeats h(2, clock);
  StopSignal stop;
  auto gate = std::make_shared<Gate>();
  std::atomic<int> scrapes{0};
  StatusEndpoints::Background b;
  b.readiness = {[gate] { gate->pass(); return std::string(); }, [gate] { gate->pass(); return std::string(); }};
  b.gather = [gate] { gate->pass(); };  // the queue gauges read from Redis
  b.gather_period = 10ms;
  StatusEndpoints ep(h, 60s, stop, std::move(b), [&] { ++scrapes; return std::string("hm_worker_up 1\n"); });
  HttpServer http("127.0.0.1", 0, [&](const std::string& path) { return ep.handle(path); });
  ASSERT_TRUE(test::eventually([&] { return gate->entered >= 2; }, 5s));  // both background threads are stuck
  for (int i = 0; i < 10; ++i) {  // more requests than the pool has threads
    EXPECT_TRUE(returns_within(1s, [&] { EXPECT_EQ(test::http_get(http.port(), "/healthz").status, 200); }));
    EXPECT_TRUE(returns_within(1s, [&] {
      const auto m = test::http_get(http.port(), "/metrics");
      EXPECT_EQ(m.status, 200);
      EXPECT_EQ(m.body, "hm_worker_up 1\n");
    }));
    EXPECT_TRUE(returns_within(1s, [&] { EXPECT_EQ(test::http_get(http.port(), "/readyz").status, 503); }));
  }
  EXPECT_EQ(scrapes, 10);
  // Stopping is bounded too: the stuck threads are left behind, not waited for.
  EXPECT_TRUE(http.stop(5s));
  EXPECT_FALSE(ep.stop(50ms));
  gate->open = true;  // the abandoned threads end by themselves; nothing they use is freed under them
}

TEST(StatusEndpointsTest, HealthzFailsWhenAWorkerLoopIsStuck) {
  test::FakeClock clock;
  WorkerHeartbeats h(2, clock);
  StopSignal stop;
  StatusEndpoints ep(h, 10ms, stop, {}, [] { return std::string(); });
  EXPECT_EQ(ep.healthz().status, 200);
  clock.advance(30ms);
  h.beat(0);
  const auto r = ep.healthz();
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find(" 1"), std::string::npos);
}

TEST(PeriodicTaskTest, RunsAtOnceThenEveryPeriodAndStopsWithinItsLimit) {
  auto runs = std::make_shared<std::atomic<int>>(0);
  PeriodicTask task(1ms, [runs] { ++*runs; });
  ASSERT_TRUE(test::eventually([&] { return *runs >= 3; }, 5s));
  EXPECT_TRUE(task.stop(5s));
  const int after = *runs;
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(*runs, after);
}

TEST(PeriodicTaskTest, AStuckTaskIsLeftBehindAfterTheLimit) {
  auto gate = std::make_shared<Gate>();
  auto task = std::make_unique<PeriodicTask>(1ms, [gate] { gate->pass(); });
  ASSERT_TRUE(test::eventually([&] { return gate->entered == 1; }, 5s));
  EXPECT_TRUE(returns_within(2s, [&] { EXPECT_FALSE(task->stop(20ms)); }));
  task.reset();  // safe: the detached thread owns its state
  gate->open = true;
}

TEST(HttpServerTest, ServesOnLoopback) {
  HttpServer server("127.0.0.1", 0, [](const std::string& path) {
    return HttpResponse{path == "/x" ? 200 : 404, "text/plain", "path=" + path};
  });
  ASSERT_GT(server.port(), 0);
  const auto ok = test::http_get(server.port(), "/x?q=1");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "path=/x");
  EXPECT_EQ(test::http_get(server.port(), "/y").status, 404);
  const auto head = test::http_request(server.port(), "HEAD", "/x");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(test::http_request(server.port(), "POST", "/x").status, 405);
}

TEST(HttpServerTest, ASlowRequestDoesNotHoldUpTheOthers) {
  auto gate = std::make_shared<Gate>();
  HttpServer server("127.0.0.1", 0, [gate](const std::string& path) {
    if (path == "/slow") gate->pass();
    return HttpResponse{200, "text/plain", "ok"};
  });
  auto slow = std::async(std::launch::async, [&] { return test::http_get(server.port(), "/slow"); });
  ASSERT_TRUE(test::eventually([&] { return gate->entered == 1; }, 5s));
  EXPECT_TRUE(returns_within(1s, [&] { EXPECT_EQ(test::http_get(server.port(), "/fast").status, 200); }));
  gate->open = true;
  EXPECT_EQ(slow.get().status, 200);
}

TEST(HttpServerTest, ATakenPortNamesTheVariable) {
  HttpServer first("127.0.0.1", 0, [](const std::string&) { return HttpResponse{}; });
  try {
    HttpServer second("127.0.0.1", first.port(), [](const std::string&) { return HttpResponse{}; });
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("METRICS_PORT"), std::string::npos) << e.what();
  }
}

TEST(HttpServerTest, BadBindAddressNamesTheVariable) {
  try {
    HttpServer server("not-an-ip", 0, [](const std::string&) { return HttpResponse{}; });
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("METRICS_BIND"), std::string::npos);
  }
}

TEST(PrometheusMetricsTest, ExportsTheDocumentedSeries) {
  PrometheusMetrics m(Role::kIngest, "1.2.3");
  IngestCounts c;
  c.deliveries = 3;
  c.inserted = 2;
  c.duplicates = 1;
  m.counted(c);
  m.retried(1205);
  m.retried(1213);
  m.dead_lettered("bad_payload");
  m.batch_done(3, 0.01, {0.5, 0.7});
  m.pool_checkout(0.001, false);
  PoolStats ps;
  ps.size = 10;
  ps.max_overflow = 5;
  ps.open = 4;
  ps.in_use = 3;
  ps.idle = 1;
  m.set_pool(ps);
  m.set_queue({7, 2, 1, 90500, {}});
  m.redis_error("NOGROUP");
  m.redis_error("NOGROUP");
  m.redis_error("io");
  m.breaker("database", true);
  m.committed(1768396567320LL);
  const std::string text = m.serialize();
  for (const char* line : {
           "hm_worker_deliveries_total{role=\"ingest\"} 3",
           "hm_worker_messages_total{outcome=\"inserted\",role=\"ingest\"} 2",
           "hm_worker_db_retries_total{code=\"1205\",role=\"ingest\"} 1",
           "hm_worker_db_lock_wait_timeouts_total{role=\"ingest\"} 1",
           "hm_worker_db_deadlocks_total{role=\"ingest\"} 1",
           "hm_worker_dead_letters_total{reason=\"bad_payload\",role=\"ingest\"} 1",
           "hm_worker_db_pool_size{role=\"ingest\"} 10",
           "hm_worker_db_pool_connections{role=\"ingest\",state=\"in_use\"} 3",
           "hm_worker_queue_pending{role=\"ingest\"} 7",
           "hm_worker_enqueue_to_commit_seconds_count{role=\"ingest\"} 2",
           "hm_worker_build_info{role=\"ingest\",version=\"1.2.3\"} 1",
           "hm_worker_queue_oldest_pending_age_seconds{role=\"ingest\"} 90.5",
           "hm_worker_redis_errors_total{kind=\"NOGROUP\",role=\"ingest\"} 2",
           "hm_worker_redis_errors_total{kind=\"io\",role=\"ingest\"} 1",
           "hm_worker_breaker_open{dependency=\"database\",role=\"ingest\"} 1",
           "hm_worker_breaker_open{dependency=\"redis\",role=\"ingest\"} 0",
           "hm_worker_last_commit_timestamp_seconds{role=\"ingest\"} 1768396567.32",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
}

TEST(PrometheusMetricsTest, ABreakerClosesAgainAndUnknownGaugesKeepTheirLastValue) {
  PrometheusMetrics m(Role::kMedia, "1");
  m.breaker("redis", true);
  m.breaker("redis", false);
  m.set_queue({3, 0, 0, 1000, {}});
  m.set_queue({});  // Redis unreachable: -1 everywhere, the last values stay
  const std::string text = m.serialize();
  EXPECT_NE(text.find("hm_worker_breaker_open{dependency=\"redis\",role=\"media\"} 0"), std::string::npos) << text;
  EXPECT_NE(text.find("hm_worker_queue_pending{role=\"media\"} 3"), std::string::npos) << text;
  EXPECT_NE(text.find("hm_worker_queue_oldest_pending_age_seconds{role=\"media\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("hm_worker_last_commit_timestamp_seconds{role=\"media\"} 0"), std::string::npos) << text;
}

TEST(PrometheusMetricsTest, RefusedMediaDownloadsByRule) {
  PrometheusMetrics m(Role::kMedia, "1");
  m.media_refused(HttpRefusal::kAddress);
  m.media_refused(HttpRefusal::kAddress);
  m.media_refused(HttpRefusal::kHost);
  const std::string text = m.serialize();
  EXPECT_NE(text.find("hm_worker_media_refused_total{reason=\"address\",role=\"media\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("hm_worker_media_refused_total{reason=\"host\",role=\"media\"} 1"), std::string::npos) << text;
}

TEST(PrometheusMetricsTest, RetentionStreamLengthsAndProcessSeries) {
  PrometheusMetrics m(Role::kIngest, "1");
  m.trimmed("hm:enrich", 40);
  m.trimmed("hm:enrich", 2);
  m.consumers_deleted("hm:ingest", 3);
  QueueGauges q;
  q.stream_lengths = {{"hm:ingest", 12}, {"hm:media:dead", 0}};
  m.set_queue(q);
  m.set_process({1.5, 4096, 9, 1768396566.5});
  m.set_process({2.25, 8192, 10, 1768396566.5});
  const std::string text = m.serialize();
  for (const char* line : {
           "hm_worker_queue_trimmed_entries_total{role=\"ingest\",stream=\"hm:enrich\"} 42",
           "hm_worker_queue_consumers_deleted_total{role=\"ingest\",stream=\"hm:ingest\"} 3",
           "hm_worker_queue_stream_length{role=\"ingest\",stream=\"hm:ingest\"} 12",
           "hm_worker_queue_stream_length{role=\"ingest\",stream=\"hm:media:dead\"} 0",
           "# TYPE process_cpu_seconds_total counter",
           "process_cpu_seconds_total{role=\"ingest\"} 2.25",
           "process_resident_memory_bytes{role=\"ingest\"} 8192",
           "process_open_fds{role=\"ingest\"} 10",
           "process_start_time_seconds{role=\"ingest\"} 1768396566.5",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
}

TEST(ProcessStatsTest, ParsesProcStatWhateverTheCommandName) {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
  // priority nice threads itrealvalue starttime vsize rss ...
  const std::string stat =
      "4242 (hm worker) (x)) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 5 0 10000 123456789 300 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
  const auto s = parse_proc_stat(stat, 100, 4096, 1768390000.0);
  ASSERT_TRUE(s.has_value());
  EXPECT_DOUBLE_EQ(s->cpu_seconds, 3.0);
  EXPECT_DOUBLE_EQ(s->start_time_seconds, 1768390100.0);
  EXPECT_DOUBLE_EQ(s->resident_bytes, 300.0 * 4096);
  EXPECT_FALSE(parse_proc_stat("garbage", 100, 4096, 0).has_value());
  EXPECT_FALSE(parse_proc_stat("1 (x) S 1 2", 100, 4096, 0).has_value());
  // This process, for real.
  const auto self = read_process_stats();
  ASSERT_TRUE(self.has_value());
  EXPECT_GT(self->resident_bytes, 0);
  EXPECT_GE(self->open_fds, 3);
  EXPECT_GT(self->start_time_seconds, 1.6e9);
}

TEST(PrometheusMetricsTest, DeadLetterClasses) {
  EXPECT_EQ(dead_letter_class("bad payload: invalid JSON"), "bad_payload");
  EXPECT_EQ(dead_letter_class("delivered 11 times, over QUEUE_MAX_DELIVERIES=10"), "max_deliveries");
  EXPECT_EQ(dead_letter_class("delivery is 5000 bytes, over MAX_DELIVERY_BYTES=64"), "oversized");
  EXPECT_EQ(dead_letter_class("bad queue entry: no payload field"), "malformed_entry");
  EXPECT_EQ(dead_letter_class("event 0 (message) mid=x cannot be stored: warning 1406"), "data_error");
}

}  // namespace
}  // namespace hm
