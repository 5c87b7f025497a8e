#include "ops/logging.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>

#include "hm/clock.h"

namespace hm {
namespace {

// Separates the message from its JSON-encoded fields inside a log payload.
constexpr char kFieldsMark = '\x1e';
std::atomic<bool> g_json{false};

// One JSON object per line: {"time","level","role","message",...fields}.
class JsonSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  JsonSink(std::string role, std::FILE* out) : role_(std::move(role)), out_(out) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    nlohmann::ordered_json j;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
    j["time"] = format_utc_ms(ms);
    const auto level = spdlog::level::to_string_view(msg.level);
    j["level"] = std::string(level.data(), level.size());
    j["role"] = role_;
    std::string payload(msg.payload.data(), msg.payload.size());
    const auto mark = payload.find(kFieldsMark);
    j["message"] = payload.substr(0, mark);
    if (mark != std::string::npos) {
      auto fields = nlohmann::ordered_json::parse(payload.substr(mark + 1), nullptr, false);
      if (fields.is_object()) {
        for (auto& [k, v] : fields.items()) j[k] = v;
      }
    }
    const std::string line = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
    std::fwrite(line.data(), 1, line.size(), out_);
  }
  void flush_() override { std::fflush(out_); }

 private:
  std::string role_;
  std::FILE* out_;
};

}  // namespace

void setup_logging(const LogOptions& options, const std::string& role, bool to_stdout) {
  std::shared_ptr<spdlog::logger> logger;
  g_json = options.format == LogOptions::Format::kJson;
  if (g_json) {
    logger = std::make_shared<spdlog::logger>("hm", std::make_shared<JsonSink>(role, to_stdout ? stdout : stderr));
  } else {
    spdlog::sink_ptr sink;
    if (to_stdout) {
      sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
    } else {
      sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    }
    logger = std::make_shared<spdlog::logger>("hm", sink);
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l [" + role + "] %v");
  }
  logger->set_level(spdlog::level::from_str(options.level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

void log_event(spdlog::level::level_enum level, std::string_view message, std::initializer_list<LogField> fields) {
  if (!spdlog::should_log(level)) return;
  std::string line(message);
  if (g_json) {
    nlohmann::ordered_json f = nlohmann::ordered_json::object();
    for (const auto& field : fields) {
      if (field.number) {
        f[field.key] = std::stoll(field.value);
      } else {
        f[field.key] = field.value;
      }
    }
    line += kFieldsMark;
    line += f.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  } else {
    for (const auto& field : fields) line += " " + field.key + "=" + field.value;
  }
  spdlog::log(level, "{}", line);
}

}  // namespace hm
