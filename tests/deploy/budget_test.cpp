// The fleet's database connections, computed from the rendered manifests with
// `hm-worker doctor`'s formula and reserve (mysql::pod_connections,
// DoctorOptions): every pod may hold DB_POOL_SIZE + DB_MAX_OVERFLOW + 1, as
// its container's env says (ConfigMap overridden by the Deployment's env),
// except the webhook receiver, which opens none (commands/webhook.cpp); a
// role may run its KEDA maxReplicaCount (or its replicas) plus the rolling
// update's surge; the migrate Job holds one. The sum must stay within a stock
// MariaDB's max_connections less the reserve. And the autoscaler watches each
// role's own stream and group.
#include <gtest/gtest.h>

#include <iostream>
#include <sstream>

#include "config/config.h"
#include "mysql/doctor.h"
#include "redis/redis_url.h"
#include "rendered.h"

namespace hm::deploy {
namespace {

constexpr long long kStockMaxConnections = 151;  // MariaDB's and MySQL's default max_connections

const std::vector<YAML::Node>& base() { return render(deploy_dir()); }

struct Budget {
  long long connections = 0;
  std::string detail;
};

// Pods a Deployment may run at once: the most its ScaledObject or HPA allows (or its
// replicas, 1 when unset), plus maxSurge during a rolling update.
long long max_pods(const std::vector<YAML::Node>& objects, const YAML::Node& deployment) {
  long long replicas = deployment["spec"]["replicas"].as<long long>(1);
  for (const auto& so : of_kind(objects, "ScaledObject"))
    if (so["spec"]["scaleTargetRef"]["name"].as<std::string>("") == name_of(deployment))
      replicas = std::max(replicas, so["spec"]["maxReplicaCount"].as<long long>(100));  // KEDA's default is 100
  for (const auto& hpa : of_kind(objects, "HorizontalPodAutoscaler"))
    if (hpa["spec"]["scaleTargetRef"]["name"].as<std::string>("") == name_of(deployment))
      replicas = std::max(replicas, hpa["spec"]["maxReplicas"].as<long long>());
  return replicas + deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"].as<long long>(0);
}

// The role a Deployment runs: `run --role ROLE`.
std::string role_of(const YAML::Node& deployment) {
  return deployment["spec"]["template"]["spec"]["containers"][0]["args"][2].as<std::string>("");
}

// Database connections one pod of `deployment` may hold.
long long pod_connections(const std::vector<YAML::Node>& objects, const YAML::Node& deployment) {
  const auto env = effective_env(objects, deployment["spec"]["template"]["spec"]["containers"][0]);
  RawConfig raw = raw_config(env);
  raw.set("WORKER_ROLE", role_of(deployment), ValueOrigin::kFlag);
  if (parse_config(raw).webhook.enabled) return 0;  // Redis only: no pool, no readiness query
  return mysql::pod_connections(std::stoi(env.at("DB_POOL_SIZE")), std::stoi(env.at("DB_MAX_OVERFLOW")),
                                mysql::DoctorOptions{}.extra_per_pod);
}

Budget fleet_budget(const std::vector<YAML::Node>& objects) {
  Budget b;
  std::ostringstream detail;
  for (const auto& d : of_kind(objects, "Deployment")) {
    const long long per_pod = pod_connections(objects, d);
    const long long pods = max_pods(objects, d);
    b.connections += pods * per_pod;
    detail << name_of(d) << " " << pods << " x " << per_pod << "; ";
  }
  for (const auto& j : of_kind(objects, "Job")) {
    b.connections += j["spec"]["parallelism"].as<long long>(1);  // migrate: one session
    detail << name_of(j) << " 1; ";
  }
  b.detail = detail.str();
  return b;
}

long long usable() { return kStockMaxConnections - mysql::DoctorOptions{}.reserved_connections; }

TEST(ConnectionBudgetTest, ShippedFleetAtMaxReplicasFitsAStockMariaDbLessDoctorsReserve) {
  for (const auto* objects : {&base(), &render(deploy_dir() / "overlays" / "example")}) {
    ASSERT_FALSE(objects->empty());
    const Budget b = fleet_budget(*objects);
    EXPECT_LE(b.connections, usable()) << b.detail << "= " << b.connections << " connections, over max_connections "
                                       << kStockMaxConnections << " less the " << mysql::DoctorOptions{}.reserved_connections
                                       << " doctor keeps free";
    std::cout << "fleet budget: " << b.detail << "= " << b.connections << " of " << usable() << "\n";
  }
}

// The budget reads what it must: a higher maxReplicaCount, or a larger pool
// in one Deployment's env, puts the shipped fleet over.
TEST(ConnectionBudgetTest, BudgetCountsKedaMaxReplicasAndPerDeploymentPoolOverrides) {
  std::vector<YAML::Node> more_replicas;
  for (const auto& o : base()) more_replicas.push_back(YAML::Clone(o));
  for (auto& so : more_replicas)
    if (so["kind"].as<std::string>() == "ScaledObject" && name_of(so) == "hm-worker-ingest") so["spec"]["maxReplicaCount"] = 20;
  EXPECT_GT(fleet_budget(more_replicas).connections, usable());

  std::vector<YAML::Node> bigger_pool;
  for (const auto& o : base()) bigger_pool.push_back(YAML::Clone(o));
  for (auto& d : bigger_pool) {
    if (d["kind"].as<std::string>() != "Deployment" || name_of(d) != "hm-worker-media") continue;
    for (auto e : d["spec"]["template"]["spec"]["containers"][0]["env"])
      if (e["name"].as<std::string>() == "DB_POOL_SIZE") e["value"] = "20";
  }
  EXPECT_GT(fleet_budget(bigger_pool).connections, usable());
}

// The receiver is in the fleet and counted as 0 (it opens no connection),
// while a database role in its place would count.
TEST(ConnectionBudgetTest, TheWebhookReceiverIsCountedAndHoldsNoConnection) {
  const auto d = find(base(), "Deployment", "hm-worker-webhook");
  EXPECT_EQ(role_of(d), "webhook");
  EXPECT_EQ(pod_connections(base(), d), 0);
  EXPECT_NE(fleet_budget(base()).detail.find("hm-worker-webhook 9 x 0;"), std::string::npos) << fleet_budget(base()).detail;
  YAML::Node as_ingest = YAML::Clone(d);
  as_ingest["spec"]["template"]["spec"]["containers"][0]["args"][2] = "ingest";
  EXPECT_GT(pod_connections(base(), as_ingest), 0);
}

TEST(ConnectionBudgetTest, EveryRoleScalesOnItsOwnStreamsLagBetweenOneAndItsBudget) {
  const auto scaled = of_kind(base(), "ScaledObject");
  // Every consumer role; the receiver (no stream to consume) scales on CPU (its HPA).
  ASSERT_EQ(scaled.size(), of_kind(base(), "Deployment").size() - 1);
  for (const auto& so : scaled) {
    const std::string target = so["spec"]["scaleTargetRef"]["name"].as<std::string>();
    const auto d = find(base(), "Deployment", target);
    const std::string role = d["spec"]["template"]["spec"]["containers"][0]["args"][2].as<std::string>();
    const auto env = effective_env(base(), d["spec"]["template"]["spec"]["containers"][0]);
    EXPECT_GE(so["spec"]["minReplicaCount"].as<int>(0), 1) << target << " would scale to zero";
    EXPECT_GE(so["spec"]["maxReplicaCount"].as<int>(0), so["spec"]["minReplicaCount"].as<int>(0)) << target;
    ASSERT_EQ(so["spec"]["triggers"].size(), 1u) << target;
    const auto t = so["spec"]["triggers"][0];
    EXPECT_EQ(t["type"].as<std::string>(), "redis-streams");
    const auto m = t["metadata"];
    // The stream and group the role's workers consume (QUEUE_STREAM defaults to prefix + role).
    EXPECT_EQ(m["stream"].as<std::string>(), env.at("QUEUE_STREAM_PREFIX") + role) << target;
    EXPECT_EQ(m["consumerGroup"].as<std::string>(), env.at("QUEUE_GROUP")) << target;
    const auto url = redis::parse_redis_url(env.at("REDIS_URL"));
    EXPECT_EQ(m["address"].as<std::string>(), url.host + ":" + std::to_string(url.port)) << target;
    EXPECT_EQ(m["databaseIndex"].as<std::string>(), std::to_string(url.db)) << target;
    EXPECT_GT(std::stoi(m["lagCount"].as<std::string>("0")), 0) << target;
    EXPECT_TRUE(m["activationLagCount"]) << target << ": KEDA requires it with lagCount";
    // Credentials and TLS: the one TriggerAuthentication overlays add to.
    const std::string auth = t["authenticationRef"]["name"].as<std::string>("");
    EXPECT_EQ(name_of(find(base(), "TriggerAuthentication", auth)), auth) << target;
  }
}

}  // namespace
}  // namespace hm::deploy
