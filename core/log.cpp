#include "core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace csweep::log {
namespace {
int g_rank = -1;
}

void init(int r, const std::string& level) {
  g_rank = r;
  auto logger = spdlog::stderr_color_mt("csweep");
  if (!logger) logger = spdlog::get("csweep");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern(r >= 0 ? fmt::format("[%H:%M:%S.%e] [rank {}] [%^%l%$] %v", r)
                             : std::string("[%H:%M:%S.%e] [%^%l%$] %v"));
  spdlog::set_level(spdlog::level::from_str(level));
}

int rank() { return g_rank; }

}  // namespace csweep::log
