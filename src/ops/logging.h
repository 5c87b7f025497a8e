#pragma once
// spdlog set-up: text, or one JSON object per line (LOG_FORMAT=json) with
// time, level, role, message and the event's fields (mid, attempt, code...).
// The daemon logs to stdout; one-shot commands log to stderr, keeping stdout
// for their output. Never pass a secret to a logger.

#include <initializer_list>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>


namespace hm {

struct LogOptions {
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
  enum class Format { kText, kJson };
  Format format = Format::kText;  // LOG_FORMAT: text or json
};

// Installs the default logger. Call once from main, before threads start.
void setup_logging(const LogOptions& options, const std::string& role, bool to_stdout);

struct LogField {
  LogField(std::string k, std::string v) : key(std::move(k)), value(std::move(v)) {}
  LogField(std::string k, const char* v) : key(std::move(k)), value(v) {}
  LogField(std::string k, long long v) : key(std::move(k)), value(std::to_string(v)), number(true) {}
  LogField(std::string k, int v) : key(std::move(k)), value(std::to_string(v)), number(true) {}
  std::string key;
  std::string value;
  bool number = false;
};

// A log line with fields: "message key=value ..." as text, or fields of the
// JSON object. Thread-safe.
void log_event(spdlog::level::level_enum level, std::string_view message, std::initializer_list<LogField> fields);

}  // namespace hm
