#include "cache/slot_file.h"

#include <cstring>

#include <doctest/doctest.h>

#include "support/fake_backend.h"
#include "support/temp_dir.h"

using namespace slotcache;

namespace {

// The first 32 bytes of a real slot file (llama-server-samples/slot-file-header.hex.txt).
std::string sample_head() {
  const unsigned char bytes[] = {0x71, 0x73, 0x67, 0x67, 0x02, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
                                 0xc2, 0x01, 0x00, 0x00, 0x84, 0x13, 0x00, 0x00, 0xca, 0x43, 0x00, 0x00, 0xa5, 0x06, 0x00, 0x00,
                                 0xdc, 0x74, 0x00, 0x00, 0x13, 0x4d, 0x00, 0x00, 0xe8, 0x60, 0x00, 0x00, 0x56, 0x70, 0x00, 0x00};
  return std::string(reinterpret_cast<const char*>(bytes), sizeof bytes);
}

}  // namespace

TEST_CASE("slot_file: reads a real llama-server header") {
  auto n = parse_slot_header(sample_head());
  REQUIRE(n);
  CHECK(n.value() == 9);
  const std::vector<token_id> first = {1, 450, 4996, 17354, 1701, 29916, 19731, 24808, 28758};
  CHECK(encode_slot_file(first, "").substr(0, 48) == sample_head());
}

TEST_CASE("slot_file: header errors") {
  CHECK(parse_slot_header(sample_head().substr(0, 11)).error() == slot_file_error::truncated);
  std::string bad_magic = sample_head();
  bad_magic[0] = 'x';
  CHECK(parse_slot_header(bad_magic).error() == slot_file_error::bad_magic);
  std::string bad_version = sample_head();
  bad_version[4] = 3;
  CHECK(parse_slot_header(bad_version).error() == slot_file_error::bad_version);
}

TEST_CASE("slot_file: tokens are read from a file without reading its state") {
  test::temp_dir dir;
  posix_file_ops fs;
  const std::vector<token_id> tokens = {5, -1, 70000, 0, 42};
  const auto n = test::backend_save(dir / "a.bin", tokens, 4096);
  auto read = read_slot_tokens(fs, dir / "a.bin", n);
  REQUIRE(read);
  CHECK(read.value() == tokens);

  SUBCASE("a token count larger than the file is truncation, not a huge allocation") {
    std::string bytes = test::read_file(dir / "a.bin");
    const std::uint32_t huge = 0x7fffffff;
    std::memcpy(bytes.data() + 8, &huge, 4);
    test::write_file(dir / "b.bin", bytes);
    CHECK(read_slot_tokens(fs, dir / "b.bin", bytes.size()).error() == slot_file_error::truncated);
  }
  SUBCASE("a file cut inside its token list is truncated") {
    const std::string bytes = test::read_file(dir / "a.bin").substr(0, 20);
    test::write_file(dir / "c.bin", bytes);
    CHECK(read_slot_tokens(fs, dir / "c.bin", bytes.size()).error() == slot_file_error::truncated);
  }
  SUBCASE("a missing file is unreadable") {
    CHECK(read_slot_tokens(fs, dir / "missing.bin", 100).error() == slot_file_error::unreadable);
  }
}
