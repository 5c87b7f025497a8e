// deploy/ as Kubernetes would read it: the manifests parse, every Deployment
// runs a role that exists, the ConfigMap holds only variables the binary
// knows (with values it accepts), and probes, ports and grace periods agree.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "config/config.h"
#include "rules/reply_rules.h"

namespace hm {
namespace {

namespace fs = std::filesystem;
const fs::path kDeploy = fs::path(HM_SOURCE_DIR) / "deploy";

std::vector<YAML::Node> all_documents() {
  std::vector<YAML::Node> docs;
  for (const auto& entry : fs::directory_iterator(kDeploy)) {
    if (entry.path().extension() != ".yaml" || entry.path().filename() == "kustomization.yaml") continue;
    for (const auto& d : YAML::LoadAllFromFile(entry.path().string())) docs.push_back(d);
  }
  return docs;
}

std::vector<YAML::Node> of_kind(const std::string& kind) {
  std::vector<YAML::Node> out;
  for (const auto& d : all_documents())
    if (d["kind"] && d["kind"].as<std::string>() == kind) out.push_back(d);
  return out;
}

YAML::Node configmap_named(const std::string& name) {
  for (const auto& m : of_kind("ConfigMap"))
    if (m["metadata"]["name"].as<std::string>() == name) return m;
  ADD_FAILURE() << "no ConfigMap " << name;
  return YAML::Node();
}

std::map<std::string, std::string> configmap() {
  std::map<std::string, std::string> out;
  for (const auto& kv : configmap_named("hm-worker-config")["data"]) out[kv.first.as<std::string>()] = kv.second.as<std::string>();
  return out;
}

TEST(ManifestsTest, EveryFileParsesAndKustomizationListsThem) {
  const YAML::Node k = YAML::LoadFile((kDeploy / "kustomization.yaml").string());
  EXPECT_EQ(k["namespace"].as<std::string>(), "hm");
  std::set<std::string> listed;
  for (const auto& r : k["resources"]) {
    const std::string file = r.as<std::string>();
    EXPECT_TRUE(fs::exists(kDeploy / file)) << file;
    listed.insert(file);
  }
  for (const auto& entry : fs::directory_iterator(kDeploy)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".yaml" && name != "kustomization.yaml") {
      EXPECT_TRUE(listed.count(name)) << name << " is not in kustomization.yaml";
    }
  }
  for (const auto& d : all_documents()) {
    EXPECT_TRUE(d["apiVersion"] && d["kind"] && d["metadata"]["name"]) << YAML::Dump(d).substr(0, 200);
  }
}

TEST(ManifestsTest, FourDeploymentsEachRunningItsRole) {
  std::set<std::string> roles;
  for (const auto& d : of_kind("Deployment")) {
    const std::string name = d["metadata"]["name"].as<std::string>();
    const auto containers = d["spec"]["template"]["spec"]["containers"];
    ASSERT_EQ(containers.size(), 1u) << name;
    const auto args = containers[0]["args"].as<std::vector<std::string>>();
    ASSERT_EQ(args.size(), 3u) << name;
    EXPECT_EQ(args[0], "run");
    EXPECT_EQ(args[1], "--role");
    const std::string role = args[2];
    EXPECT_EQ(name, "hm-worker-" + role);
    // A role the binary accepts.
    RawConfig raw;
    for (const auto& v : known_variables())
      if (!v.default_value.empty()) raw.set(v.name, v.default_value, ValueOrigin::kDefault);
    raw.set("WORKER_ROLE", role, ValueOrigin::kFlag);
    EXPECT_NO_THROW(parse_config(raw)) << role;
    roles.insert(role);
    EXPECT_EQ(d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"].as<std::string>(), role);
  }
  EXPECT_EQ(roles, (std::set<std::string>{"ingest", "reply", "enrich", "media"}));
}

TEST(ManifestsTest, ConfigMapHoldsOnlyKnownVariablesWithValidValues) {
  const auto data = configmap();
  RawConfig raw;
  for (const auto& v : known_variables())
    if (!v.default_value.empty()) raw.set(v.name, v.default_value, ValueOrigin::kDefault);
  for (const auto& [k, v] : data) {
    const VariableSpec* spec = find_variable(k);
    ASSERT_NE(spec, nullptr) << k << " is not a variable hm-worker knows";
    EXPECT_FALSE(spec->secret) << k << " is a secret and does not belong in a ConfigMap";
    raw.set(k, v, ValueOrigin::kEnvironment);
  }
  EXPECT_NO_THROW(parse_config(raw));
  // Every tuning variable is there, with the binary's default where it has one.
  const std::set<std::string> per_pod = {"WORKER_ROLE", "CONSUMER_NAME", "QUEUE_STREAM", "QUEUE_DEAD_LETTER_STREAM",
                                         "DB_PASSWORD_FILE", "REDIS_PASSWORD_FILE", "GRAPH_ACCESS_TOKEN_FILE",
                                         "DB_SOCKET", "DEAD_LETTER_PATH"};
  const std::set<std::string> deployment_values = {"DB_HOST", "REDIS_URL", "LOG_FORMAT", "REPLY_RULES_PATH"};
  for (const auto& v : known_variables()) {
    if (v.secret || per_pod.count(v.name)) continue;
    ASSERT_TRUE(data.count(v.name)) << v.name << " is missing from the ConfigMap";
    if (!deployment_values.count(v.name)) {
      EXPECT_EQ(data.at(v.name), v.default_value) << v.name;
    }
  }
}

TEST(ManifestsTest, ProbesPortsGraceAndSecurityAgree) {
  const auto data = configmap();
  const int metrics_port = std::stoi(data.at("METRICS_PORT"));
  const int shutdown = std::stoi(data.at("SHUTDOWN_TIMEOUT"));
  for (const auto& d : of_kind("Deployment")) {
    const std::string name = d["metadata"]["name"].as<std::string>();
    const auto pod = d["spec"]["template"]["spec"];
    const auto c = pod["containers"][0];
    std::map<std::string, int> ports;
    for (const auto& p : c["ports"]) ports[p["name"].as<std::string>()] = p["containerPort"].as<int>();
    for (const char* probe : {"livenessProbe", "readinessProbe"}) {
      ASSERT_TRUE(c[probe]) << name << " has no " << probe;
      const auto port = c[probe]["httpGet"]["port"];
      const int number = ports.count(port.as<std::string>()) ? ports[port.as<std::string>()] : port.as<int>();
      EXPECT_EQ(number, metrics_port) << name << " " << probe;
    }
    EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/healthz");
    EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/readyz");
    const auto ann = d["spec"]["template"]["metadata"]["annotations"];
    EXPECT_EQ(ann["prometheus.io/port"].as<int>(), metrics_port) << name;
    EXPECT_EQ(ann["prometheus.io/scrape"].as<std::string>(), "true");
    EXPECT_GT(pod["terminationGracePeriodSeconds"].as<int>(), shutdown) << name;
    EXPECT_EQ(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"].as<int>(), 0) << name;
    EXPECT_TRUE(pod["securityContext"]["runAsNonRoot"].as<bool>()) << name;
    EXPECT_TRUE(c["securityContext"]["readOnlyRootFilesystem"].as<bool>()) << name;
    EXPECT_FALSE(c["securityContext"]["allowPrivilegeEscalation"].as<bool>()) << name;
    EXPECT_TRUE(c["resources"]["requests"]["memory"] && c["resources"]["limits"]["memory"]) << name;
    // The password file is the mounted Secret.
    std::string password_file;
    for (const auto& e : c["env"])
      if (e["name"].as<std::string>() == "DB_PASSWORD_FILE") password_file = e["value"].as<std::string>();
    ASSERT_FALSE(password_file.empty()) << name;
    bool mounted = false;
    for (const auto& m : c["volumeMounts"])
      if (password_file.rfind(m["mountPath"].as<std::string>() + "/", 0) == 0) mounted = true;
    EXPECT_TRUE(mounted) << name << ": " << password_file << " is not under a volume mount";
  }
  EXPECT_EQ(of_kind("PodDisruptionBudget").size(), 4u);
  EXPECT_EQ(of_kind("Secret").size(), 2u);
}

TEST(ManifestsTest, ReplyRulesAreMountedWhereTheConfigMapSaysAndParse) {
  const auto data = configmap();
  const std::string path = data.at("REPLY_RULES_PATH");
  const auto rules = configmap_named("hm-worker-reply-rules");
  const std::string file = path.substr(path.rfind('/') + 1);
  ASSERT_TRUE(rules["data"][file]) << file;
  EXPECT_NO_THROW(ReplyRules::parse(rules["data"][file].as<std::string>(), "deploy/configmap.yaml"));
  for (const auto& d : of_kind("Deployment")) {
    bool mounted = false;
    for (const auto& m : d["spec"]["template"]["spec"]["containers"][0]["volumeMounts"])
      if (path.rfind(m["mountPath"].as<std::string>() + "/", 0) == 0) mounted = true;
    EXPECT_TRUE(mounted) << d["metadata"]["name"].as<std::string>() << " does not mount " << path;
  }
  // The media pods write MEDIA_DIR: it must be a mounted volume (the root filesystem is read-only).
  for (const auto& d : of_kind("Deployment")) {
    if (d["metadata"]["name"].as<std::string>() != "hm-worker-media") continue;
    bool mounted = false;
    for (const auto& m : d["spec"]["template"]["spec"]["containers"][0]["volumeMounts"])
      if (m["mountPath"].as<std::string>() == data.at("MEDIA_DIR")) mounted = true;
    EXPECT_TRUE(mounted);
  }
}

TEST(ManifestsTest, DockerfileBuildsTheBinaryAndRunsAsNonRoot) {
  std::ifstream in(fs::path(HM_SOURCE_DIR) / "Dockerfile");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  EXPECT_NE(text.find("FROM debian:12 AS build"), std::string::npos);
  EXPECT_NE(text.find("FROM debian:12-slim"), std::string::npos);
  EXPECT_NE(text.find("USER 10001"), std::string::npos);
  EXPECT_NE(text.find("ENTRYPOINT [\"/usr/local/bin/hm-worker\"]"), std::string::npos);
}

}  // namespace
}  // namespace hm
