#include "server/router.h"

#include <array>

namespace slotcache {

std::string_view path_of(std::string_view target) {
  auto end = target.find_first_of("?#");
  return end == std::string_view::npos ? target : target.substr(0, end);
}

route route_for(std::string_view method, std::string_view target) {
  static constexpr std::array<std::string_view, 5> generation_paths = {
      "/completion", "/completions", "/v1/completions", "/chat/completions", "/v1/chat/completions"};
  if (method != "POST") return route::relay;
  std::string_view path = path_of(target);
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  for (auto p : generation_paths)
    if (path == p) return route::generation;
  return route::relay;
}

}  // namespace slotcache
