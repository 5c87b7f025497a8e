#pragma once
// WORKER_ROLE=webhook and the WEBHOOK_* variables (internal to src/config/).

#include "config/config.h"

namespace hm::config {

// The receiver's settings; `enabled` when WORKER_ROLE is "webhook". Throws
// ConfigError naming the variable. The secret files are only named here:
// the composition root reads them (webhook/signature.h).
WebhookSettings parse_webhook(const RawConfig& raw);

}  // namespace hm::config
