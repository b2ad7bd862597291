#include "cache/checkpoint_store.h"

#include <map>

#include <doctest/doctest.h>

#include "support/store_fixture.h"

using namespace slotcache;
using namespace std::chrono_literals;
using test::concat;
using test::iota_tokens;

TEST_CASE("checkpoint_store rebuild: valid checkpoints come back with their metadata") {
  test::store_fixture f;
  const auto created = f.clk.now();
  {
    checkpoint_store a(f.options(), test::fingerprint_a, f.clk, f.fs);
    f.saved(a, iota_tokens(10));
    f.saved(a, iota_tokens(20));
    f.saved(a, iota_tokens(5, 100));
    f.clk.advance(1min);
    a.acquire_longest_prefix(iota_tokens(21), 20).lease->record_hit();
  }
  checkpoint_store b(f.options(), test::fingerprint_a, f.clk, f.fs);
  auto report = b.rebuild();
  CHECK_FALSE(report.error);
  CHECK(report.indexed == 3);
  CHECK(report.indexed_bytes == 3 * 1012 + 4 * 35);
  CHECK(report.problems.empty());
  CHECK(b.totals().entries == 3);
  CHECK(b.totals().bytes == report.indexed_bytes);

  auto found = b.acquire_longest_prefix(iota_tokens(25), 24);
  REQUIRE(found.lease);
  CHECK(found.lease->n_tokens() == 20);
  found.lease.reset();
  std::map<std::uint32_t, checkpoint_info> by_len;
  for (auto& e : b.list({}).entries) by_len[e.n_tokens] = e;
  CHECK(by_len[20].hits == 1);
  CHECK(by_len[20].last_used == created + 1min);
  CHECK(by_len[10].hits == 0);
  CHECK(by_len[10].created == created);

  // Nothing new on disk: a second pass adds nothing and removes nothing.
  report = b.rebuild();
  CHECK(report.indexed == 0);
  CHECK(report.problems.empty());
  CHECK(b.totals().entries == 3);
}

TEST_CASE("checkpoint_store rebuild: hand-corrupted files are reported and removed, foreign files left alone") {
  test::store_fixture f;
  const auto good = iota_tokens(5);
  const auto truncated = iota_tokens(6);
  const auto bad_magic = iota_tokens(7);
  const auto no_sidecar = iota_tokens(8);
  const auto no_slot_file = iota_tokens(9);
  const auto tampered = iota_tokens(10);
  const auto garbage_sidecar = iota_tokens(11);
  const auto other_fp = iota_tokens(12);
  {
    checkpoint_store a(f.options(), test::fingerprint_a, f.clk, f.fs);
    for (auto* p : {&good, &truncated, &bad_magic, &no_sidecar, &no_slot_file, &tampered, &garbage_sidecar}) {
      f.saved(a, *p);
    }
    checkpoint_store other(f.options(), test::fingerprint_b, f.clk, f.fs);
    f.saved(other, other_fp);
  }
  std::filesystem::resize_file(f.dir / test::slot_name(truncated), 30);
  {
    std::string bytes = test::read_file(f.dir / test::slot_name(bad_magic));
    bytes[0] = 'X';
    test::write_file(f.dir / test::slot_name(bad_magic), bytes);
    bytes = test::read_file(f.dir / test::slot_name(tampered));
    bytes[16] ^= 0x40;  // the second token
    test::write_file(f.dir / test::slot_name(tampered), bytes);
  }
  std::filesystem::remove(f.dir / test::sidecar_name(no_sidecar));
  std::filesystem::remove(f.dir / test::slot_name(no_slot_file));
  test::write_file(f.dir / test::sidecar_name(garbage_sidecar), "{\"format\":");
  const std::string stale_temp = test::sidecar_name(good) + ".4242-1.tmp";
  test::write_file(f.dir / stale_temp, "{\"format\":\"slotcache-checkpoint-1\",\"id\":");
  // Files slotcache did not write, one of them a perfectly good slot file.
  const std::string user_slot = encode_slot_file(iota_tokens(5), test::fake_state(100));
  test::write_file(f.dir / "user-save.bin", user_slot);
  test::write_file(f.dir / "sc-notes.txt", "notes");
  test::write_file(f.dir / (test::slot_name(good) + ".bak"), "backup");

  checkpoint_store b(f.options(), test::fingerprint_a, f.clk, f.fs);
  auto report = b.rebuild();
  CHECK(report.indexed == 1);
  CHECK(report.foreign_entries == 1);
  CHECK(report.foreign_bytes == 12 + 48 + 1000);
  CHECK(report.other_files == 3);
  CHECK(report.pending == 0);

  std::map<std::string, rebuild_problem> problems;
  for (auto& p : report.problems) problems[p.file] = p;
  auto check_problem = [&](const std::string& file, std::string_view reason) {
    CAPTURE(file);
    REQUIRE(problems.contains(file));
    CHECK(problems[file].reason == reason);
    CHECK(problems[file].removed);
  };
  check_problem(test::slot_name(truncated), "slot file size differs from the sidecar");
  check_problem(test::sidecar_name(truncated), "slot file size differs from the sidecar");
  check_problem(test::slot_name(bad_magic), "bad slot file header");
  check_problem(test::sidecar_name(bad_magic), "bad slot file header");
  check_problem(test::slot_name(no_sidecar), "slot file without sidecar");
  check_problem(test::sidecar_name(no_slot_file), "sidecar without slot file");
  check_problem(test::slot_name(tampered), "slot file tokens do not match its name");
  check_problem(test::sidecar_name(tampered), "slot file tokens do not match its name");
  check_problem(test::slot_name(garbage_sidecar), "unreadable or inconsistent sidecar");
  check_problem(test::sidecar_name(garbage_sidecar), "unreadable or inconsistent sidecar");
  check_problem(stale_temp, "interrupted sidecar write");
  CHECK(report.problems.size() == 11);

  CHECK(f.files() == std::set<std::string>{test::slot_name(good), test::sidecar_name(good),
                                           test::slot_name(other_fp, test::fingerprint_b),
                                           test::sidecar_name(other_fp, test::fingerprint_b), "user-save.bin",
                                           "sc-notes.txt", test::slot_name(good) + ".bak"});
  CHECK(test::read_file(f.dir / "user-save.bin") == user_slot);
  CHECK(test::read_file(f.dir / "sc-notes.txt") == "notes");

  auto found = b.acquire_longest_prefix(iota_tokens(12), 11);
  REQUIRE(found.lease);
  CHECK(found.lease->n_tokens() == 5);
  CHECK(b.totals().foreign_entries == 1);
  f.check_entries_on_disk(b, test::fingerprint_a);
}

TEST_CASE("checkpoint_store rebuild: a young slot file without sidecar is left for its writer") {
  test::store_fixture f;
  const auto p = iota_tokens(8);
  test::backend_save(f.dir / test::slot_name(p), p, 100);
  auto options = f.options();
  options.orphan_grace = 10min;
  checkpoint_store store(options, test::fingerprint_a, f.clk, f.fs);
  auto report = store.rebuild();
  CHECK(report.pending == 1);
  CHECK(report.problems.empty());
  CHECK(f.files().contains(test::slot_name(p)));

  f.clk.advance(11min);
  report = store.rebuild();
  CHECK(report.pending == 0);
  REQUIRE(report.problems.size() == 1);
  CHECK(report.problems[0].removed);
  CHECK(f.files().empty());
}

TEST_CASE("checkpoint_store rebuild: another fingerprint's checkpoints are kept but never restored") {
  test::store_fixture f;
  const auto p = iota_tokens(20);
  {
    checkpoint_store a(f.options(), test::fingerprint_a, f.clk, f.fs);
    f.saved(a, p);
  }
  {
    // The backend restarted with another model or context size.
    checkpoint_store b(f.options(), test::fingerprint_b, f.clk, f.fs);
    auto report = b.rebuild();
    CHECK(report.indexed == 0);
    CHECK(report.foreign_entries == 1);
    CHECK(report.problems.empty());
    CHECK_FALSE(b.acquire_longest_prefix(concat(p, {1}), 20).lease);
    CHECK(b.acquire_longest_prefix(concat(p, {1}), 20).common_len == 0);
    // The same prefix under the new fingerprint is another file.
    auto pub = f.saved(b, p);
    CHECK(pub.entry.file_name == test::slot_name(p, test::fingerprint_b));
    CHECK(pub.entry.file_name != test::slot_name(p));
  }
  CHECK(f.files().size() == 4);
  checkpoint_store a(f.options(), test::fingerprint_a, f.clk, f.fs);
  auto report = a.rebuild();
  CHECK(report.indexed == 1);
  CHECK(report.foreign_entries == 1);
  auto found = a.acquire_longest_prefix(concat(p, {1}), 20);
  REQUIRE(found.lease);
  CHECK(found.lease->file_name() == test::slot_name(p));
}

TEST_CASE("checkpoint_store rebuild: over budget after indexing, the least valuable go") {
  test::store_fixture f;
  {
    checkpoint_store a(f.options(), test::fingerprint_a, f.clk, f.fs);
    for (token_id b = 1; b <= 4; ++b) {
      f.saved(a, iota_tokens(10, 100 * b));
      f.clk.advance(1h);
    }
  }
  checkpoint_store b(f.options(2 * 1052), test::fingerprint_a, f.clk, f.fs);
  auto report = b.rebuild();
  CHECK(report.indexed == 4);
  CHECK(report.evicted == 2);
  CHECK(f.ids(b) == std::set<std::string>{test::id_of(iota_tokens(10, 300)), test::id_of(iota_tokens(10, 400))});
  CHECK(f.files().size() == 4);
  CHECK(b.totals().evictions == 2);
}

TEST_CASE("checkpoint_store rebuild: a directory that cannot be listed is reported") {
  test::store_fixture f;
  auto options = f.options();
  options.dir = f.dir / "missing";
  checkpoint_store store(options, test::fingerprint_a, f.clk, f.fs);
  auto report = store.rebuild();
  CHECK(report.error == std::errc::no_such_file_or_directory);
  CHECK(store.totals().entries == 0);
}
