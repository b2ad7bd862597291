#include "cache/directory_scan.h"

#include <doctest/doctest.h>

#include "cache/cache_file_names.h"
#include "cache/sidecar.h"
#include "support/fake_backend.h"
#include "support/temp_dir.h"

using namespace slotcache;

namespace {

const std::string fp = "fingerprint-a";

struct fixture {
  test::temp_dir dir;
  posix_file_ops fs;

  // A complete checkpoint as the store commits it; returns its id.
  hash128 put(const std::vector<token_id>& tokens, std::string_view fingerprint = fp, std::size_t state = 256) {
    const hash128 id = hash_prefix(fingerprint, tokens);
    const auto n = test::backend_save(dir / slot_file_name(id), tokens, state);
    sidecar s;
    s.cp.id = id;
    s.cp.n_tokens = static_cast<std::uint32_t>(tokens.size());
    s.cp.bytes = n;
    s.fingerprint = std::string(fingerprint);
    test::write_file(dir / sidecar_file_name(id), encode_sidecar(s));
    return id;
  }

  cache_file_group group(const hash128& id) {
    auto listing = list_cache_directory(fs, dir.path());
    REQUIRE(listing);
    for (auto& g : listing->groups)
      if (g.id == id) return g;
    FAIL("no group for the id");
    return {};
  }

  checkpoint_state state_of(const hash128& id) { return inspect_checkpoint(fs, dir.path(), group(id), fp).state; }
};

}  // namespace

TEST_CASE("directory_scan: groups slotcache's files by id and counts the others") {
  fixture f;
  const hash128 a = f.put(test::iota_tokens(5));
  const hash128 b = f.put(test::iota_tokens(6));
  test::write_file(f.dir / temp_sidecar_file_name(a, "1-1"), "{");
  test::write_file(f.dir / "user.bin", "x");
  test::write_file(f.dir / "sc-zz.bin", "x");

  auto listing = list_cache_directory(f.fs, f.dir.path());
  REQUIRE(listing);
  CHECK(listing->other_files == 2);
  REQUIRE(listing->groups.size() == 2);
  for (auto& g : listing->groups) {
    CHECK(g.slot_file.has_value());
    CHECK(g.sidecar.has_value());
    CHECK(g.temp_sidecars.size() == (g.id == a ? 1u : 0u));
  }
  CHECK(f.state_of(a) == checkpoint_state::valid);
  auto in = inspect_checkpoint(f.fs, f.dir.path(), f.group(b), fp);
  CHECK(in.state == checkpoint_state::valid);
  CHECK(in.tokens == test::iota_tokens(6));
  CHECK(in.meta.cp.n_tokens == 6);

  CHECK_FALSE(list_cache_directory(f.fs, f.dir / "missing"));
}

TEST_CASE("directory_scan: each kind of damage has its own verdict") {
  fixture f;
  const auto tokens = test::iota_tokens(8);

  SUBCASE("another fingerprint") {
    const hash128 id = f.put(tokens, "fingerprint-b");
    auto in = inspect_checkpoint(f.fs, f.dir.path(), f.group(id), fp);
    CHECK(in.state == checkpoint_state::other_fingerprint);
    CHECK(in.meta.fingerprint == "fingerprint-b");
  }
  SUBCASE("no sidecar") {
    const hash128 id = f.put(tokens);
    std::filesystem::remove(f.dir / sidecar_file_name(id));
    CHECK(f.state_of(id) == checkpoint_state::no_sidecar);
  }
  SUBCASE("no slot file") {
    const hash128 id = f.put(tokens);
    std::filesystem::remove(f.dir / slot_file_name(id));
    CHECK(f.state_of(id) == checkpoint_state::no_slot_file);
  }
  SUBCASE("garbage sidecar") {
    const hash128 id = f.put(tokens);
    test::write_file(f.dir / sidecar_file_name(id), "not json");
    CHECK(f.state_of(id) == checkpoint_state::bad_sidecar);
  }
  SUBCASE("a sidecar copied from another checkpoint") {
    const hash128 id = f.put(tokens);
    const hash128 other = f.put(test::iota_tokens(9));
    std::filesystem::copy_file(f.dir / sidecar_file_name(other), f.dir / sidecar_file_name(id),
                               std::filesystem::copy_options::overwrite_existing);
    CHECK(f.state_of(id) == checkpoint_state::bad_sidecar);
  }
  SUBCASE("truncated slot file") {
    const hash128 id = f.put(tokens);
    std::filesystem::resize_file(f.dir / slot_file_name(id), 100);
    CHECK(f.state_of(id) == checkpoint_state::size_mismatch);
  }
  SUBCASE("bad magic") {
    const hash128 id = f.put(tokens);
    std::string bytes = test::read_file(f.dir / slot_file_name(id));
    bytes[0] = 'X';
    test::write_file(f.dir / slot_file_name(id), bytes);
    CHECK(f.state_of(id) == checkpoint_state::bad_header);
  }
  SUBCASE("same size, other tokens") {
    const hash128 id = f.put(tokens);
    std::string bytes = test::read_file(f.dir / slot_file_name(id));
    bytes[12] ^= 1;
    test::write_file(f.dir / slot_file_name(id), bytes);
    CHECK(f.state_of(id) == checkpoint_state::tokens_mismatch);
  }
}
