#include "cache/hash.h"

#include <cstring>
#include <vector>

#include <doctest/doctest.h>

using namespace slotcache;

TEST_CASE("hash: XXH3-128 of the empty input matches the reference vector, high half first") {
  CHECK(to_hex(hash_bytes("")) == "99aa06d3014798d86001c324468d497f");
}

TEST_CASE("hash: hex round-trips and only the canonical spelling parses") {
  const hash128 h{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  CHECK(to_hex(h) == "0123456789abcdeffedcba9876543210");
  REQUIRE(hash128_from_hex(to_hex(h)).has_value());
  CHECK(*hash128_from_hex(to_hex(h)) == h);
  CHECK_FALSE(hash128_from_hex("0123456789ABCDEFfedcba9876543210").has_value());
  CHECK_FALSE(hash128_from_hex("0123456789abcdeffedcba987654321").has_value());
  CHECK_FALSE(hash128_from_hex("0123456789abcdeffedcba98765432100").has_value());
  CHECK_FALSE(hash128_from_hex("0123456789abcdeffedcba987654321g").has_value());
  CHECK_FALSE(hash128_from_hex("").has_value());
}

TEST_CASE("hash: a prefix id is XXH3-128 of domain, fingerprint, count and little-endian tokens") {
  const std::vector<token_id> tokens = {1, 450, -3, 17354};
  std::string bytes = "slotcache-prefix-v1";
  bytes.push_back('\0');
  bytes += "fp";
  bytes.push_back('\0');
  const std::uint64_t n = tokens.size();
  bytes.append(reinterpret_cast<const char*>(&n), sizeof n);
  for (token_id t : tokens) {
    const auto u = static_cast<std::uint32_t>(t);
    const char le[4] = {static_cast<char>(u & 0xff), static_cast<char>((u >> 8) & 0xff),
                        static_cast<char>((u >> 16) & 0xff), static_cast<char>((u >> 24) & 0xff)};
    bytes.append(le, 4);
  }
  CHECK(hash_prefix("fp", tokens) == hash_bytes(bytes));
}

TEST_CASE("hash: prefix ids separate fingerprints, token orders and lengths") {
  const std::vector<token_id> a = {1, 2, 3};
  const std::vector<token_id> b = {1, 2, 3, 0};
  const std::vector<token_id> c = {3, 2, 1};
  CHECK(hash_prefix("fp", a) == hash_prefix("fp", a));
  CHECK(hash_prefix("fp", a) != hash_prefix("fq", a));
  CHECK(hash_prefix("fp", a) != hash_prefix("fp", b));
  CHECK(hash_prefix("fp", a) != hash_prefix("fp", c));
  CHECK(hash_prefix("fp", {}) != hash_prefix("f", {}));
}

TEST_CASE("hash: the prefix id of a known input is pinned (changing it orphans every cache on disk)") {
  const std::vector<token_id> tokens = {1, 450, 4996, 17354, 1701, 29916, 19731, 24808, 28758};
  CHECK(to_hex(hash_prefix("0123456789abcdef0123456789abcdef", tokens)) == "02e2680747e0afac5751ebd6572713cf");
}
