#include "commands/role_factory.h"

#include <spdlog/spdlog.h>

#include <optional>

#include "http/curl_client.h"
#include "ingest/ingest_service.h"
#include "mysql/role_store.h"
#include "graph/graph_api.h"
#include "roles/enrich.h"
#include "roles/media.h"
#include "roles/reply.h"

namespace hm::commands {
namespace {

GraphOptions graph_options(const Config& cfg) {
  GraphOptions o;
  o.base = cfg.roles.graph_base;
  o.timeout = cfg.roles.graph_timeout;
  o.retry.max_attempts = cfg.roles.graph_retry_attempts;
  o.rate_limit_pause = cfg.roles.graph_rate_limit_pause;
  o.auth_pause = cfg.roles.graph_auth_pause;
  return o;
}

// The /readyz lines of the accounts whose Graph calls are held back.
std::vector<std::string> graph_notes(GraphApi* graph) {
  std::vector<std::string> out;
  if (!graph) return out;
  for (const AccountBlock& b : graph->blocked_accounts()) out.push_back(describe(b));
  return out;
}

MediaOptions media_options(const Config& cfg) {
  MediaOptions o;
  o.dir = cfg.roles.media_dir;
  o.max_bytes = cfg.roles.media_max_bytes;
  o.connect_timeout = cfg.roles.media_connect_timeout;
  o.timeout = cfg.roles.media_timeout;
  o.max_redirects = cfg.roles.media_max_redirects;
  o.allowed_hosts = cfg.roles.media_allowed_hosts;
  o.allow_http = cfg.roles.media_allow_http;
  o.allow_private_addresses = cfg.roles.media_allow_private_addresses;
  o.retry.max_attempts = cfg.roles.graph_retry_attempts;
  return o;
}

ReplyOptions reply_options(const Config& cfg) {
  ReplyOptions o;
  o.sending_timeout = cfg.roles.reply_sending_timeout;
  o.rate_limit_pause = cfg.roles.graph_rate_limit_pause;
  o.housekeeping_interval = cfg.roles.reply_housekeeping_interval;
  return o;
}

struct IngestRole final : RoleHandler {
  explicit IngestRole(const RoleContext& c)
      : store(c.pool),
        service(store, c.clock,
                {c.cfg.retry, c.cfg.ingest.per_transaction, {true, c.rules.empty() ? nullptr : &c.rules, c.cfg.ingest.fan_out_roles}}, &c.stop,
                &c.telemetry) {}
  const BatchHandler& handler() const override { return service; }
  mysql::MysqlMessageStore store;
  IngestService service;
};

struct EnrichRole final : RoleHandler {
  explicit EnrichRole(const RoleContext& c)
      : store(c.pool),
        graph(c.tokens.empty() ? std::nullopt
                               : std::make_optional<GraphApi>(http, c.tokens, graph_options(c.cfg), c.clock, &c.stop,
                                                              c.telemetry)),
        service(store, graph ? &*graph : nullptr, EnrichOptions{c.cfg.roles.profile_ttl}, c.clock) {
    if (!graph)
      spdlog::warn("no Graph token (GRAPH_ACCESS_TOKENS_FILE, GRAPH_ACCESS_TOKEN): contacts and conversations are kept, "
                   "profiles are not fetched");
  }
  const BatchHandler& handler() const override { return service; }
  std::vector<std::string> readiness_notes() override { return graph_notes(graph ? &*graph : nullptr); }
  mysql::MysqlRoleStore store;
  CurlHttpClient http;
  std::optional<GraphApi> graph;
  EnrichService service;
};

struct MediaRole final : RoleHandler {
  explicit MediaRole(const RoleContext& c)
      : store(c.pool), service(store, http, media_options(c.cfg), c.clock, &c.stop, &c.telemetry) {}
  const BatchHandler& handler() const override { return service; }
  mysql::MysqlRoleStore store;
  CurlHttpClient http;
  MediaService service;
};

struct ReplyRole final : RoleHandler {
  explicit ReplyRole(const RoleContext& c)
      : store(c.pool),
        graph(http, c.tokens, graph_options(c.cfg), c.clock, &c.stop, c.telemetry),
        service(store, graph, c.rules, c.clock, reply_options(c.cfg), &c.stop, &c.telemetry),
        interval_(c.cfg.roles.reply_housekeeping_interval) {}
  const BatchHandler& handler() const override { return service; }
  std::vector<std::string> readiness_notes() override { return graph_notes(&graph); }
  // Stale sends and deferred replies are found by index: a look every
  // REPLY_HOUSEKEEPING_INTERVAL (10 s).
  std::chrono::milliseconds housekeeping_interval() const override { return interval_; }
  void housekeeping() const override {
    service.expire_stale_sends();
    service.retry_due();
  }
  mysql::MysqlRoleStore store;
  CurlHttpClient http;
  GraphApi graph;
  ReplyService service;
  std::chrono::milliseconds interval_;
};

}  // namespace

std::unique_ptr<RoleHandler> make_role_handler(Role role, const RoleContext& context) {
  switch (role) {
    case Role::kIngest: return std::make_unique<IngestRole>(context);
    case Role::kEnrich: return std::make_unique<EnrichRole>(context);
    case Role::kMedia: return std::make_unique<MediaRole>(context);
    case Role::kReply: return std::make_unique<ReplyRole>(context);
  }
  return nullptr;
}

}  // namespace hm::commands
