#pragma once
// Builds the handler of one role and only what it needs: the ingest role gets
// the message store and the fan-out, enrich the role store and (with a token)
// the Graph API, media the role store and an HTTP client, reply the role
// store, the Graph API and the rules. The composition root owns the result.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "graph/account_tokens.h"
#include "hm/batch_handler.h"
#include "hm/clock.h"
#include "hm/role.h"
#include "hm/stop_signal.h"
#include "hm/telemetry.h"
#include "mysql/message_store.h"
#include "rules/reply_rules.h"

namespace hm::commands {

// One role's handler with everything it uses, owned together.
class RoleHandler {
 public:
  virtual ~RoleHandler() = default;
  virtual const BatchHandler& handler() const = 0;
  // Work the role does besides its jobs, at start and then every period (off
  // the worker threads, on the composition root's own thread); none when the
  // period is 0.
  virtual std::chrono::milliseconds housekeeping_interval() const { return std::chrono::milliseconds(0); }
  virtual void housekeeping() const {}
  // Lines /readyz shows without making the pod unready (e.g. a Graph account
  // whose token was refused). Memory only, called every second off the HTTP
  // threads.
  virtual std::vector<std::string> readiness_notes() { return {}; }
};

// What every role's parts may draw on; all outlive the RoleHandler.
struct RoleContext {
  const Config& cfg;
  mysql::SessionPool& pool;
  Clock& clock;
  const StopSignal& stop;
  Telemetry& telemetry;
  const ReplyRules& rules;  // empty when REPLY_RULES_PATH is not set
  AccountTokens& tokens;    // the accounts' Graph API tokens
};

// Call before the worker threads start (libcurl's global set-up is not thread-safe).
std::unique_ptr<RoleHandler> make_role_handler(Role role, const RoleContext& context);

}  // namespace hm::commands
