// Crash safety: the store's write sequence is cut after each of its file operations in turn (the
// simulated process dies there, leaving a torn write if it died writing), then a new store
// rebuilds from the directory. Whatever the moment, no entry may point at a partial or missing
// file, every checkpoint the dead store had indexed must survive, and nothing of ours may leak.

#include "cache/checkpoint_store.h"

#include <doctest/doctest.h>

#include "support/faulty_file_ops.h"
#include "support/store_fixture.h"

using namespace slotcache;
using test::concat;
using test::iota_tokens;

namespace {

const auto p1 = iota_tokens(10);
const auto p2 = iota_tokens(20);  // extends p1
const auto p3 = iota_tokens(15, 500);
const auto p4 = iota_tokens(12, 900);

std::set<std::string> all_ids() {
  return {test::id_of(p1), test::id_of(p2), test::id_of(p3), test::id_of(p4)};
}

// Every write path of the store: publish (with eviction), hit metadata flush, erase, discard,
// a failed publish, re-saving a deleted prefix. Stops when the simulated process has died.
void run_scenario(test::store_fixture& f, checkpoint_store& store, const test::faulty_file_ops& fs) {
  auto dead = [&] { return fs.dead(); };
  auto save = [&](const std::vector<token_id>& p, std::int64_t size_error = 0) {
    auto ticket = store.reserve(p);
    if (!ticket) return;
    const auto n = test::backend_save(f.dir / ticket->file_name(), p, 700);
    store.publish(std::move(ticket).value(), p, static_cast<std::uint64_t>(static_cast<std::int64_t>(n) + size_error));
  };

  store.rebuild();
  if (dead()) return;
  save(p1);
  if (dead()) return;
  save(p2);
  if (dead()) return;
  if (auto found = store.acquire_longest_prefix(concat(p2, {0}), 20); found.lease) found.lease->record_hit();
  store.flush();
  if (dead()) return;
  save(p3);  // max_entries 2: evicts p2, the only unlocked leaf besides the new entry
  if (dead()) return;
  store.erase(test::id_of(p1));
  if (dead()) return;
  save(p4, +1);  // the backend's n_written does not match: the file is removed
  if (dead()) return;
  save(p2);
  if (dead()) return;
  if (auto found = store.acquire_longest_prefix(concat(p2, {0}), 20); found.lease) found.lease->discard();
  if (dead()) return;
  save(p1);
}

struct outcome {
  std::set<std::string> before_crash;  // indexed by the store that died
  std::set<std::string> after_restart;
  std::size_t steps = 0;
  bool crashed = false;
};

outcome crash_after(std::optional<std::size_t> k) {
  test::store_fixture f;
  test::faulty_file_ops fs;
  if (k) fs.crash_after(*k);
  outcome out;
  {
    checkpoint_store store(f.options(std::uint64_t{1} << 30, 2), test::fingerprint_a, f.clk, fs);
    run_scenario(f, store, fs);
    out.before_crash = f.ids(store);
    out.steps = fs.mutations();
    out.crashed = fs.dead();
  }  // a dead process does not flush: every operation now fails

  // No entry limit on restart: rebuild would otherwise redo an interrupted eviction by its own
  // choice, which is right but hides what survived.
  checkpoint_store restarted(f.options(), test::fingerprint_a, f.clk, f.fs);
  const auto report = restarted.rebuild();
  CHECK_FALSE(report.error);
  CHECK(report.pending == 0);
  out.after_restart = f.ids(restarted);

  // No entry points at a partial or missing file.
  f.check_entries_on_disk(restarted, test::fingerprint_a);
  // What the dead store had committed survived; nothing else than these checkpoints appeared.
  for (const auto& id : out.before_crash) CHECK(out.after_restart.contains(id));
  for (const auto& id : out.after_restart) CHECK(all_ids().contains(id));
  // Leftovers were cleaned up: only the indexed pairs remain.
  CHECK(f.files().size() == 2 * out.after_restart.size());
  // And the restarted store serves.
  auto found = restarted.acquire_longest_prefix(concat(p2, {0}), 20);
  if (out.after_restart.contains(test::id_of(p2))) {
    REQUIRE(found.lease);
    CHECK(found.lease->n_tokens() == 20);
  }
  return out;
}

}  // namespace

TEST_CASE("checkpoint_store crash: the scenario without a crash ends as expected") {
  const outcome full = crash_after(std::nullopt);
  CHECK_FALSE(full.crashed);
  CHECK(full.before_crash == std::set<std::string>{test::id_of(p3), test::id_of(p1)});
  CHECK(full.after_restart == full.before_crash);
  CHECK(full.steps >= 25);
}

TEST_CASE("checkpoint_store crash: killed after each file operation, restart is consistent") {
  const std::size_t total = crash_after(std::nullopt).steps;
  for (std::size_t k = 0; k < total; ++k) {
    CAPTURE(k);
    const outcome o = crash_after(k);
    CHECK(o.crashed);
  }
}
