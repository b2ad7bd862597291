#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <boost/system/system_error.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "app.h"
#include "config/config.h"

#ifndef SLOTCACHE_VERSION
#define SLOTCACHE_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::optional<slotcache::config> cfg;
  try {
    cfg = slotcache::load_config(args);
  } catch (const slotcache::config_error& e) {
    std::fprintf(stderr, "slotcache: %s\n", e.what());
    return 2;
  }
  if (!cfg) {
    bool version = std::find(args.begin(), args.end(), "--version") != args.end();
    std::fputs(version ? "slotcache " SLOTCACHE_VERSION "\n" : slotcache::help_text().c_str(), stdout);
    return 0;
  }

  auto logger = spdlog::stderr_color_mt("slotcache");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(spdlog::level::from_str(cfg->log_level));
  spdlog::info("slotcache {} configuration: {}", SLOTCACHE_VERSION, cfg->to_json().dump());

  try {
    return slotcache::app(std::move(*cfg)).run();
  } catch (const boost::system::system_error& e) {
    spdlog::critical("cannot listen on {}:{}: {}", cfg->listen.host, cfg->listen.port, e.code().message());
    return 1;
  } catch (const std::exception& e) {
    spdlog::critical("fatal: {}", e.what());
    return 1;
  }
}
