// deploy/ as Kubernetes would read it (`kubectl kustomize`): every Deployment
// runs a role that exists with a configuration the binary accepts, the
// generated ConfigMap holds every variable, probes, ports, grace periods and
// Pod Security agree, the migrate Job runs as the DDL account, the base holds
// no Secret and the example overlay provides every Secret the pods mount, by
// an image digest. The connection budget and KEDA: budget_test.cpp; alerts:
// monitoring_test.cpp; the Redis TLS component: redis_tls_test.cpp; the
// webhook receiver's own objects: webhook_test.cpp.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "config/config.h"
#include "rendered.h"
#include "rules/reply_rules.h"

namespace hm::deploy {
namespace {

const std::vector<YAML::Node>& base() { return render(deploy_dir()); }
const std::vector<YAML::Node>& example() { return render(deploy_dir() / "overlays" / "example"); }

YAML::Node worker_container(const YAML::Node& deployment) {
  return deployment["spec"]["template"]["spec"]["containers"][0];
}

std::map<std::string, std::string> configmap(const std::vector<YAML::Node>& objects) {
  std::map<std::string, std::string> out;
  for (const auto& kv : find(objects, "ConfigMap", "hm-worker-config")["data"])
    out[kv.first.as<std::string>()] = kv.second.as<std::string>();
  return out;
}

TEST(ManifestsTest, DeployRendersTheBaseAndEveryFileOfTheBaseIsUsed) {
  ASSERT_FALSE(base().empty());
  const YAML::Node k = YAML::LoadFile((deploy_dir() / "base" / "kustomization.yaml").string());
  EXPECT_EQ(k["namespace"].as<std::string>(), "hm");
  std::set<std::string> used;
  for (const auto& r : k["resources"]) used.insert(r.as<std::string>());
  for (const auto& g : k["configMapGenerator"]) {
    for (const auto& f : g["envs"]) used.insert(f.as<std::string>());
    for (const auto& f : g["files"]) used.insert(f.as<std::string>());
  }
  for (const auto& entry : fs::directory_iterator(deploy_dir() / "base")) {
    const std::string name = entry.path().filename().string();
    if (name != "kustomization.yaml") {
      EXPECT_TRUE(used.count(name)) << name << " is not used by base/kustomization.yaml";
    }
  }
  for (const auto& o : base()) {
    EXPECT_TRUE(o["apiVersion"] && o["kind"] && o["metadata"]["name"]) << YAML::Dump(o).substr(0, 200);
    if (o["kind"].as<std::string>() != "Namespace") {
      EXPECT_EQ(o["metadata"]["namespace"].as<std::string>(""), "hm") << name_of(o);
    }
  }
}

// The receiver: no database, no reply rules (commands/webhook.cpp).
bool is_webhook(const YAML::Node& deployment) { return name_of(deployment) == "hm-worker-webhook"; }

TEST(ManifestsTest, FiveDeploymentsEachRunningItsRoleWithAConfigurationTheBinaryAccepts) {
  std::set<std::string> roles;
  for (const auto& d : of_kind(base(), "Deployment")) {
    const std::string name = name_of(d);
    ASSERT_EQ(d["spec"]["template"]["spec"]["containers"].size(), 1u) << name;
    const auto args = worker_container(d)["args"].as<std::vector<std::string>>();
    ASSERT_EQ(args.size(), 3u) << name;
    EXPECT_EQ(args[0], "run");
    EXPECT_EQ(args[1], "--role");
    const std::string role = args[2];
    EXPECT_EQ(name, "hm-worker-" + role);
    // What the pod's process gets: ConfigMap, then its own env, then --role.
    auto env = effective_env(base(), worker_container(d));
    for (const auto& [k, v] : env) EXPECT_NE(find_variable(k), nullptr) << name << ": " << k << " is not a variable hm-worker knows";
    RawConfig raw = raw_config(env);
    raw.set("WORKER_ROLE", role, ValueOrigin::kFlag);
    Config cfg;
    EXPECT_NO_THROW(cfg = parse_config(raw)) << name;
    EXPECT_EQ(cfg.webhook.enabled, role == "webhook") << name;
    roles.insert(role);
    EXPECT_EQ(d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"].as<std::string>(), role);
    // KEDA (or the receiver's HPA) owns the replica count: an apply must not reset it.
    EXPECT_FALSE(d["spec"]["replicas"]) << name << " sets replicas; its autoscaler decides them";
  }
  EXPECT_EQ(roles, (std::set<std::string>{"ingest", "reply", "enrich", "media", "webhook"}));
}

TEST(ManifestsTest, GeneratedConfigMapHoldsEveryVariableWithTheBinarysDefault) {
  const auto data = configmap(base());
  ASSERT_FALSE(data.empty());
  for (const auto& [k, v] : data) {
    const VariableSpec* spec = find_variable(k);
    ASSERT_NE(spec, nullptr) << k << " is not a variable hm-worker knows";
    EXPECT_FALSE(spec->secret) << k << " is a secret and does not belong in a ConfigMap";
  }
  EXPECT_NO_THROW(parse_config(raw_config(data)));
  const std::set<std::string> per_pod = {"WORKER_ROLE", "CONSUMER_NAME", "QUEUE_STREAM", "QUEUE_DEAD_LETTER_STREAM",
                                         "DB_PASSWORD_FILE", "REDIS_PASSWORD_FILE", "GRAPH_ACCESS_TOKEN_FILE",
                                         "DB_SOCKET", "DEAD_LETTER_PATH"};
  const std::set<std::string> deployment_values = {"DB_HOST", "REDIS_URL", "LOG_FORMAT", "REPLY_RULES_PATH"};
  for (const auto& v : known_variables()) {
    if (v.secret || per_pod.count(v.name)) continue;
    ASSERT_TRUE(data.count(v.name)) << v.name << " is missing from deploy/base/hm-worker.env";
    if (!deployment_values.count(v.name)) {
      EXPECT_EQ(data.at(v.name), v.default_value) << v.name;
    }
  }
  // Generated: a hash in the name, so that a changed setting rolls the pods.
  EXPECT_NE(name_of(find(base(), "ConfigMap", "hm-worker-config")), "hm-worker-config");
}

// node[a][b] as text, "" when either is missing.
std::string at2(const YAML::Node& node, const char* a, const char* b) {
  const YAML::Node first = node[a];
  if (!first || !first.IsMap()) return "";
  const YAML::Node second = first[b];
  return second ? YAML::Dump(second) : "";
}

// Pod Security "restricted", container by container (the namespace enforces it).
void expect_restricted(const YAML::Node& pod, const YAML::Node& c, const std::string& where) {
  const YAML::Node psc = pod["securityContext"] ? pod["securityContext"] : YAML::Node(YAML::NodeType::Map);
  const YAML::Node sc = c["securityContext"] ? c["securityContext"] : YAML::Node(YAML::NodeType::Map);
  EXPECT_TRUE(sc["runAsNonRoot"].as<bool>(false) || psc["runAsNonRoot"].as<bool>(false)) << where;
  EXPECT_FALSE(sc["allowPrivilegeEscalation"].as<bool>(true)) << where;
  EXPECT_EQ(at2(sc, "capabilities", "drop"), "- ALL") << where;
  const std::string seccomp = at2(sc, "seccompProfile", "type");
  EXPECT_EQ(seccomp.empty() ? at2(psc, "seccompProfile", "type") : seccomp, "RuntimeDefault") << where;
  EXPECT_TRUE(sc["readOnlyRootFilesystem"].as<bool>(false)) << where;
  EXPECT_TRUE(c["resources"]["requests"]["memory"] && c["resources"]["limits"]["memory"]) << where;
}

void expect_all_restricted(const std::vector<YAML::Node>& objects) {
  for (const char* kind : {"Deployment", "Job"}) {
    for (const auto& o : of_kind(objects, kind)) {
      const auto pod = o["spec"]["template"]["spec"];
      EXPECT_FALSE(pod["automountServiceAccountToken"].as<bool>(true)) << name_of(o);
      for (const char* list : {"containers", "initContainers"})
        for (const auto& c : pod[list]) expect_restricted(pod, c, name_of(o) + "/" + c["name"].as<std::string>());
    }
  }
}

TEST(ManifestsTest, EveryPodMeetsPodSecurityRestrictedWhichTheNamespaceEnforces) {
  const auto ns = find(base(), "Namespace", "hm");
  EXPECT_EQ(ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"].as<std::string>(""), "restricted");
  expect_all_restricted(base());
  expect_all_restricted(render_with_components("base", {"redis-tls"}));  // the tunnel sidecar too
}

TEST(ManifestsTest, ProbesPortsGraceSpreadAndDisruptionBudgetsAgree) {
  for (const auto& d : of_kind(base(), "Deployment")) {
    const std::string name = name_of(d);
    const auto pod = d["spec"]["template"]["spec"];
    const auto c = worker_container(d);
    const auto env = effective_env(base(), c);
    const int metrics_port = std::stoi(env.at("METRICS_PORT"));
    std::map<std::string, int> ports;
    for (const auto& p : c["ports"]) ports[p["name"].as<std::string>()] = p["containerPort"].as<int>();
    for (const char* probe : {"startupProbe", "livenessProbe", "readinessProbe"}) {
      ASSERT_TRUE(c[probe]) << name << " has no " << probe;
      const auto port = c[probe]["httpGet"]["port"];
      const int number = ports.count(port.as<std::string>()) ? ports[port.as<std::string>()] : port.as<int>();
      EXPECT_EQ(number, metrics_port) << name << " " << probe;
    }
    EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/healthz");
    EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/readyz");
    EXPECT_EQ(d["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"].as<int>(), metrics_port) << name;
    // The kubelet SIGKILLs only after the worker's own stop (its env's
    // SHUTDOWN_TIMEOUT; the receiver's drain on top, to be safe).
    const int drain = is_webhook(d) ? std::stoi(env.at("WEBHOOK_DRAIN_SECONDS")) : 0;
    EXPECT_GT(pod["terminationGracePeriodSeconds"].as<int>(), std::stoi(env.at("SHUTDOWN_TIMEOUT")) + drain) << name;
    EXPECT_EQ(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"].as<int>(), 0) << name;
    std::set<std::string> spread;
    for (const auto& t : pod["topologySpreadConstraints"]) spread.insert(t["topologyKey"].as<std::string>());
    EXPECT_EQ(spread, (std::set<std::string>{"kubernetes.io/hostname", "topology.kubernetes.io/zone"})) << name;
    // The password file is the mounted Secret (the receiver's secret files: webhook_test.cpp).
    if (is_webhook(d)) {
      EXPECT_FALSE(env.count("DB_PASSWORD_FILE")) << name << " opens no database connection";
      continue;
    }
    ASSERT_TRUE(env.count("DB_PASSWORD_FILE")) << name;
    bool mounted = false;
    for (const auto& m : c["volumeMounts"])
      if (env.at("DB_PASSWORD_FILE").rfind(m["mountPath"].as<std::string>() + "/", 0) == 0) mounted = true;
    EXPECT_TRUE(mounted) << name << ": DB_PASSWORD_FILE is not under a volume mount";
  }
  const auto pdbs = of_kind(base(), "PodDisruptionBudget");
  EXPECT_EQ(pdbs.size(), of_kind(base(), "Deployment").size());
  for (const auto& p : pdbs) EXPECT_EQ(p["spec"]["unhealthyPodEvictionPolicy"].as<std::string>(""), "AlwaysAllow") << name_of(p);
}

TEST(ManifestsTest, MediaWaitsForADownloadInFlightBeforeStopping) {
  const auto d = find(base(), "Deployment", "hm-worker-media");
  const auto env = effective_env(base(), worker_container(d));
  const int media_timeout = std::stoi(env.at("MEDIA_TIMEOUT"));
  const int shutdown = std::stoi(env.at("SHUTDOWN_TIMEOUT"));
  EXPECT_EQ(env.at("INGEST_BATCH_SIZE"), "1") << "a stop finishes every job it has read";
  // The read, not only the batch: QUEUE_READ_COUNT defaults to 50 when unset.
  EXPECT_EQ(env.at("QUEUE_READ_COUNT"), "1") << "a stop finishes every job it has read";
  EXPECT_GE(shutdown, 2 * media_timeout) << "SHUTDOWN_TIMEOUT must cover a download in flight and the next attachment";
  EXPECT_GT(d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].as<int>(), shutdown);
  EXPECT_GT(std::stoi(env.at("QUEUE_VISIBILITY_TIMEOUT")), shutdown);
}

TEST(ManifestsTest, ReplyRulesAreMountedWhereTheConfigSaysAndParse) {
  const auto rules = find(base(), "ConfigMap", "hm-worker-reply-rules");
  for (const auto& d : of_kind(base(), "Deployment")) {
    if (is_webhook(d)) continue;  // reads no rules
    const auto env = effective_env(base(), worker_container(d));
    const std::string path = env.at("REPLY_RULES_PATH");
    const std::string file = path.substr(path.rfind('/') + 1);
    ASSERT_TRUE(rules["data"][file]) << file;
    EXPECT_NO_THROW(ReplyRules::parse(rules["data"][file].as<std::string>(), "deploy/base/reply-rules.json"));
    bool mounted = false;
    for (const auto& m : worker_container(d)["volumeMounts"])
      if (path.rfind(m["mountPath"].as<std::string>() + "/", 0) == 0) mounted = true;
    EXPECT_TRUE(mounted) << name_of(d) << " does not mount " << path;
    if (name_of(d) == "hm-worker-media") {  // MEDIA_DIR is written: a volume (the root is read-only)
      bool media = false;
      for (const auto& m : worker_container(d)["volumeMounts"])
        if (m["mountPath"].as<std::string>() == env.at("MEDIA_DIR")) media = true;
      EXPECT_TRUE(media);
    }
  }
  const auto pvc = find(base(), "PersistentVolumeClaim", "hm-worker-media");
  EXPECT_EQ(YAML::Dump(pvc["spec"]["accessModes"]), "- ReadWriteMany");
  EXPECT_FALSE(pvc["spec"]["storageClassName"].as<std::string>("").empty()) << "name an RWX-capable class";
}

TEST(ManifestsTest, MigrateJobRunsAsTheDdlAccountWithItsOwnSecret) {
  const auto jobs = of_kind(base(), "Job");
  ASSERT_EQ(jobs.size(), 1u);
  const auto c = jobs[0]["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(c["args"].as<std::vector<std::string>>(), std::vector<std::string>{"migrate"});
  const auto env = effective_env(base(), c);
  EXPECT_FALSE(env.at("DB_MIGRATE_USER").empty());
  EXPECT_NE(env.at("DB_MIGRATE_USER"), env.at("DB_USER")) << "the workers' account needs no DDL";
  EXPECT_NO_THROW(parse_config(raw_config(env)));
  const std::string file = env.at("DB_MIGRATE_PASSWORD_FILE");
  std::string volume;
  for (const auto& m : c["volumeMounts"])
    if (file.rfind(m["mountPath"].as<std::string>() + "/", 0) == 0) volume = m["name"].as<std::string>();
  ASSERT_FALSE(volume.empty()) << file << " is not under a volume mount";
  for (const auto& v : jobs[0]["spec"]["template"]["spec"]["volumes"]) {
    if (v["name"].as<std::string>() == volume) {
      EXPECT_EQ(v["secret"]["secretName"].as<std::string>(""), "hm-worker-db-migrate");
    }
  }
}

TEST(ManifestsTest, NetworkPolicyOpensOnlyDnsDatabaseRedisHttpsAndMetrics) {
  ASSERT_EQ(of_kind(base(), "NetworkPolicy").size(), 2u);  // and the receiver's: webhook_test.cpp
  const auto spec = find(base(), "NetworkPolicy", "hm-worker")["spec"];
  EXPECT_EQ(spec["podSelector"]["matchLabels"]["app.kubernetes.io/name"].as<std::string>(), "hm-worker");
  // Not the receiver: policies add up, and it must get only its own.
  const auto except = spec["podSelector"]["matchExpressions"][0];
  EXPECT_EQ(except["key"].as<std::string>(""), "app.kubernetes.io/component");
  EXPECT_EQ(except["operator"].as<std::string>(""), "NotIn");
  EXPECT_EQ(YAML::Dump(except["values"]), "- webhook");
  std::set<std::string> egress;
  for (const auto& rule : spec["egress"])
    for (const auto& p : rule["ports"]) egress.insert(p["protocol"].as<std::string>() + "/" + p["port"].as<std::string>());
  EXPECT_EQ(egress, (std::set<std::string>{"UDP/53", "TCP/53", "TCP/3306", "TCP/6379", "TCP/6380", "TCP/443"}));
  ASSERT_EQ(spec["ingress"].size(), 1u);
  EXPECT_EQ(spec["ingress"][0]["ports"][0]["port"].as<int>(), std::stoi(configmap(base()).at("METRICS_PORT")));
  EXPECT_EQ(spec["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"].as<std::string>(),
            "monitoring");
}

// Every Secret a pod of `objects` mounts.
std::set<std::string> mounted_secrets(const std::vector<YAML::Node>& objects) {
  std::set<std::string> out;
  for (const char* kind : {"Deployment", "Job"})
    for (const auto& o : of_kind(objects, kind))
      for (const auto& v : o["spec"]["template"]["spec"]["volumes"])
        if (v["secret"]) out.insert(v["secret"]["secretName"].as<std::string>());
  return out;
}

TEST(ManifestsTest, BaseHoldsNoSecretAndTheExampleOverlayProvidesEveryOneByDigest) {
  EXPECT_TRUE(of_kind(base(), "Secret").empty()) << "applying the base would overwrite a real Secret";
  ASSERT_FALSE(example().empty());
  std::set<std::string> secrets;
  for (const auto& s : of_kind(example(), "Secret")) secrets.insert(name_of(s));
  for (const auto& name : mounted_secrets(example())) EXPECT_TRUE(secrets.count(name)) << name << " is mounted but not provided";
  for (const auto& t : of_kind(example(), "TriggerAuthentication"))
    for (const auto& ref : t["spec"]["secretTargetRef"]) EXPECT_TRUE(secrets.count(ref["name"].as<std::string>()));
  for (const char* kind : {"Deployment", "Job"})
    for (const auto& o : of_kind(example(), kind))
      for (const auto& c : o["spec"]["template"]["spec"]["containers"])
        EXPECT_NE(c["image"].as<std::string>().find("@sha256:"), std::string::npos) << name_of(o) << ": not by digest";
}

TEST(ManifestsTest, DockerfileBuildsTheBinaryAndRunsAsNonRoot) {
  const std::string text = read_text(fs::path(HM_SOURCE_DIR) / "Dockerfile");
  EXPECT_NE(text.find("FROM debian:12 AS build"), std::string::npos);
  EXPECT_NE(text.find("FROM debian:12-slim"), std::string::npos);
  EXPECT_NE(text.find("USER 10001"), std::string::npos);
  EXPECT_NE(text.find("ENTRYPOINT [\"/usr/local/bin/hm-worker\"]"), std::string::npos);
}

}  // namespace
}  // namespace hm::deploy
