#pragma once

#include <string_view>

namespace slotcache {

enum class route {
  relay,       // forwarded unchanged
  generation,  // prompt-bearing: forwarded, and the cache pipeline may act on it
};

// Decides from method and path alone (query stripped by the caller or not: both work).
route route_for(std::string_view method, std::string_view target);

// The path part of a request target, without query or fragment.
std::string_view path_of(std::string_view target);

}  // namespace slotcache
