#include "rendered.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "config/config.h"

namespace hm::deploy {

fs::path deploy_dir() { return fs::path(HM_SOURCE_DIR) / "deploy"; }

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

std::vector<YAML::Node> kustomize(const fs::path& dir) {
  std::string out;
  const std::string command = "kubectl kustomize '" + dir.string() + "' 2>&1";
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) {
    ADD_FAILURE() << "cannot run " << command;
    return {};
  }
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  if (::pclose(p) != 0) {
    ADD_FAILURE() << command << " failed (kubectl comes from scripts/bootstrap):\n" << out;
    return {};
  }
  std::vector<YAML::Node> objects;
  for (const auto& d : YAML::LoadAll(out))
    if (d.IsMap()) objects.push_back(d);
  return objects;
}

}  // namespace

const std::vector<YAML::Node>& render(const fs::path& dir) {
  static std::map<std::string, std::vector<YAML::Node>> cache;
  auto it = cache.find(dir.string());
  if (it == cache.end()) it = cache.emplace(dir.string(), kustomize(dir)).first;
  return it->second;
}

std::vector<YAML::Node> render_with_components(const std::string& of, const std::vector<std::string>& components) {
  const fs::path overlay = fs::temp_directory_path() / ("hm-kustomize-" + std::to_string(::getpid()));
  fs::create_directories(overlay);
  const std::string base = fs::relative(deploy_dir(), overlay).string();
  std::ofstream k(overlay / "kustomization.yaml");
  k << "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - " << base << "/" << of << "\n";
  k << "components:\n";
  for (const auto& c : components) k << "  - " << base << "/components/" << c << "\n";
  k.close();
  auto objects = kustomize(overlay);
  fs::remove_all(overlay);
  return objects;
}

std::vector<YAML::Node> of_kind(const std::vector<YAML::Node>& objects, const std::string& kind) {
  std::vector<YAML::Node> out;
  for (const auto& o : objects)
    if (o["kind"].as<std::string>("") == kind) out.push_back(o);
  return out;
}

std::string name_of(const YAML::Node& object) { return object["metadata"]["name"].as<std::string>(""); }

YAML::Node find(const std::vector<YAML::Node>& objects, const std::string& kind, const std::string& name) {
  for (const auto& o : of_kind(objects, kind)) {
    const std::string n = name_of(o);
    if (n == name || (n.size() == name.size() + 11 && n.rfind(name + "-", 0) == 0)) return o;
  }
  ADD_FAILURE() << "no " << kind << " " << name;
  return YAML::Node();
}

std::map<std::string, std::string> effective_env(const std::vector<YAML::Node>& objects, const YAML::Node& container) {
  std::map<std::string, std::string> env;
  for (const auto& from : container["envFrom"]) {
    if (!from["configMapRef"]) continue;
    const std::string cm = from["configMapRef"]["name"].as<std::string>();
    bool found = false;
    for (const auto& o : of_kind(objects, "ConfigMap")) {
      if (name_of(o) != cm) continue;
      found = true;
      for (const auto& kv : o["data"]) env[kv.first.as<std::string>()] = kv.second.as<std::string>();
    }
    EXPECT_TRUE(found) << "envFrom names a ConfigMap that is not rendered: " << cm;
  }
  for (const auto& e : container["env"])
    if (e["value"]) env[e["name"].as<std::string>()] = e["value"].as<std::string>();
  return env;
}

RawConfig raw_config(const std::map<std::string, std::string>& env) {
  RawConfig raw;
  for (const auto& v : known_variables())
    if (!v.default_value.empty()) raw.set(v.name, v.default_value, ValueOrigin::kDefault);
  for (const auto& [k, v] : env) {
    // Password files are the mounted Secrets, not there in a test: the tests
    // check they are under a Secret's mount instead.
    if (k.size() > 14 && k.compare(k.size() - 14, 14, "_PASSWORD_FILE") == 0) continue;
    raw.set(k, v, ValueOrigin::kEnvironment);
  }
  return raw;
}

}  // namespace hm::deploy
