#include "hm/logging.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>

#include "hm/clock.h"

namespace hm {
namespace {

// One JSON object per line: {"time","level","role","message"}.
class JsonStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit JsonStderrSink(std::string role) : role_(std::move(role)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    nlohmann::json j;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
    j["time"] = format_utc_ms(ms);
    const auto level = spdlog::level::to_string_view(msg.level);
    j["level"] = std::string(level.data(), level.size());
    j["role"] = role_;
    j["message"] = std::string(msg.payload.data(), msg.payload.size());
    const std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }

 private:
  std::string role_;
};

}  // namespace

void setup_logging(const LogOptions& options, const std::string& role) {
  std::shared_ptr<spdlog::logger> logger;
  if (options.format == "json") {
    logger = std::make_shared<spdlog::logger>("hm", std::make_shared<JsonStderrSink>(role));
  } else {
    logger = std::make_shared<spdlog::logger>("hm", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [" + role + "] %v");
  }
  logger->set_level(spdlog::level::from_str(options.level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

}  // namespace hm
