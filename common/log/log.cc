#include "common/log/log.h"

#include <memory>
#include <string>

#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace medic::common {

void InitLogging(std::string_view program, medic::v1::LogLevel level) {
  auto logger = spdlog::stderr_logger_mt(std::string(program));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %n %^%l%$: %v");
  switch (level) {
    case medic::v1::LOG_LEVEL_TRACE:
      logger->set_level(spdlog::level::trace);
      break;
    case medic::v1::LOG_LEVEL_DEBUG:
      logger->set_level(spdlog::level::debug);
      break;
    case medic::v1::LOG_LEVEL_WARNING:
      logger->set_level(spdlog::level::warn);
      break;
    case medic::v1::LOG_LEVEL_ERROR:
      logger->set_level(spdlog::level::err);
      break;
    default:
      logger->set_level(spdlog::level::info);
      break;
  }
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

bool ParseLogLevel(std::string_view text, medic::v1::LogLevel* level) {
  if (text == "trace")
    *level = medic::v1::LOG_LEVEL_TRACE;
  else if (text == "debug")
    *level = medic::v1::LOG_LEVEL_DEBUG;
  else if (text == "info")
    *level = medic::v1::LOG_LEVEL_INFO;
  else if (text == "warning" || text == "warn")
    *level = medic::v1::LOG_LEVEL_WARNING;
  else if (text == "error")
    *level = medic::v1::LOG_LEVEL_ERROR;
  else
    return false;
  return true;
}

}  // namespace medic::common
