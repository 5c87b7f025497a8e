#pragma once
// deploy/ as a cluster receives it: `kubectl kustomize` of a directory, parsed
// into objects, and what a container really gets as its environment. Shared by
// the deploy tests. kubectl is required (scripts/bootstrap installs it): a
// missing kubectl fails the tests instead of skipping them.
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "config/config.h"

namespace hm::deploy {

namespace fs = std::filesystem;

fs::path deploy_dir();

// The objects `kubectl kustomize` makes of `dir`; a failed render adds a
// GoogleTest failure and returns nothing. Cached per directory.
const std::vector<YAML::Node>& render(const fs::path& dir);

// deploy/`of` (base, overlays/example) plus the given components, through an
// overlay made outside deploy/ (kustomize refuses an overlay inside the tree
// it builds on).
std::vector<YAML::Node> render_with_components(const std::string& of, const std::vector<std::string>& components);

std::vector<YAML::Node> of_kind(const std::vector<YAML::Node>& objects, const std::string& kind);
// The object of that kind whose name is `name`, or whose generated name is
// `name` plus kustomize's hash suffix ("-" and 10 characters).
YAML::Node find(const std::vector<YAML::Node>& objects, const std::string& kind, const std::string& name);
std::string name_of(const YAML::Node& object);

// The environment of a container of a pod template: its envFrom
// ConfigMaps (looked up in `objects`) overridden by its own `env` values.
std::map<std::string, std::string> effective_env(const std::vector<YAML::Node>& objects, const YAML::Node& container);

// The binary's defaults, then `env` (less *_PASSWORD_FILE: the Secrets are
// not mounted in a test), as parse_config() takes them.
RawConfig raw_config(const std::map<std::string, std::string>& env);

std::string read_text(const fs::path& p);

}  // namespace hm::deploy
