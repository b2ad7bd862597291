#include "slot_file.h"

#include <doctest/doctest.h>

using namespace fake_llama;

TEST_CASE("a slot file starts like llama.cpp's: ggsq magic, version 2, count, tokens") {
  const std::string bytes = encode_slot_file({1, 450, 4996}, 8);
  REQUIRE(bytes.size() == 12 + 3 * 4 + 3 * 8);
  CHECK(bytes.substr(0, 4) == "qsgg");
  CHECK(bytes.substr(4, 4) == std::string("\x02\0\0\0", 4));
  CHECK(bytes.substr(8, 4) == std::string("\x03\0\0\0", 4));
  CHECK(bytes.substr(16, 4) == std::string("\xc2\x01\0\0", 4));  // 450, little-endian
}

TEST_CASE("decoding gives back the tokens and the bytes read") {
  const tokens toks{1, 450, 4996, 17354};
  const auto decoded = decode_slot_file(encode_slot_file(toks, 64), 4096, 64);
  REQUIRE(decoded);
  CHECK(decoded->toks == toks);
  CHECK(decoded->n_read == 12 + 4 * 4 + 4 * 64);
  const auto empty = decode_slot_file(encode_slot_file({}, 64), 4096, 64);
  REQUIRE(empty);
  CHECK(empty->toks.empty());
  CHECK(empty->n_read == 12);
}

TEST_CASE("files llama.cpp would refuse do not decode") {
  const tokens toks{1, 2, 3, 4};
  const std::string good = encode_slot_file(toks, 16);
  CHECK_FALSE(decode_slot_file(good.substr(0, good.size() - 1), 4096, 16));
  CHECK_FALSE(decode_slot_file(good.substr(0, 8), 4096, 16));
  CHECK_FALSE(decode_slot_file(good, 3, 16));  // more tokens than the slot's context
  CHECK(decode_slot_file(good, 4, 16));
  std::string bad_magic = good, bad_version = good, bad_state = good, bad_token = good;
  bad_magic[0] = 'x';
  bad_version[4] = 3;
  bad_state.back() ^= 1;
  bad_token[12] ^= 1;  // the state no longer matches the tokens
  CHECK_FALSE(decode_slot_file(bad_magic, 4096, 16));
  CHECK_FALSE(decode_slot_file(bad_version, 4096, 16));
  CHECK_FALSE(decode_slot_file(bad_state, 4096, 16));
  CHECK_FALSE(decode_slot_file(bad_token, 4096, 16));
  CHECK(decode_slot_file(good + "trailing", 4096, 16));  // llama.cpp ignores what follows the state
}

TEST_CASE("filenames follow llama.cpp's fs_validate_filename") {
  for (const char* ok : {"sample.bin", "a b.bin", "ünïcödé.bin", "x", ".hidden", "a.b.c"}) {
    CAPTURE(ok);
    CHECK(valid_slot_filename(ok));
  }
  for (const char* bad : {"", "../x.bin", "a/b", "a\\b", "a:b", "a*b", "a?b", "a\"b", "a<b", "a>b", "a|b", " a", "a ",
                          "a.", ".", "..", "a..b", "a\nb", "\x7f", "\xc0\xaf", "\xff", "\xe2\x88\x95"}) {
    CAPTURE(bad);
    CHECK_FALSE(valid_slot_filename(bad));
  }
  CHECK_FALSE(valid_slot_filename(std::string(256, 'a')));
  CHECK(valid_slot_filename(std::string(255, 'a')));
}
