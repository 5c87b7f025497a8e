// deploy/components/redis-tls, rendered on the base and on the example
// overlay: a verifying stunnel sidecar in every pod (the webhook receiver's
// too), the workers on its loopback end, and KEDA reading the lag on the TLS
// port with the same CA, composed with the overlay's Redis password in one TriggerAuthentication.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

#include "config/config.h"
#include "redis/redis_url.h"
#include "rendered.h"

namespace hm::deploy {
namespace {

std::map<std::string, std::string> configmap(const std::vector<YAML::Node>& objects) {
  std::map<std::string, std::string> out;
  for (const auto& kv : find(objects, "ConfigMap", "hm-worker-config")["data"])
    out[kv.first.as<std::string>()] = kv.second.as<std::string>();
  return out;
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
  ASSERT_TRUE(conf.count(""));
  EXPECT_EQ(conf.at("").count("foreground") ? conf.at("").at("foreground") : "", "yes");
  EXPECT_TRUE(conf.at("").count("pid") && conf.at("").at("pid").empty()) << "a pid file needs a writable root";
}

void expect_tunnel_sidecar(const YAML::Node& deployment, const std::vector<YAML::Node>& objects, const StunnelConf& conf) {
  const std::string name = name_of(deployment);
  const auto pod = deployment["spec"]["template"]["spec"];
  ASSERT_EQ(pod["containers"].size(), 1u) << name;
  ASSERT_EQ(pod["initContainers"].size(), 1u) << name;
  const auto c = pod["initContainers"][0];
  // A native sidecar: started (its startupProbe passed) before the worker, stopped after it.
  EXPECT_EQ(c["restartPolicy"].as<std::string>(""), "Always") << name << ": not a native sidecar";
  const std::string accept_port = std::to_string(port_of(conf.at("redis").at("accept")));
  EXPECT_NE(YAML::Dump(c["startupProbe"]["exec"]["command"]).find("/" + accept_port), std::string::npos) << name;
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
  const auto cm = find(objects, "ConfigMap", conf_volume["configMap"]["name"].as<std::string>());
  EXPECT_TRUE(cm["data"][conf_path.substr(conf_path.rfind('/') + 1)]) << name;
  const auto ca_volume = volume_at(conf.at("redis").at("CAfile"));
  ASSERT_TRUE(ca_volume["secret"]) << name << ": the CA does not come from a Secret";
  find(objects, "Secret", ca_volume["secret"]["secretName"].as<std::string>());
}

// Every ScaledObject on the TLS port, authenticated by hm-worker-redis, which
// holds exactly `params`.
void expect_keda_over_tls(const std::vector<YAML::Node>& objects, const StunnelConf& conf,
                          const std::set<std::string>& params) {
  const auto auth = find(objects, "TriggerAuthentication", "hm-worker-redis");
  std::set<std::string> found;
  for (const auto& ref : auth["spec"]["secretTargetRef"]) found.insert(ref["parameter"].as<std::string>());
  EXPECT_EQ(found, params);
  const auto scaled = of_kind(objects, "ScaledObject");
  EXPECT_EQ(scaled.size(), 4u);
  for (const auto& so : scaled) {
    const auto trigger = so["spec"]["triggers"][0];
    EXPECT_EQ(port_of(trigger["metadata"]["address"].as<std::string>()), port_of(conf.at("redis").at("connect")));
    EXPECT_EQ(trigger["authenticationRef"]["name"].as<std::string>(""), "hm-worker-redis");
    EXPECT_FALSE(trigger["metadata"]["enableTLS"]) << "KEDA refuses enableTLS together with a tls TriggerAuthentication";
  }
}

TEST(ManifestsTest, RedisTlsComponentAddsAVerifyingTunnelAndPointsWorkersAndKedaAtTls) {
  const auto objects = render_with_components("base", {"redis-tls"});
  ASSERT_FALSE(objects.empty());
  const auto conf = parse_stunnel(find(objects, "ConfigMap", "hm-redis-tunnel")["data"]["stunnel.conf"].as<std::string>());
  expect_verifying_client(conf);
  expect_verifying_client(parse_stunnel(read_text(deploy_dir() / "components" / "redis-tls" / "stunnel.conf")));
  const auto deployments = of_kind(objects, "Deployment");
  ASSERT_EQ(deployments.size(), 5u);  // the four roles and the webhook receiver (it talks to Redis too)
  for (const auto& d : deployments) expect_tunnel_sidecar(d, objects, conf);
  // The workers' configuration, rendered: valid, and Redis is the tunnel.
  const auto data = configmap(objects);
  EXPECT_NO_THROW(parse_config(raw_config(data)));
  const auto url = redis::parse_redis_url(data.at("REDIS_URL"));
  EXPECT_EQ(url.host, "127.0.0.1");
  EXPECT_EQ(url.port, port_of(conf.at("redis").at("accept")));
  // KEDA reads the lag over TLS itself, with the tunnel's CA.
  expect_keda_over_tls(objects, conf, {"tls", "ca"});
}

// The example overlay (Redis AUTH) with the component: the password and the
// CA compose in one TriggerAuthentication, and the workers still use the tunnel.
TEST(ManifestsTest, RedisTlsComponentComposesWithTheExampleOverlaysRedisPassword) {
  const auto objects = render_with_components("overlays/example", {"redis-tls"});
  ASSERT_FALSE(objects.empty());
  const auto conf = parse_stunnel(find(objects, "ConfigMap", "hm-redis-tunnel")["data"]["stunnel.conf"].as<std::string>());
  expect_keda_over_tls(objects, conf, {"password", "tls", "ca"});
  EXPECT_EQ(redis::parse_redis_url(configmap(objects).at("REDIS_URL")).host, "127.0.0.1");
}

}  // namespace
}  // namespace hm::deploy
