#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace slotcache {

// "64M", "20G", "512", "1.5T": binary multiples (K = 1024). nullopt for anything else or on overflow.
std::optional<std::uint64_t> parse_byte_size(std::string_view text);

}  // namespace slotcache
