#pragma once

#include "config/config.h"

namespace slotcache {

// Owns the worker threads, the listener and the shutdown sequence.
class app {
 public:
  explicit app(config cfg) : config_(std::move(cfg)) {}

  // Serves until SIGINT or SIGTERM, then drains (bounded by shutdown_timeout). Returns the exit code.
  // Throws boost::system::system_error when the listen address cannot be bound.
  int run();

 private:
  config config_;
};

}  // namespace slotcache
