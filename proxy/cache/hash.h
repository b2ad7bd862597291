#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cache/tokens.h"

namespace slotcache {

// A 128-bit XXH3 digest; names checkpoints and fingerprints.
struct hash128 {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;

  friend bool operator==(const hash128&, const hash128&) = default;
  friend auto operator<=>(const hash128&, const hash128&) = default;
};

struct hash128_hasher {
  std::size_t operator()(const hash128& h) const noexcept { return static_cast<std::size_t>(h.lo ^ (h.hi >> 1)); }
};

// 32 lowercase hex digits, high half first (XXH3's canonical byte order).
std::string to_hex(const hash128& h);

// Inverse of to_hex. Only the lowercase spelling is accepted, so one id has one file name.
std::optional<hash128> hash128_from_hex(std::string_view hex);

hash128 hash_bytes(std::string_view bytes);

// Identity of a checkpoint: the model fingerprint and the exact token prefix. Two processes
// sharing a cache directory compute the same value; changing this function orphans every cache.
hash128 hash_prefix(std::string_view fingerprint_id, token_span tokens);

}  // namespace slotcache
