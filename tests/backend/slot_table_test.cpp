#include "backend/slot_table.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <stdexcept>

#include <doctest/doctest.h>

using namespace slotcache;
using namespace std::chrono_literals;

namespace {

using tokens = std::vector<token_id>;

const slot_grant& granted(const acquire_decision& d) {
  REQUIRE(std::holds_alternative<slot_grant>(d));
  return std::get<slot_grant>(d);
}

bool waits(const acquire_decision& d) { return std::holds_alternative<must_wait>(d); }

// A table whose slots hold the given contents (nullopt: unknown), all free, released in order
// of `release_order` (default: ascending ids).
slot_table table_holding(const manual_clock& clk, const std::vector<std::optional<tokens>>& contents,
                         std::vector<int> release_order = {}, std::size_t max_waiters = 8) {
  slot_table t({static_cast<int>(contents.size()), max_waiters}, clk);
  if (release_order.empty())
    for (int i = 0; i < t.size(); ++i) release_order.push_back(i);
  for (int i = 0; i < t.size(); ++i) REQUIRE(granted(t.try_acquire({}, i)).slot == i);
  for (int i : release_order) {
    const auto& c = contents[static_cast<std::size_t>(i)];
    REQUIRE_FALSE(t.release(i, c ? make_tokens(*c) : nullptr));
  }
  return t;
}

}  // namespace

TEST_CASE("slot_table: the longest common prefix wins, unknown counts as nothing") {
  manual_clock clk;
  auto t = table_holding(clk, {tokens{1, 2, 9}, std::nullopt, tokens{1, 2, 3, 4}, tokens{1}});
  const tokens prompt{1, 2, 3, 4, 5, 6};

  const slot_grant g = granted(t.try_acquire(prompt, std::nullopt));
  CHECK(g.slot == 2);
  CHECK(g.common_prefix == 4);
  CHECK(g.extends);
  REQUIRE(g.held);
  CHECK(*g.held == tokens{1, 2, 3, 4});
  CHECK(t.is_leased(2));

  const slot_grant g2 = granted(t.try_acquire(prompt, std::nullopt));
  CHECK(g2.slot == 0);
  CHECK(g2.common_prefix == 2);
  CHECK_FALSE(g2.extends);  // 9 would be lost

  const slot_grant g3 = granted(t.try_acquire(prompt, std::nullopt));
  CHECK(g3.slot == 3);
  CHECK(g3.common_prefix == 1);
  CHECK(g3.extends);

  const slot_grant g4 = granted(t.try_acquire(prompt, std::nullopt));
  CHECK(g4.slot == 1);
  CHECK(g4.common_prefix == 0);
  CHECK_FALSE(g4.extends);
  CHECK_FALSE(g4.held);

  CHECK(waits(t.try_acquire(prompt, std::nullopt)));
  CHECK(t.counters().grants == 4 + 4);  // table_holding leased each slot once
}

TEST_CASE("slot_table: extends covers equal and empty contents") {
  manual_clock clk;
  auto t = table_holding(clk, {tokens{}, tokens{5, 6}});
  const slot_grant same = granted(t.try_acquire(tokens{5, 6}, 1));
  CHECK(same.common_prefix == 2);
  CHECK(same.extends);
  const slot_grant empty = granted(t.try_acquire(tokens{5, 6}, 0));
  CHECK(empty.common_prefix == 0);
  CHECK(empty.extends);
  REQUIRE(empty.held);
  CHECK(empty.held->empty());
  // A prompt shorter than what the slot holds does not extend it.
  auto t2 = table_holding(clk, {tokens{5, 6, 7}});
  const slot_grant shorter = granted(t2.try_acquire(tokens{5, 6}, std::nullopt));
  CHECK(shorter.common_prefix == 2);
  CHECK_FALSE(shorter.extends);
}

TEST_CASE("slot_table: ties go to the least recently released slot, then the lowest id") {
  manual_clock clk;
  SUBCASE("released order decides") {
    auto t = table_holding(clk, {tokens{7}, tokens{8}, std::nullopt}, {2, 0, 1});
    CHECK(granted(t.try_acquire(tokens{1}, std::nullopt)).slot == 2);
    CHECK(granted(t.try_acquire(tokens{1}, std::nullopt)).slot == 0);
    CHECK(granted(t.try_acquire(tokens{1}, std::nullopt)).slot == 1);
  }
  SUBCASE("never released: lowest id") {
    slot_table t({3, 8}, clk);
    CHECK(granted(t.try_acquire(tokens{1}, std::nullopt)).slot == 0);
    CHECK(granted(t.try_acquire(tokens{1}, std::nullopt)).slot == 1);
  }
  SUBCASE("a longer prefix beats age") {
    auto t = table_holding(clk, {tokens{7}, tokens{1, 2}}, {0, 1});
    CHECK(granted(t.try_acquire(tokens{1, 2, 3}, std::nullopt)).slot == 1);
  }
  SUBCASE("the wall clock stepping back does not reorder") {
    slot_table t({2, 8}, clk);
    REQUIRE(granted(t.try_acquire({}, 0)).slot == 0);
    REQUIRE(granted(t.try_acquire({}, 1)).slot == 1);
    t.release(1, nullptr);
    clk.advance(-1h);
    t.release(0, nullptr);
    CHECK(granted(t.try_acquire({}, std::nullopt)).slot == 1);
  }
}

TEST_CASE("slot_table: id_slot is honoured only within range") {
  manual_clock clk;
  slot_table t({2, 8}, clk);
  CHECK(std::get<slot_error>(t.try_acquire({}, -1)) == slot_error::invalid_slot);
  CHECK(std::get<slot_error>(t.try_acquire({}, 2)) == slot_error::invalid_slot);
  CHECK(t.counters().invalid_slot == 2);
  CHECK(granted(t.try_acquire({}, 1)).slot == 1);
  CHECK(waits(t.try_acquire({}, 1)));  // taken, though slot 0 is free
  CHECK_THROWS_AS(t.enqueue(1, {}, 7), std::logic_error);
  CHECK(t.enqueue(1, {}, 1));
  CHECK_FALSE(t.is_leased(0));
}

TEST_CASE("slot_table: the queue is bounded") {
  manual_clock clk;
  slot_table t({1, 2}, clk);
  granted(t.try_acquire({}, std::nullopt));
  CHECK(t.enqueue(10, {}, std::nullopt));
  CHECK(t.enqueue(11, {}, 0));
  CHECK_FALSE(t.enqueue(12, {}, std::nullopt));
  CHECK(t.waiting() == 2);
  CHECK(t.counters().queue_full == 1);
  CHECK(t.counters().waits == 2);
  // Room again once one leaves.
  CHECK(t.cancel(10, wait_end::timeout));
  CHECK(t.enqueue(12, {}, std::nullopt));

  slot_table none({1, 0}, clk);
  granted(none.try_acquire({}, std::nullopt));
  CHECK_FALSE(none.enqueue(1, {}, std::nullopt));
}

TEST_CASE("slot_table: a released slot goes to the first waiter that can take it") {
  manual_clock clk;
  slot_table t({2, 8}, clk);
  const tokens p1{1, 1}, p2{2, 2}, p3{3, 3}, p4{4, 4};
  granted(t.try_acquire({}, 0));
  granted(t.try_acquire({}, 1));
  REQUIRE(t.enqueue(1, p1, 0));             // pinned to 0
  REQUIRE(t.enqueue(2, p2, std::nullopt));  // any
  REQUIRE(t.enqueue(3, p3, 1));             // pinned to 1
  REQUIRE(t.enqueue(4, p4, std::nullopt));  // any

  // Slot 1: waiter 1 cannot take it and does not hold up waiter 2.
  auto h = t.release(1, make_tokens({2, 2, 5}));
  REQUIRE(h);
  CHECK(h->waiter == 2);
  CHECK(h->grant.slot == 1);
  CHECK(h->grant.common_prefix == 2);
  CHECK(h->grant.extends == false);
  CHECK(t.is_leased(1));

  h = t.release(1, make_tokens({3}));
  REQUIRE(h);
  CHECK(h->waiter == 3);  // before waiter 4, which could take it too
  CHECK(h->grant.common_prefix == 1);
  CHECK(h->grant.extends);

  h = t.release(1, nullptr);
  REQUIRE(h);
  CHECK(h->waiter == 4);
  CHECK_FALSE(h->grant.held);

  h = t.release(0, nullptr);
  REQUIRE(h);
  CHECK(h->waiter == 1);
  CHECK(t.waiting() == 0);

  CHECK_FALSE(t.release(0, nullptr));
  CHECK_FALSE(t.is_leased(0));
  CHECK(t.counters().waits == 4);
  CHECK(t.counters().grants == 6);
}

TEST_CASE("slot_table: cancel takes a waiter out, once") {
  manual_clock clk;
  slot_table t({1, 8}, clk);
  granted(t.try_acquire({}, std::nullopt));
  REQUIRE(t.enqueue(1, {}, std::nullopt));
  REQUIRE(t.enqueue(2, {}, std::nullopt));
  REQUIRE(t.enqueue(3, {}, std::nullopt));
  CHECK(t.cancel(1, wait_end::timeout));
  CHECK_FALSE(t.cancel(1, wait_end::timeout));
  CHECK(t.cancel(3, wait_end::cancelled));
  CHECK_FALSE(t.cancel(99, wait_end::cancelled));
  CHECK(t.counters().timeouts == 1);
  CHECK(t.counters().cancellations == 1);

  auto h = t.release(0, nullptr);
  REQUIRE(h);
  CHECK(h->waiter == 2);
  // Granted: too late to cancel; the grant holder must give it back.
  CHECK_FALSE(t.cancel(2, wait_end::timeout));
  CHECK(t.counters().timeouts == 1);
  CHECK(t.is_leased(0));
}

TEST_CASE("slot_table: enqueue refuses a waiter that need not wait") {
  manual_clock clk;
  slot_table t({2, 8}, clk);
  granted(t.try_acquire({}, 0));
  CHECK_THROWS_AS(t.enqueue(1, {}, std::nullopt), std::logic_error);  // slot 1 is free
  CHECK_THROWS_AS(t.enqueue(1, {}, 1), std::logic_error);
  REQUIRE(t.enqueue(1, {}, 0));
  CHECK_THROWS_AS(t.enqueue(1, {}, 0), std::logic_error);  // same id twice
  CHECK(t.waiting() == 1);
}

TEST_CASE("slot_table: releasing what is not leased is a bug") {
  manual_clock clk;
  slot_table t({2, 8}, clk);
  CHECK_THROWS_AS(t.release(0, nullptr), std::logic_error);
  CHECK_THROWS_AS(t.give_back(1), std::logic_error);
  CHECK_THROWS_AS(t.release(2, nullptr), std::out_of_range);
  CHECK_THROWS_AS(t.release(-1, nullptr), std::out_of_range);
  CHECK_THROWS_AS(t.set_tokens(5, nullptr), std::out_of_range);
  granted(t.try_acquire({}, 0));
  t.release(0, nullptr);
  CHECK_THROWS_AS(t.release(0, nullptr), std::logic_error);
  CHECK_THROWS_AS(slot_table({0, 8}, clk), std::invalid_argument);
}

TEST_CASE("slot_table: give_back keeps content and LRU order") {
  manual_clock clk;
  auto t = table_holding(clk, {tokens{1}, tokens{2}}, {0, 1});
  const slot_grant g = granted(t.try_acquire(tokens{9}, std::nullopt));
  REQUIRE(g.slot == 0);
  CHECK_FALSE(t.give_back(0));
  REQUIRE(t.held(0));
  CHECK(*t.held(0) == tokens{1});
  // Still the least recently released.
  CHECK(granted(t.try_acquire(tokens{9}, std::nullopt)).slot == 0);

  // A waiter still gets a slot given back.
  granted(t.try_acquire(tokens{9}, std::nullopt));
  const tokens prompt{1, 3};  // read again at the hand-over: must outlive the wait
  REQUIRE(t.enqueue(5, prompt, std::nullopt));
  auto h = t.give_back(0);
  REQUIRE(h);
  CHECK(h->waiter == 5);
  CHECK(h->grant.slot == 0);
  CHECK(h->grant.common_prefix == 1);
}

TEST_CASE("slot_table: a backend restart forgets everything, including what old leases report") {
  manual_clock clk;
  auto t = table_holding(clk, {tokens{1}, tokens{2}, tokens{3}});
  granted(t.try_acquire({}, 0));  // leased before the restart
  t.mark_all_unknown();
  for (int i = 0; i < 3; ++i) CHECK_FALSE(t.held(i));
  granted(t.try_acquire({}, 1));  // leased after it
  t.release(0, make_tokens({4, 4}));
  t.release(1, make_tokens({5, 5}));
  CHECK_FALSE(t.held(0));
  REQUIRE(t.held(1));
  CHECK(*t.held(1) == tokens{5, 5});
}

TEST_CASE("slot_table: set_tokens records what a slot holds, leased or not") {
  manual_clock clk;
  slot_table t({2, 8}, clk);
  t.set_tokens(1, make_tokens({3, 4}));
  CHECK(granted(t.try_acquire(tokens{3, 4, 5}, std::nullopt)).slot == 1);
  t.set_tokens(1, make_tokens({3, 4, 5, 6}));  // e.g. restored into while leased
  REQUIRE(t.held(1));
  CHECK(t.held(1)->size() == 4);
  t.set_tokens(1, nullptr);
  CHECK_FALSE(t.held(1));
}

TEST_CASE("slot_table: snapshot shows contents, leases and their age") {
  manual_clock clk;
  slot_table t({3, 8}, clk);
  t.set_tokens(2, make_tokens({1, 2, 3}));
  granted(t.try_acquire({}, 0));
  clk.advance(5s);
  granted(t.try_acquire({}, 2));
  clk.advance(2s);
  CHECK(std::holds_alternative<slot_error>(t.try_acquire({}, 9)));

  const auto snap = t.snapshot();
  REQUIRE(snap.slots.size() == 3);
  CHECK(snap.slots[0].id == 0);
  CHECK(snap.slots[0].leased);
  CHECK(snap.slots[0].lease_age == 7s);
  CHECK_FALSE(snap.slots[0].n_tokens);
  CHECK_FALSE(snap.slots[1].leased);
  CHECK(snap.slots[1].lease_age == 0s);
  CHECK(snap.slots[2].leased);
  CHECK(snap.slots[2].lease_age == 2s);
  REQUIRE(snap.slots[2].n_tokens);
  CHECK(*snap.slots[2].n_tokens == 3);
  CHECK(snap.waiting == 0);
  CHECK(snap.counters.grants == 2);
  CHECK(snap.counters.invalid_slot == 1);
}

TEST_CASE("slot_table: drain_waiters empties the queue in arrival order") {
  manual_clock clk;
  slot_table t({1, 8}, clk);
  granted(t.try_acquire({}, std::nullopt));
  REQUIRE(t.enqueue(3, {}, std::nullopt));
  REQUIRE(t.enqueue(1, {}, 0));
  REQUIRE(t.enqueue(2, {}, std::nullopt));
  CHECK(t.drain_waiters() == std::vector<std::uint64_t>{3, 1, 2});
  CHECK(t.waiting() == 0);
  CHECK(t.counters().shut_down == 3);
  CHECK_FALSE(t.release(0, nullptr));
  CHECK_FALSE(t.cancel(1, wait_end::cancelled));
}

TEST_CASE("slot_table: random operations keep every invariant") {
  // A reference model: which slots are leased and by whom, what each holds, who waits in what
  // order. The table must agree with it after every step.
  std::mt19937 rng(4242);
  manual_clock clk;
  const int n = 3;
  slot_table t({n, 5}, clk);
  std::vector<tokens> prompts;
  for (int i = 0; i < 6; ++i) {
    tokens p;
    for (int j = 0; j < 1 + i % 4; ++j) p.push_back(static_cast<token_id>(j < 2 ? j : i));
    prompts.push_back(p);
  }
  struct waiter {
    std::uint64_t id;
    std::size_t prompt;
    std::optional<int> wanted;
  };
  std::vector<waiter> queue;         // model of the queue
  std::vector<bool> leased(n, false);
  std::uint64_t next_id = 1;
  std::uint64_t grants = 0;

  auto check_grant = [&](const slot_grant& g, const tokens& prompt) {
    REQUIRE(g.slot >= 0);
    REQUIRE(g.slot < n);
    REQUIRE_FALSE(leased[static_cast<std::size_t>(g.slot)]);  // never granted twice
    leased[static_cast<std::size_t>(g.slot)] = true;
    ++grants;
    std::size_t common = 0;
    if (g.held)
      while (common < g.held->size() && common < prompt.size() && (*g.held)[common] == prompt[common]) ++common;
    REQUIRE(g.common_prefix == common);
    REQUIRE(g.extends == (g.held && common == g.held->size()));
  };
  auto check_handoff = [&](const std::optional<slot_handoff>& h, int slot) {
    // The first waiter in arrival order that can take `slot` gets it, or nobody can.
    auto first = std::find_if(queue.begin(), queue.end(),
                              [&](const waiter& w) { return !w.wanted || *w.wanted == slot; });
    if (first == queue.end()) {
      REQUIRE_FALSE(h);
      return;
    }
    REQUIRE(h);
    REQUIRE(h->waiter == first->id);
    REQUIRE(h->grant.slot == slot);
    check_grant(h->grant, prompts[first->prompt]);
    queue.erase(first);
  };

  for (int step = 0; step < 20000; ++step) {
    CAPTURE(step);
    const int op = std::uniform_int_distribution<int>(0, 9)(rng);
    const std::size_t pi = std::uniform_int_distribution<std::size_t>(0, prompts.size() - 1)(rng);
    std::optional<int> wanted;
    if (op % 3 == 0) wanted = std::uniform_int_distribution<int>(0, n - 1)(rng);
    if (op <= 3) {
      auto d = t.try_acquire(prompts[pi], wanted);
      if (auto* g = std::get_if<slot_grant>(&d)) {
        if (wanted) REQUIRE(g->slot == *wanted);
        check_grant(*g, prompts[pi]);
      } else {
        REQUIRE(std::holds_alternative<must_wait>(d));
        if (wanted) REQUIRE(leased[static_cast<std::size_t>(*wanted)]);
        else REQUIRE(std::all_of(leased.begin(), leased.end(), [](bool b) { return b; }));
        const std::uint64_t id = next_id++;
        const bool ok = t.enqueue(id, prompts[pi], wanted);
        REQUIRE(ok == (queue.size() < 5));
        if (ok) queue.push_back({id, pi, wanted});
      }
    } else if (op <= 7) {
      const int s = std::uniform_int_distribution<int>(0, n - 1)(rng);
      if (!leased[static_cast<std::size_t>(s)]) continue;
      leased[static_cast<std::size_t>(s)] = false;
      std::optional<slot_handoff> h;
      if (op == 7) h = t.give_back(s);
      else h = t.release(s, op == 6 ? nullptr : make_tokens(prompts[pi]));
      check_handoff(h, s);
    } else if (op == 8 && !queue.empty()) {
      const std::size_t k = std::uniform_int_distribution<std::size_t>(0, queue.size() - 1)(rng);
      REQUIRE(t.cancel(queue[k].id, wait_end::timeout));
      queue.erase(queue.begin() + static_cast<std::ptrdiff_t>(k));
    } else if (op == 9) {
      clk.advance(1s);
      if (step % 50 == 0) t.mark_all_unknown();
    }
    // No waiter could take a free slot.
    for (const auto& w : queue) {
      if (w.wanted) REQUIRE(leased[static_cast<std::size_t>(*w.wanted)]);
      else REQUIRE(std::all_of(leased.begin(), leased.end(), [](bool b) { return b; }));
    }
    REQUIRE(t.waiting() == queue.size());
    for (int s = 0; s < n; ++s) REQUIRE(t.is_leased(s) == leased[static_cast<std::size_t>(s)]);
  }
  CHECK(t.counters().grants == grants);
  CHECK(grants > 1000);
}
