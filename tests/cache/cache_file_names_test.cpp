#include "cache/cache_file_names.h"

#include <doctest/doctest.h>

using namespace slotcache;

namespace {
const hash128 id{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
}

TEST_CASE("cache_file_names: names round-trip through the parser") {
  CHECK(slot_file_name(id) == "sc-0123456789abcdeffedcba9876543210.bin");
  CHECK(sidecar_file_name(id) == "sc-0123456789abcdeffedcba9876543210.json");
  CHECK(temp_sidecar_file_name(id, "42-7") == "sc-0123456789abcdeffedcba9876543210.json.42-7.tmp");

  auto slot = parse_cache_file_name(slot_file_name(id));
  REQUIRE(slot);
  CHECK(slot->kind == cache_file_kind::slot_file);
  CHECK(slot->id == id);
  auto side = parse_cache_file_name(sidecar_file_name(id));
  REQUIRE(side);
  CHECK(side->kind == cache_file_kind::sidecar);
  auto temp = parse_cache_file_name(temp_sidecar_file_name(id, "1-2"));
  REQUIRE(temp);
  CHECK(temp->kind == cache_file_kind::temp_sidecar);
  CHECK(temp->id == id);
}

TEST_CASE("cache_file_names: files slotcache did not write are not recognised") {
  for (const char* name : {"sample.bin", "sc-.bin", "sc-0123456789abcdeffedcba9876543210", "sc-0123456789abcdeffedcba9876543210.bin.bak",
                           "sc-0123456789ABCDEFfedcba9876543210.bin", "sc-0123456789abcdeffedcba987654321.bin",
                           "xsc-0123456789abcdeffedcba9876543210.bin", "sc-0123456789abcdeffedcba9876543210.json.tmp",
                           "sc-0123456789abcdeffedcba9876543210.json..tmp", "sc-0123456789abcdeffedcba9876543210.jsonx.tmp",
                           "sc-0123456789abcdeffedcba9876543210.txt"}) {
    CAPTURE(name);
    CHECK_FALSE(parse_cache_file_name(name).has_value());
  }
}
