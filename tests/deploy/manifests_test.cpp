// deploy/ as Kubernetes would read it: the manifests parse, every Deployment
// runs a role that exists, the ConfigMap holds only variables the binary
// knows (with values it accepts), and probes, ports and grace periods agree;
// the optional Redis TLS component adds a verifying tunnel sidecar to each pod.
#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "config/config.h"
#include "redis/redis_url.h"
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

// --- The optional Redis TLS tunnel (deploy/components/redis-tls) ---

const fs::path kRedisTls = kDeploy / "components" / "redis-tls";

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim_spaces(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// stunnel's configuration: "key = value" lines, ';' or '#' comments, [service]
// sections. Keys of the global part are under "".
using StunnelConf = std::map<std::string, std::map<std::string, std::string>>;
StunnelConf parse_stunnel(const std::string& text) {
  StunnelConf conf;
  std::string section;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    line = trim_spaces(line);
    if (line.empty() || line[0] == ';' || line[0] == '#') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = line.substr(1, line.size() - 2);
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string::npos) {
      ADD_FAILURE() << "stunnel.conf: not key = value: " << line;
      continue;
    }
    conf[section][trim_spaces(line.substr(0, eq))] = trim_spaces(line.substr(eq + 1));
  }
  return conf;
}

int port_of(const std::string& host_port) { return std::stoi(host_port.substr(host_port.rfind(':') + 1)); }

// The tunnel must verify the server: without verify = 2 (or verifyChain) and
// checkHost, stunnel accepts any certificate and TLS only hides the traffic
// from passers-by, not from whoever answers on the Redis address.
void expect_verifying_client(const StunnelConf& conf) {
  ASSERT_TRUE(conf.count("redis")) << "no [redis] service";
  const auto& s = conf.at("redis");
  const auto get = [&](const std::string& k) { return s.count(k) ? s.at(k) : std::string(); };
  EXPECT_EQ(get("client"), "yes");
  EXPECT_TRUE(get("verify") == "2" || get("verifyChain") == "yes") << "the certificate chain is not verified";
  EXPECT_FALSE(get("checkHost").empty()) << "the server's name is not checked";
  EXPECT_FALSE(get("CAfile").empty()) << "no CA to verify against";
  EXPECT_EQ(get("accept").rfind("127.0.0.1:", 0), 0u) << "the plain end must listen on loopback only";
  EXPECT_FALSE(get("connect").empty());
  // In a container: the foreground, logs to stderr, no pid file (read-only root).
  ASSERT_TRUE(conf.count(""));
  EXPECT_EQ(conf.at("").count("foreground") ? conf.at("").at("foreground") : "", "yes");
  EXPECT_TRUE(conf.at("").count("pid") && conf.at("").at("pid").empty()) << "a pid file needs a writable root";
}

TEST(ManifestsTest, RedisTlsComponentListsItsFilesAndItsTunnelVerifiesTheServer) {
  const YAML::Node k = YAML::LoadFile((kRedisTls / "kustomization.yaml").string());
  EXPECT_EQ(k["kind"].as<std::string>(), "Component");
  for (const auto& r : k["resources"]) EXPECT_TRUE(fs::exists(kRedisTls / r.as<std::string>())) << r;
  for (const auto& p : k["patches"]) EXPECT_TRUE(fs::exists(kRedisTls / p["path"].as<std::string>())) << p;
  for (const auto& g : k["configMapGenerator"])
    for (const auto& f : g["files"]) EXPECT_TRUE(fs::exists(kRedisTls / f.as<std::string>())) << f;
  expect_verifying_client(parse_stunnel(read_text(kRedisTls / "stunnel.conf")));
  // The workers' REDIS_URL is plain Redis to the tunnel's loopback end.
  const auto patch = YAML::LoadFile((kRedisTls / "redis-url-patch.yaml").string());
  const auto url = redis::parse_redis_url(patch["data"]["REDIS_URL"].as<std::string>());
  EXPECT_EQ(url.host, "127.0.0.1");
  EXPECT_EQ(url.port, port_of(parse_stunnel(read_text(kRedisTls / "stunnel.conf"))["redis"]["accept"]));
}

// deploy/ plus the component, as `kubectl kustomize` renders it, from an
// overlay outside deploy/ (kustomize refuses one inside its base). Empty when
// kubectl is not installed or cannot render components.
std::string render_with_redis_tls() {
  if (std::system("kubectl version --client >/dev/null 2>&1") != 0) return "";
  const fs::path overlay = fs::temp_directory_path() / ("hm-kustomize-" + std::to_string(::getpid()));
  fs::create_directories(overlay);
  const std::string base = fs::relative(kDeploy, overlay).string();
  std::ofstream(overlay / "kustomization.yaml") << "apiVersion: kustomize.config.k8s.io/v1beta1\n"
                                                   "kind: Kustomization\nresources:\n  - "
                                                << base << "\ncomponents:\n  - " << base
                                                << "/components/redis-tls\n";
  std::string out;
  if (FILE* p = ::popen(("kubectl kustomize " + overlay.string() + " 2>&1").c_str(), "r")) {
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    if (::pclose(p) != 0) ADD_FAILURE() << "kubectl kustomize failed:\n" << out;
  }
  fs::remove_all(overlay);
  return out;
}

void expect_tunnel_sidecar(const YAML::Node& deployment, const std::map<std::string, YAML::Node>& objects,
                           const StunnelConf& conf) {
  const std::string name = deployment["metadata"]["name"].as<std::string>();
  const auto pod = deployment["spec"]["template"]["spec"];
  ASSERT_EQ(pod["containers"].size(), 1u) << name;
  EXPECT_EQ(pod["containers"][0]["name"].as<std::string>(), "hm-worker") << name;
  ASSERT_EQ(pod["initContainers"].size(), 1u) << name;
  const auto c = pod["initContainers"][0];
  // A native sidecar: started (its startupProbe passed) before the worker, stopped after it.
  EXPECT_EQ(c["restartPolicy"].as<std::string>(""), "Always") << name << ": not a native sidecar";
  const std::string accept_port = std::to_string(port_of(conf.at("redis").at("accept")));
  EXPECT_NE(YAML::Dump(c["startupProbe"]["exec"]["command"]).find("/" + accept_port), std::string::npos)
      << name << ": the startupProbe does not check the tunnel's port";
  EXPECT_TRUE(c["securityContext"]["runAsNonRoot"].as<bool>()) << name;
  EXPECT_TRUE(c["securityContext"]["readOnlyRootFilesystem"].as<bool>()) << name;
  EXPECT_FALSE(c["securityContext"]["allowPrivilegeEscalation"].as<bool>()) << name;
  EXPECT_TRUE(c["resources"]["requests"]["memory"] && c["resources"]["limits"]["memory"]) << name;
  // The volume mounted over `path` in the sidecar.
  const auto volume_at = [&](const std::string& path) -> YAML::Node {
    for (const auto& m : c["volumeMounts"]) {
      if (path.rfind(m["mountPath"].as<std::string>() + "/", 0) != 0) continue;
      for (const auto& v : pod["volumes"])
        if (v["name"].as<std::string>() == m["name"].as<std::string>()) return v;
    }
    ADD_FAILURE() << name << ": nothing mounted over " << path;
    return YAML::Node();
  };
  const std::string conf_path = c["args"][0].as<std::string>();
  const auto conf_volume = volume_at(conf_path);
  ASSERT_TRUE(conf_volume["configMap"]) << name;
  const std::string cm = "ConfigMap/" + conf_volume["configMap"]["name"].as<std::string>();
  ASSERT_TRUE(objects.count(cm)) << name << " mounts a missing " << cm;
  EXPECT_TRUE(objects.at(cm)["data"][conf_path.substr(conf_path.rfind('/') + 1)]) << cm;
  const auto ca_volume = volume_at(conf.at("redis").at("CAfile"));
  ASSERT_TRUE(ca_volume["secret"]) << name << ": the CA does not come from a Secret";
  EXPECT_TRUE(objects.count("Secret/" + ca_volume["secret"]["secretName"].as<std::string>())) << name;
}

TEST(ManifestsTest, RedisTlsComponentAddsAVerifyingTunnelSidecarToEveryDeployment) {
  const std::string rendered = render_with_redis_tls();
  if (rendered.empty()) GTEST_SKIP() << "kubectl (with kustomize components) is not installed";
  std::map<std::string, YAML::Node> objects;
  std::vector<YAML::Node> deployments;
  for (const auto& d : YAML::LoadAll(rendered)) {
    EXPECT_EQ(d["metadata"]["namespace"].as<std::string>("hm"), "hm") << YAML::Dump(d["metadata"]);
    if (d["kind"].as<std::string>() != "Namespace") {
      EXPECT_TRUE(d["metadata"]["namespace"]) << d["metadata"]["name"] << " has no namespace";
    }
    objects[d["kind"].as<std::string>() + "/" + d["metadata"]["name"].as<std::string>()] = d;
    if (d["kind"].as<std::string>() == "Deployment") deployments.push_back(d);
  }
  ASSERT_TRUE(objects.count("ConfigMap/hm-redis-tunnel"));
  const auto conf = parse_stunnel(objects["ConfigMap/hm-redis-tunnel"]["data"]["stunnel.conf"].as<std::string>());
  expect_verifying_client(conf);
  ASSERT_EQ(deployments.size(), 4u);
  for (const auto& d : deployments) expect_tunnel_sidecar(d, objects, conf);
  // The workers' configuration, rendered: valid, and Redis is the tunnel.
  RawConfig raw;
  for (const auto& v : known_variables())
    if (!v.default_value.empty()) raw.set(v.name, v.default_value, ValueOrigin::kDefault);
  for (const auto& kv : objects["ConfigMap/hm-worker-config"]["data"])
    raw.set(kv.first.as<std::string>(), kv.second.as<std::string>(), ValueOrigin::kEnvironment);
  EXPECT_NO_THROW(parse_config(raw));
  const auto url = redis::parse_redis_url(objects["ConfigMap/hm-worker-config"]["data"]["REDIS_URL"].as<std::string>());
  EXPECT_EQ(url.host, "127.0.0.1");
  EXPECT_EQ(url.port, port_of(conf.at("redis").at("accept")));
}

}  // namespace
}  // namespace hm
