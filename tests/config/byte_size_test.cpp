#include <doctest/doctest.h>

#include "config/byte_size.h"

using slotcache::parse_byte_size;

TEST_CASE("byte sizes take binary suffixes") {
  CHECK(parse_byte_size("512") == 512u);
  CHECK(parse_byte_size("1K") == 1024u);
  CHECK(parse_byte_size("64M") == 64ull << 20);
  CHECK(parse_byte_size("64m") == 64ull << 20);
  CHECK(parse_byte_size("20G") == 20ull << 30);
  CHECK(parse_byte_size("2T") == 2ull << 40);
  CHECK(parse_byte_size("1.5G") == 3ull << 29);
  CHECK(parse_byte_size("64MB") == 64ull << 20);
  CHECK(parse_byte_size("64MiB") == 64ull << 20);
}

TEST_CASE("byte sizes refuse what they cannot read") {
  CHECK_FALSE(parse_byte_size(""));
  CHECK_FALSE(parse_byte_size("M"));
  CHECK_FALSE(parse_byte_size("-1G"));
  CHECK_FALSE(parse_byte_size("12Q"));
  CHECK_FALSE(parse_byte_size("1 2"));
  CHECK_FALSE(parse_byte_size("99999999999T"));
}
