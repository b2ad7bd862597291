#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace slotcache {

struct access_entry {
  std::string_view client;  // remote address
  std::string_view method;
  std::string_view target;
  unsigned status = 0;      // 0: no answer was sent
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::chrono::microseconds total{0};
  std::chrono::microseconds backend{0};
  std::string_view note;    // why it ended early, if it did
};

// One line per request.
void log_access(const access_entry& e);

}  // namespace slotcache
