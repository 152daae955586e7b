#include "common/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <fmt/format.h>

namespace tandem {

Status InitLogging(std::string_view role, std::string_view level, const std::string& file) {
  auto parsed = spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off") {
    return InvalidArgument(fmt::format(
        "log level '{}' is invalid, expected trace, debug, info, warn, error or off", level));
  }
  std::shared_ptr<spdlog::logger> logger;
  try {
    if (file.empty()) {
      logger = spdlog::stderr_logger_mt(std::string(role));
    } else {
      logger = spdlog::basic_logger_mt(std::string(role), file, /*truncate=*/false);
    }
  } catch (const spdlog::spdlog_ex& e) {
    return Unavailable(fmt::format("cannot open log file {}: {}", file, e.what()));
  }
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %n %v", spdlog::pattern_time_type::utc);
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return Ok();
}

}  // namespace tandem
