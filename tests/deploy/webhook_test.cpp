// The webhook receiver as the cluster gets it (rendered base and example
// overlay): its Deployment runs the role with a configuration the binary
// accepts, its ports and probes agree with that configuration, its secret
// files are keys of the Secret the overlay provides, the Service, PDB, HPA and
// Ingress point at what exists, the NetworkPolicy lets the ingress controller
// in and lets it reach only DNS and Redis, and the Redis TLS component gives it
// the tunnel too. The rules it shares with every pod (Pod Security, spread,
// grace, PDB policy): manifests_test.cpp.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "rendered.h"

namespace hm::deploy {
namespace {

const std::vector<YAML::Node>& base() { return render(deploy_dir()); }
const std::vector<YAML::Node>& example() { return render(deploy_dir() / "overlays" / "example"); }

YAML::Node deployment(const std::vector<YAML::Node>& objects) { return find(objects, "Deployment", "hm-worker-webhook"); }
YAML::Node container(const YAML::Node& d) { return d["spec"]["template"]["spec"]["containers"][0]; }

Config config_of(const std::vector<YAML::Node>& objects) {
  RawConfig raw = raw_config(effective_env(objects, container(deployment(objects))));
  raw.set("WORKER_ROLE", "webhook", ValueOrigin::kFlag);
  return parse_config(raw);
}

// Whether `selector` (matchLabels) is non-empty and matches the pod template's labels.
bool selects_pods(const YAML::Node& selector, const YAML::Node& d) {
  const auto labels = d["spec"]["template"]["metadata"]["labels"];
  for (const auto& kv : selector)
    if (labels[kv.first.as<std::string>()].as<std::string>("") != kv.second.as<std::string>()) return false;
  return selector.size() > 0;
}

TEST(WebhookDeployTest, TheDeploymentRunsTheReceiverWithPortsAndProbesOfItsConfiguration) {
  const auto d = deployment(base());
  const auto c = container(d);
  EXPECT_EQ(c["args"].as<std::vector<std::string>>(), (std::vector<std::string>{"run", "--role", "webhook"}));
  Config cfg;
  ASSERT_NO_THROW(cfg = config_of(base()));
  EXPECT_TRUE(cfg.webhook.enabled);
  std::map<std::string, int> ports;
  for (const auto& p : c["ports"]) ports[p["name"].as<std::string>()] = p["containerPort"].as<int>();
  EXPECT_EQ(ports.at("webhook"), cfg.webhook.port);
  EXPECT_EQ(ports.at("metrics"), cfg.worker.metrics_port);
  EXPECT_NE(cfg.webhook.port, cfg.worker.metrics_port);
  for (const char* probe : {"startupProbe", "livenessProbe", "readinessProbe"})
    EXPECT_EQ(c[probe]["httpGet"]["port"].as<std::string>(""), "metrics") << probe;
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/readyz");
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/healthz");
  EXPECT_LT(cfg.webhook.drain, cfg.worker.shutdown_timeout);
}

TEST(WebhookDeployTest, ItsSecretFilesAreKeysOfTheSecretTheOverlayProvides) {
  const auto d = deployment(example());
  const auto pod = d["spec"]["template"]["spec"];
  const auto c = container(d);
  Config cfg;
  ASSERT_NO_THROW(cfg = config_of(example()));
  EXPECT_TRUE(of_kind(base(), "Secret").empty());
  for (const std::string& file : {cfg.webhook.app_secret_file, cfg.webhook.verify_token_file}) {
    ASSERT_FALSE(file.empty());
    bool found = false;
    for (const auto& m : c["volumeMounts"]) {
      const std::string dir = m["mountPath"].as<std::string>() + "/";
      if (file.rfind(dir, 0) != 0) continue;
      for (const auto& v : pod["volumes"]) {
        if (v["name"].as<std::string>() != m["name"].as<std::string>() || !v["secret"]) continue;
        const auto secret = find(example(), "Secret", v["secret"]["secretName"].as<std::string>());
        for (const auto& item : v["secret"]["items"])
          if (item["path"].as<std::string>() == file.substr(dir.size()) && secret["data"][item["key"].as<std::string>()])
            found = true;
      }
    }
    EXPECT_TRUE(found) << file << " is not a key of a provided Secret mounted there";
  }
}

TEST(WebhookDeployTest, ServicePdbHpaAndIngressPointAtTheReceiver) {
  const auto d = deployment(example());
  const Config cfg = config_of(example());
  const auto svc = find(example(), "Service", "hm-worker-webhook");
  EXPECT_TRUE(selects_pods(svc["spec"]["selector"], d));
  EXPECT_EQ(svc["spec"]["ports"][0]["targetPort"].as<std::string>(), "webhook");
  EXPECT_TRUE(selects_pods(find(example(), "PodDisruptionBudget", "hm-worker-webhook")["spec"]["selector"]["matchLabels"], d));
  const auto hpa = find(example(), "HorizontalPodAutoscaler", "hm-worker-webhook");
  EXPECT_EQ(hpa["spec"]["scaleTargetRef"]["kind"].as<std::string>(), "Deployment");
  EXPECT_EQ(hpa["spec"]["scaleTargetRef"]["name"].as<std::string>(), name_of(d));
  EXPECT_GE(hpa["spec"]["minReplicas"].as<int>(), 2) << "one replica left during a disruption";
  EXPECT_GE(hpa["spec"]["maxReplicas"].as<int>(), hpa["spec"]["minReplicas"].as<int>());
  // The CPU target is a share of the request: without one the HPA does nothing.
  EXPECT_TRUE(container(d)["resources"]["requests"]["cpu"]);
  const auto ing = find(example(), "Ingress", "hm-worker-webhook");
  ASSERT_TRUE(ing["spec"]["tls"]) << "Meta calls HTTPS only";
  const auto rule = ing["spec"]["rules"][0];
  EXPECT_EQ(YAML::Dump(ing["spec"]["tls"][0]["hosts"]), "- " + rule["host"].as<std::string>());
  const auto path = rule["http"]["paths"][0];
  EXPECT_EQ(path["path"].as<std::string>(), cfg.webhook.path);
  EXPECT_EQ(path["backend"]["service"]["name"].as<std::string>(), name_of(svc));
  EXPECT_EQ(path["backend"]["service"]["port"]["name"].as<std::string>(), svc["spec"]["ports"][0]["name"].as<std::string>());
  EXPECT_TRUE(of_kind(base(), "Ingress").empty()) << "the host is an overlay's";
}

TEST(WebhookDeployTest, NetworkPolicyLetsTheIngressControllerInAndOnlyDnsAndRedisOut) {
  const auto d = deployment(base());
  const Config cfg = config_of(base());
  const auto spec = find(base(), "NetworkPolicy", "hm-worker-webhook")["spec"];
  EXPECT_TRUE(selects_pods(spec["podSelector"]["matchLabels"], d));
  std::map<int, std::string> from;  // port: namespace
  for (const auto& rule : spec["ingress"])
    for (const auto& p : rule["ports"])
      from[p["port"].as<int>()] = rule["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"].as<std::string>();
  EXPECT_EQ(from, (std::map<int, std::string>{{cfg.webhook.port, "ingress-nginx"}, {cfg.worker.metrics_port, "monitoring"}}));
  std::set<std::string> egress;
  for (const auto& rule : spec["egress"])
    for (const auto& p : rule["ports"]) egress.insert(p["protocol"].as<std::string>() + "/" + p["port"].as<std::string>());
  EXPECT_EQ(egress, (std::set<std::string>{"UDP/53", "TCP/53", "TCP/6379", "TCP/6380"}));
}

TEST(WebhookDeployTest, TheRedisTlsComponentGivesTheReceiverItsTunnelToo) {
  const auto objects = render_with_components("overlays/example", {"redis-tls"});
  const auto d = deployment(objects);
  std::set<std::string> init;
  for (const auto& c : d["spec"]["template"]["spec"]["initContainers"]) init.insert(c["name"].as<std::string>());
  EXPECT_TRUE(init.count("redis-tunnel"));
  EXPECT_EQ(effective_env(objects, container(d)).at("REDIS_URL"), "redis://127.0.0.1:6379/0");
  EXPECT_NO_THROW(config_of(objects));
}

}  // namespace
}  // namespace hm::deploy
