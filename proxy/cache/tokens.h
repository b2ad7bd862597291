#pragma once

#include <cstdint>
#include <span>

namespace slotcache {

// llama.cpp's llama_token.
using token_id = std::int32_t;
using token_span = std::span<const token_id>;

}  // namespace slotcache
