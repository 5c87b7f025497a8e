#pragma once
// hm-worker run --role webhook (commands/webhook.cpp).

#include "commands/command.h"

namespace hm::commands {

int run_webhook(const Config& cfg);

}  // namespace hm::commands
