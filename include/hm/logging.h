#pragma once
// spdlog set-up: text or one JSON object per line, to stderr (stdout carries
// command output such as the run summary). Never pass a secret to a logger.

#include <string>

#include "hm/config.h"

namespace hm {

// Installs the default logger. Thread-safe loggers; call once from main.
void setup_logging(const LogOptions& options, const std::string& role);

}  // namespace hm
