#include "cache/hash.h"

#include <bit>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace slotcache {
namespace {

constexpr char hex_digits[] = "0123456789abcdef";

void put_hex(std::uint64_t v, char* out) {
  for (int i = 15; i >= 0; --i) {
    out[i] = hex_digits[v & 0xf];
    v >>= 4;
  }
}

std::optional<std::uint64_t> parse_hex64(std::string_view s) {
  std::uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return std::nullopt;
    v = (v << 4) | static_cast<std::uint64_t>(d);
  }
  return v;
}

hash128 from_xxh(XXH128_hash_t h) { return {h.high64, h.low64}; }

}  // namespace

std::string to_hex(const hash128& h) {
  std::string out(32, '0');
  put_hex(h.hi, out.data());
  put_hex(h.lo, out.data() + 16);
  return out;
}

std::optional<hash128> hash128_from_hex(std::string_view hex) {
  if (hex.size() != 32) return std::nullopt;
  auto hi = parse_hex64(hex.substr(0, 16));
  auto lo = parse_hex64(hex.substr(16));
  if (!hi || !lo) return std::nullopt;
  return hash128{*hi, *lo};
}

hash128 hash_bytes(std::string_view bytes) { return from_xxh(XXH3_128bits(bytes.data(), bytes.size())); }

hash128 hash_prefix(std::string_view fingerprint_id, token_span tokens) {
  // Tokens are hashed as they lie in memory, which is the slot file's little-endian layout.
  static_assert(std::endian::native == std::endian::little, "slot files and hashes assume little-endian");
  static constexpr std::string_view domain = "slotcache-prefix-v1";
  XXH3_state_t state;
  XXH3_128bits_reset(&state);
  XXH3_128bits_update(&state, domain.data(), domain.size());
  const char zero = 0;
  XXH3_128bits_update(&state, &zero, 1);
  XXH3_128bits_update(&state, fingerprint_id.data(), fingerprint_id.size());
  XXH3_128bits_update(&state, &zero, 1);
  const std::uint64_t n = tokens.size();
  XXH3_128bits_update(&state, &n, sizeof n);
  XXH3_128bits_update(&state, tokens.data(), tokens.size_bytes());
  return from_xxh(XXH3_128bits_digest(&state));
}

}  // namespace slotcache
