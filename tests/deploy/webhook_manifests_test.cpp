// deploy/webhook/ (the receiver's manifests, wired in by adding `- webhook`
// to deploy/kustomization.yaml) against the binary: the Deployment's role
// and variables parse, ports and probes agree with the ConfigMap, the secret
// files are mounted from the Secret's keys, and the Service, PDB, HPA and
// Ingress point at what exists.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"

namespace hm {
namespace {

namespace fs = std::filesystem;
const fs::path kDeploy = fs::path(HM_SOURCE_DIR) / "deploy";

std::vector<YAML::Node> documents(const fs::path& dir) {
  std::vector<YAML::Node> docs;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml" || entry.path().filename() == "kustomization.yaml") continue;
    for (const auto& d : YAML::LoadAllFromFile(entry.path().string())) docs.push_back(d);
  }
  return docs;
}

YAML::Node only(const std::string& kind) {
  std::vector<YAML::Node> found;
  for (const auto& d : documents(kDeploy / "webhook"))
    if (d["kind"].as<std::string>() == kind) found.push_back(d);
  EXPECT_EQ(found.size(), 1u) << kind;
  return found.empty() ? YAML::Node() : found[0];
}

// deploy/base/hm-worker.env: what the generated ConfigMap hm-worker-config holds.
std::map<std::string, std::string> configmap() {
  std::map<std::string, std::string> out;
  std::ifstream in(kDeploy / "base" / "hm-worker.env");
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

TEST(WebhookManifestsTest, KustomizationListsEveryFile) {
  const YAML::Node k = YAML::LoadFile((kDeploy / "webhook" / "kustomization.yaml").string());
  std::set<std::string> listed;
  for (const auto& r : k["resources"]) listed.insert(r.as<std::string>());
  std::set<std::string> present;
  for (const auto& entry : fs::directory_iterator(kDeploy / "webhook"))
    if (entry.path().extension() == ".yaml" && entry.path().filename() != "kustomization.yaml")
      present.insert(entry.path().filename().string());
  EXPECT_EQ(listed, present);
}

TEST(WebhookManifestsTest, TheDeploymentRunsTheReceiverWithItsSecretsMounted) {
  const auto data = configmap();
  const YAML::Node d = only("Deployment");
  const auto pod = d["spec"]["template"]["spec"];
  const auto c = pod["containers"][0];
  EXPECT_EQ(c["args"].as<std::vector<std::string>>(), (std::vector<std::string>{"run", "--role", "webhook"}));
  EXPECT_GE(d["spec"]["replicas"].as<int>(), 2);
  EXPECT_TRUE(pod["topologySpreadConstraints"]);
  // The role and the variables the pod gets parse.
  RawConfig raw;
  for (const auto& v : known_variables())
    if (!v.default_value.empty()) raw.set(v.name, v.default_value, ValueOrigin::kDefault);
  for (const auto& [k, v] : data) raw.set(k, v, ValueOrigin::kEnvironment);
  std::map<std::string, std::string> env;
  for (const auto& e : c["env"]) env[e["name"].as<std::string>()] = e["value"].as<std::string>();
  for (const auto& [k, v] : env) raw.set(k, v, ValueOrigin::kEnvironment);
  raw.set("WORKER_ROLE", "webhook", ValueOrigin::kFlag);
  Config cfg;
  ASSERT_NO_THROW(cfg = parse_config(raw));
  EXPECT_TRUE(cfg.webhook.enabled);
  // Ports and probes.
  std::map<std::string, int> ports;
  for (const auto& p : c["ports"]) ports[p["name"].as<std::string>()] = p["containerPort"].as<int>();
  EXPECT_EQ(ports["webhook"], cfg.webhook.port);
  EXPECT_EQ(ports["http"], cfg.worker.metrics_port);
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/readyz");
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["port"].as<std::string>(), "http");
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/healthz");
  EXPECT_GT(pod["terminationGracePeriodSeconds"].as<long long>(), cfg.worker.shutdown_timeout.count());
  EXPECT_TRUE(pod["securityContext"]["runAsNonRoot"].as<bool>());
  EXPECT_TRUE(c["securityContext"]["readOnlyRootFilesystem"].as<bool>());
  EXPECT_FALSE(c["securityContext"]["allowPrivilegeEscalation"].as<bool>());
  EXPECT_TRUE(c["resources"]["limits"]["memory"]);
  // Each secret file is a key of the mounted Secret.
  const YAML::Node secret = only("Secret");
  const std::string secret_name = secret["metadata"]["name"].as<std::string>();
  for (const std::string& file : {cfg.webhook.app_secret_file, cfg.webhook.verify_token_file}) {
    bool found = false;
    for (const auto& m : c["volumeMounts"]) {
      const std::string dir = m["mountPath"].as<std::string>() + "/";
      if (file.rfind(dir, 0) != 0) continue;
      for (const auto& v : pod["volumes"])
        if (v["name"].as<std::string>() == m["name"].as<std::string>() && v["secret"]["secretName"].as<std::string>() == secret_name)
          for (const auto& item : v["secret"]["items"])
            if (item["path"].as<std::string>() == file.substr(dir.size()) &&
                secret["stringData"][item["key"].as<std::string>()])
              found = true;
    }
    EXPECT_TRUE(found) << file << " is not a key of Secret " << secret_name << " mounted there";
  }
}

TEST(WebhookManifestsTest, ServicePdbHpaAndIngressPointAtTheDeployment) {
  const YAML::Node d = only("Deployment");
  const std::string name = d["metadata"]["name"].as<std::string>();
  const auto labels = d["spec"]["template"]["metadata"]["labels"];
  const auto selects = [&](const YAML::Node& selector) {
    for (const auto& kv : selector)
      if (!labels[kv.first.as<std::string>()] || labels[kv.first.as<std::string>()].as<std::string>() != kv.second.as<std::string>())
        return false;
    return selector.size() > 0;
  };
  const YAML::Node svc = only("Service");
  EXPECT_TRUE(selects(svc["spec"]["selector"]));
  EXPECT_EQ(svc["spec"]["ports"][0]["targetPort"].as<std::string>(), "webhook");
  EXPECT_TRUE(selects(only("PodDisruptionBudget")["spec"]["selector"]["matchLabels"]));
  const YAML::Node hpa = only("HorizontalPodAutoscaler");
  EXPECT_EQ(hpa["spec"]["scaleTargetRef"]["name"].as<std::string>(), name);
  EXPECT_GE(hpa["spec"]["minReplicas"].as<int>(), 2);
  const YAML::Node ing = only("Ingress");
  EXPECT_TRUE(ing["spec"]["tls"]);
  const auto backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"];
  EXPECT_EQ(backend["name"].as<std::string>(), svc["metadata"]["name"].as<std::string>());
  EXPECT_EQ(backend["port"]["name"].as<std::string>(), svc["spec"]["ports"][0]["name"].as<std::string>());
  EXPECT_EQ(ing["spec"]["rules"][0]["http"]["paths"][0]["path"].as<std::string>(), configmap().at("WEBHOOK_PATH"));
}

}  // namespace
}  // namespace hm
