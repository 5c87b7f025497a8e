// deploy/monitoring: the alerts and the dashboard ask only for metrics that
// exist (the names a PrometheusMetrics really serializes, plus
// kube-state-metrics' kube_pod_status_ready), every alert has a runbook_url
// to its section of the README's Runbook, and the dashboard is valid JSON that
// the kustomization ships as a ConfigMap for Grafana's sidecar. promtool
// checks and tests the rules themselves (scripts/check-deploy).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "ops/metrics.h"
#include "rendered.h"
#include "webhook/webhook_metrics.h"

namespace hm::deploy {
namespace {

const fs::path kMonitoring = deploy_dir() / "monitoring";

// Every metric name a worker (or the webhook receiver) exports, from its own
// exposition text, with every lazily created series made once.
std::set<std::string> exported_names() {
  PrometheusMetrics m(Role::kIngest, "test");
  m.counted(IngestCounts{});
  m.retried(1205);
  m.retried(1213);
  m.dead_lettered("bad_payload");
  m.batch_done(1, 0.1, {0.2});
  m.pool_checkout(0.01, true);
  m.redis_error("io");
  m.media_refused(HttpRefusal::kHost);
  m.breaker("redis", true);
  m.graph_account("17841400000000000", AccountHold::kAuth, true);
  m.graph_account("17841400000000000", AccountHold::kNoToken, true);
  m.committed(1000);
  m.set_pool(PoolStats{});
  m.set_queue(QueueGauges{1, 1, 1, 1});
  m.replied(ReplyEnd::kSent, 1);
  const webhook::WebhookMetrics receiver;
  std::set<std::string> names;
  const std::regex type_line(R"(^# TYPE (\S+) (\S+)$)");
  std::istringstream in(m.serialize() + receiver.serialize());
  for (std::string line; std::getline(in, line);) {
    std::smatch match;
    if (!std::regex_match(line, match, type_line)) continue;
    names.insert(match[1]);
    if (match[2] == "histogram")
      for (const char* suffix : {"_bucket", "_sum", "_count"}) names.insert(match[1].str() + suffix);
  }
  return names;
}

// Metrics from outside the worker that the rules may use.
const std::set<std::string> kExternal = {"kube_pod_status_ready"};

void expect_known_metrics(const std::string& expr, const std::set<std::string>& exported, const std::string& where) {
  const std::regex metric(R"(\b(hm_worker_[a-z0-9_]+|kube_[a-z0-9_]+))");
  int found = 0;
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), metric); it != std::sregex_iterator(); ++it) {
    const std::string name = (*it)[1];
    ++found;
    EXPECT_TRUE(exported.count(name) || kExternal.count(name)) << where << ": " << name << " is not a metric hm-worker exports";
  }
  EXPECT_GT(found, 0) << where << ": no metric in " << expr;
}

YAML::Node prometheus_rule() { return find(render(kMonitoring), "PrometheusRule", "hm-worker"); }

TEST(MonitoringTest, ExportedNamesAreReadFromTheRealExposition) {
  const auto names = exported_names();
  EXPECT_TRUE(names.count("hm_worker_queue_lag"));
  EXPECT_TRUE(names.count("hm_worker_enqueue_to_commit_seconds_bucket"));
  EXPECT_FALSE(names.count("hm_worker_queue_lag_bucket"));
  EXPECT_TRUE(names.count("hm_worker_webhook_requests_total"));
  EXPECT_TRUE(names.count("hm_worker_replies_total"));
}

// HmWorkerRepliesUnknown takes increase(): the reply role's series must
// exist at 0 before the first unknown, or that first one is never seen.
TEST(MonitoringTest, TheReplyRolesStatusSeriesStartAtZero) {
  const std::string text = PrometheusMetrics(Role::kReply, "test").serialize();
  for (const char* status : {"sent", "failed", "unknown", "deferred"})
    EXPECT_NE(text.find("hm_worker_replies_total{role=\"reply\",status=\"" + std::string(status) + "\"} 0"), std::string::npos)
        << status;
  EXPECT_EQ(PrometheusMetrics(Role::kIngest, "test").serialize().find("hm_worker_replies_total{"), std::string::npos);
}

TEST(MonitoringTest, EveryAlertUsesExistingMetricsAndLinksItsRunbookSection) {
  const auto exported = exported_names();
  std::string docs = read_text(fs::path(HM_SOURCE_DIR) / "README.md");
  // Until the lead moves HANDOFF.md's Runbook into the README.
  if (fs::exists(fs::path(HM_SOURCE_DIR) / "HANDOFF.md")) docs += read_text(fs::path(HM_SOURCE_DIR) / "HANDOFF.md");
  int alerts = 0;
  for (const auto& group : prometheus_rule()["spec"]["groups"]) {
    for (const auto& rule : group["rules"]) {
      const std::string name = rule["alert"].as<std::string>("");
      ASSERT_FALSE(name.empty()) << "a recording rule? " << YAML::Dump(rule);
      ++alerts;
      expect_known_metrics(rule["expr"].as<std::string>(), exported, name);
      EXPECT_TRUE(rule["labels"]["severity"]) << name;
      const std::string url = rule["annotations"]["runbook_url"].as<std::string>("");
      std::string anchor = "alert-" + name;
      for (auto& ch : anchor) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      EXPECT_EQ(url.substr(url.find('#') + 1), anchor) << name;
      EXPECT_NE(docs.find("### Alert: " + name + "\n"), std::string::npos) << name << " has no runbook section";
    }
  }
  EXPECT_GE(alerts, 10);
}

TEST(MonitoringTest, DashboardParsesUsesExistingMetricsAndShipsForGrafana) {
  const auto exported = exported_names();
  const auto dashboard = nlohmann::json::parse(read_text(kMonitoring / "dashboard.json"));
  int targets = 0;
  std::set<std::string> titles;
  for (const auto& panel : dashboard.at("panels")) {
    titles.insert(panel.at("title").get<std::string>());
    if (!panel.contains("targets")) continue;
    for (const auto& t : panel.at("targets")) {
      ++targets;
      expect_known_metrics(t.at("expr").get<std::string>(), exported, panel.at("title").get<std::string>());
    }
  }
  EXPECT_GE(targets, 15);
  // Latency from the histograms, retries by code, dead letters by reason.
  const std::string text = dashboard.dump();
  EXPECT_NE(text.find("histogram_quantile(0.99, sum by (role, le) (rate(hm_worker_enqueue_to_commit_seconds_bucket"),
            std::string::npos);
  EXPECT_NE(text.find("sum by (role, code) (rate(hm_worker_db_retries_total"), std::string::npos);
  EXPECT_NE(text.find("sum by (role, reason) (increase(hm_worker_dead_letters_total"), std::string::npos);
  // The receiver: outcomes, p99, backlog; replies by status.
  EXPECT_NE(text.find("sum by (outcome) (rate(hm_worker_webhook_requests_total"), std::string::npos);
  EXPECT_NE(text.find("histogram_quantile(0.99, sum by (le) (rate(hm_worker_webhook_request_seconds_bucket"), std::string::npos);
  EXPECT_NE(text.find("hm_worker_webhook_backlog"), std::string::npos);
  EXPECT_NE(text.find("sum by (status) (increase(hm_worker_replies_total"), std::string::npos);
  const auto cm = find(render(kMonitoring), "ConfigMap", "hm-worker-dashboard");
  EXPECT_EQ(cm["metadata"]["labels"]["grafana_dashboard"].as<std::string>(""), "1");
  EXPECT_EQ(nlohmann::json::parse(cm["data"]["hm-worker.json"].as<std::string>()), dashboard);
}

TEST(MonitoringTest, PodMonitorScrapesTheMetricsPortOfTheWorkers) {
  const auto pm = find(render(kMonitoring), "PodMonitor", "hm-worker");
  const auto endpoint = pm["spec"]["podMetricsEndpoints"][0];
  EXPECT_EQ(endpoint["path"].as<std::string>(), "/metrics");
  for (const auto& d : of_kind(render(deploy_dir()), "Deployment")) {
    bool named = false;
    for (const auto& p : d["spec"]["template"]["spec"]["containers"][0]["ports"])
      if (p["name"].as<std::string>() == endpoint["port"].as<std::string>()) named = true;
    EXPECT_TRUE(named) << name_of(d) << " has no port " << endpoint["port"];
    for (const auto& kv : pm["spec"]["selector"]["matchLabels"])
      EXPECT_EQ(d["spec"]["template"]["metadata"]["labels"][kv.first.as<std::string>()].as<std::string>(""),
                kv.second.as<std::string>());
  }
}

}  // namespace
}  // namespace hm::deploy
