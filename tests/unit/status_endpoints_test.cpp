#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "http/server.h"
#include "ingest/ingest_service.h"
#include "ops/metrics.h"
#include "ops/probes.h"
#include "support/process.h"

namespace hm {
namespace {

using namespace std::chrono_literals;

TEST(WorkerHeartbeatsTest, StaleWorkersAreNamedFinishedOnesIgnored) {
  WorkerHeartbeats h(3);
  EXPECT_TRUE(h.stale(1000ms).empty());
  std::this_thread::sleep_for(30ms);
  h.beat(0);
  h.finished(2);
  EXPECT_EQ(h.stale(20ms), std::vector<int>{1});
}

TEST(StatusEndpointsTest, HealthzIgnoresTheDatabaseReadyzReportsEachProblem) {
  WorkerHeartbeats h(1);
  StopSignal stop;
  std::string db_problem = "database: MySQL error 2003: Can't connect";
  StatusEndpoints ep(h, 60s, stop, {[&] { return db_problem; }, [] { return std::string(); }},
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
  WorkerHeartbeats h(1);
  StopSignal stop;
  std::atomic<int> calls{0};
  StatusEndpoints ep(h, 60s, stop, {[&] { ++calls; return std::string(); }}, [] { return std::string(); });
  ASSERT_TRUE(test::eventually([&] { return ep.readyz().status == 200; }, 5s));
  const int before = calls;
  for (int i = 0; i < 20; ++i) EXPECT_EQ(ep.readyz().status, 200);
  EXPECT_LE(calls - before, 1);  // probes do not run the checks
  stop.request();
  const auto r = ep.readyz();
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("shutting down"), std::string::npos);
}

TEST(StatusEndpointsTest, ABlockingCheckNeverHoldsUpTheProbes) {
  WorkerHeartbeats h(1);
  StopSignal stop;
  std::atomic<bool> release{false};
  StatusEndpoints ep(h, 60s, stop, {[&] {
                       while (!release) std::this_thread::sleep_for(10ms);  // a database that does not answer
                       return std::string();
                     }},
                     [] { return std::string(); });
  EXPECT_EQ(ep.readyz().status, 503);  // not checked yet, answered at once
  EXPECT_EQ(ep.healthz().status, 200);
  release = true;
}

TEST(StatusEndpointsTest, HealthzFailsWhenAWorkerLoopIsStuck) {
  WorkerHeartbeats h(2);
  StopSignal stop;
  StatusEndpoints ep(h, 10ms, stop, {}, [] { return std::string(); });
  std::this_thread::sleep_for(30ms);
  h.beat(0);
  const auto r = ep.healthz();
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find(" 1"), std::string::npos);
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
  PrometheusMetrics m("ingest", "1.2.3");
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
  m.set_queue({7, 2, 1});
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
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
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
