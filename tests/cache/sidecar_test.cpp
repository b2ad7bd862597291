#include "cache/sidecar.h"

#include <nlohmann/json.hpp>

#include <doctest/doctest.h>

using namespace slotcache;

namespace {

sidecar sample() {
  sidecar s;
  s.cp.id = {0x1111222233334444ULL, 0x5555666677778888ULL};
  s.cp.n_tokens = 9;
  s.cp.bytes = 842116;
  s.cp.created = clock::time_point{std::chrono::milliseconds{1795867462123}};
  s.cp.last_used = clock::time_point{std::chrono::milliseconds{1795867499000}};
  s.cp.hits = 3;
  s.fingerprint = "0123456789abcdef0123456789abcdef";
  return s;
}

}  // namespace

TEST_CASE("sidecar: round trip") {
  const sidecar s = sample();
  const std::string text = encode_sidecar(s);
  auto back = decode_sidecar(text);
  REQUIRE(back);
  CHECK(back->cp.id == s.cp.id);
  CHECK(back->cp.n_tokens == 9);
  CHECK(back->cp.bytes == 842116);
  CHECK(back->cp.created == s.cp.created);
  CHECK(back->cp.last_used == s.cp.last_used);
  CHECK(back->cp.hits == 3);
  CHECK(back->fingerprint == s.fingerprint);

  const auto doc = nlohmann::json::parse(text);
  CHECK(doc["format"] == "slotcache-checkpoint-1");
  CHECK(doc["id"] == "11112222333344445555666677778888");
  CHECK(doc["created_ms"] == 1795867462123);
}

TEST_CASE("sidecar: anything incomplete or mistyped is rejected") {
  const auto good = nlohmann::json::parse(encode_sidecar(sample()));
  CHECK_FALSE(decode_sidecar("").has_value());
  CHECK_FALSE(decode_sidecar("{\"format\":").has_value());
  CHECK_FALSE(decode_sidecar("[]").has_value());
  for (const char* key : {"format", "id", "fingerprint", "n_tokens", "bytes", "created_ms", "last_used_ms", "hits"}) {
    CAPTURE(key);
    auto doc = good;
    doc.erase(key);
    CHECK_FALSE(decode_sidecar(doc.dump()).has_value());
    doc = good;
    doc[key] = nlohmann::json::array();
    CHECK_FALSE(decode_sidecar(doc.dump()).has_value());
  }
  auto doc = good;
  doc["format"] = "slotcache-checkpoint-2";
  CHECK_FALSE(decode_sidecar(doc.dump()).has_value());
  doc = good;
  doc["id"] = "not-hex";
  CHECK_FALSE(decode_sidecar(doc.dump()).has_value());
  doc = good;
  doc["bytes"] = -5;
  CHECK_FALSE(decode_sidecar(doc.dump()).has_value());
  doc = good;
  doc["n_tokens"] = 1ULL << 33;
  CHECK_FALSE(decode_sidecar(doc.dump()).has_value());
}
