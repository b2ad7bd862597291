#include "cache/radix_tree.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include <doctest/doctest.h>

using namespace slotcache;

namespace {

using key = std::vector<token_id>;

checkpoint cp_of(std::uint64_t n, std::uint64_t bytes = 100, std::uint64_t hits = 0) {
  checkpoint cp;
  cp.id = {0, n};
  cp.bytes = bytes;
  cp.hits = hits;
  cp.last_used = clock::time_point{std::chrono::seconds{static_cast<long>(n)}};
  return cp;
}

key k(std::string_view letters) {
  key out;
  for (char c : letters) out.push_back(c);
  return out;
}

std::set<key> keys_of(const radix_tree& t) {
  std::set<key> out;
  t.for_each([&](const radix_tree::node* n, const checkpoint&) { out.insert(t.key_of(n)); });
  return out;
}

double by_hits(const checkpoint& cp) { return static_cast<double>(cp.hits); }

}  // namespace

TEST_CASE("radix_tree: the layout of the header's picture") {
  radix_tree t;
  auto abcd = t.insert(k("abcd"), cp_of(1)).first;
  auto abxy = t.insert(k("abxy"), cp_of(2)).first;
  auto abxyz = t.insert(k("abxyz"), cp_of(3)).first;
  auto q = t.insert(k("q"), cp_of(4)).first;
  CHECK_FALSE(t.find_defect());
  CHECK(t.size() == 4);
  // root, [a b], [c d], [x y], [z], [q]
  CHECK(t.node_count() == 6);
  CHECK(t.key_of(abxyz) == k("abxyz"));
  CHECK(radix_tree::value(abcd)->n_tokens == 4);
  CHECK(radix_tree::is_leaf(abxyz));
  CHECK_FALSE(radix_tree::is_leaf(abxy));
  CHECK(t.find(k("ab")) == nullptr);
  CHECK(t.find(k("abxy")) == abxy);
  CHECK(t.find(k("q")) == q);
  CHECK(keys_of(t) == std::set<key>{k("abcd"), k("abxy"), k("abxyz"), k("q")});
}

TEST_CASE("radix_tree: insert returns the existing entry unchanged and refuses empty keys") {
  radix_tree t;
  auto [n, added] = t.insert(k("abc"), cp_of(1));
  CHECK(added);
  auto [again, added_again] = t.insert(k("abc"), cp_of(2));
  CHECK_FALSE(added_again);
  CHECK(again == n);
  CHECK(radix_tree::value(n)->id == cp_of(1).id);
  CHECK(t.insert(key{}, cp_of(3)) == std::pair<radix_tree::node*, bool>{nullptr, false});
  CHECK(t.size() == 1);
}

TEST_CASE("radix_tree: longest_prefix honours max_len and reports the common prefix") {
  radix_tree t;
  auto ab = t.insert(k("ab"), cp_of(1)).first;
  auto abcd = t.insert(k("abcd"), cp_of(2)).first;
  t.insert(k("abcdefgh"), cp_of(3));

  auto m = t.longest_prefix(k("abcdefgX"), 100);
  CHECK(m.entry == abcd);
  CHECK(m.entry_len == 4);
  CHECK(m.common_len == 7);

  // The pipeline passes size - 1: an identical prompt must not use the entry of its full length.
  m = t.longest_prefix(k("abcd"), 3);
  CHECK(m.entry == ab);
  CHECK(m.common_len == 4);
  m = t.longest_prefix(k("abcd"), 4);
  CHECK(m.entry == abcd);

  m = t.longest_prefix(k("a"), 100);
  CHECK(m.entry == nullptr);
  CHECK(m.common_len == 1);
  m = t.longest_prefix(k("zzz"), 100);
  CHECK(m.entry == nullptr);
  CHECK(m.common_len == 0);
  m = t.longest_prefix(key{}, 100);
  CHECK(m.entry == nullptr);

  // Entries refused by the filter are passed over, not the path below them.
  m = t.longest_prefix(k("abcdefghij"), 100, [](const checkpoint& cp) { return cp.id.lo != 3; });
  CHECK(m.entry == abcd);
  CHECK(m.common_len == 8);
}

TEST_CASE("radix_tree: erase merges pass-through nodes and keeps other handles valid") {
  radix_tree t;
  auto abc = t.insert(k("abc"), cp_of(1)).first;
  auto abcdef = t.insert(k("abcdef"), cp_of(2)).first;
  auto abxyz = t.insert(k("abxyz"), cp_of(3)).first;
  CHECK(t.node_count() == 5);  // root, [a b], [c], [d e f], [x y z]
  CHECK(t.erase(abc));
  CHECK_FALSE(t.find_defect());
  CHECK(t.node_count() == 4);  // [c] merged into [d e f]
  CHECK(t.find(k("abcdef")) == abcdef);
  CHECK(t.erase(abxyz));
  CHECK_FALSE(t.find_defect());
  CHECK(t.node_count() == 2);  // root and [a b c d e f]
  CHECK(t.key_of(abcdef) == k("abcdef"));
  CHECK(t.erase(abcdef));
  CHECK(t.size() == 0);
  CHECK(t.node_count() == 1);
  CHECK_FALSE(t.erase(nullptr));
}

TEST_CASE("radix_tree: locks block erasing the locked entry and evicting it or its ancestors") {
  radix_tree t;
  auto a = t.insert(k("a"), cp_of(1, 10, 0)).first;
  auto ab = t.insert(k("ab"), cp_of(2, 10, 1)).first;
  auto abc = t.insert(k("abc"), cp_of(3, 10, 2)).first;
  auto x = t.insert(k("x"), cp_of(4, 10, 3)).first;
  t.lock(ab);
  CHECK(radix_tree::is_locked(ab));
  CHECK_FALSE(radix_tree::is_locked(a));  // held only through a descendant
  CHECK_FALSE(t.erase(ab));
  CHECK_FALSE(t.find_defect());

  // Everything evictable goes: abc (a leaf, unlocked), then x; ab is locked, a is its ancestor.
  auto evicted = t.evict(by_hits, 1000, 0);
  REQUIRE(evicted.size() == 2);
  CHECK(evicted[0].id == cp_of(3).id);
  CHECK(evicted[1].id == cp_of(4).id);
  CHECK(t.size() == 2);
  CHECK_FALSE(t.find_defect());

  // An ancestor can be erased explicitly; the locked entry keeps its handle.
  CHECK(t.erase(a));
  CHECK(t.find(k("ab")) == ab);
  t.unlock(ab);
  CHECK(t.erase(ab));
  CHECK(t.size() == 0);
  (void)x;
  (void)abc;
}

TEST_CASE("radix_tree: evict takes lowest priority first and a parent becomes a candidate after its last child") {
  radix_tree t;
  t.insert(k("p"), cp_of(1, 100, 1));  // lowest priority, but not a leaf at first
  t.insert(k("pq"), cp_of(2, 100, 5));
  t.insert(k("z"), cp_of(3, 100, 6));
  t.insert(k("y"), cp_of(4, 100, 9));
  auto evicted = t.evict(by_hits, 200, 0);
  REQUIRE(evicted.size() == 2);
  CHECK(evicted[0].id == cp_of(2).id);  // pq (5), the lowest leaf
  CHECK(evicted[1].id == cp_of(1).id);  // then p (1), a leaf now, before z (6)
  CHECK(keys_of(t) == std::set<key>{k("y"), k("z")});
  CHECK_FALSE(t.find_defect());
}

TEST_CASE("radix_tree: evict counts entries too, and ties go to the least recently used") {
  radix_tree t;
  for (std::uint64_t i = 1; i <= 5; ++i) t.insert(key{static_cast<token_id>(i)}, cp_of(10 - i, 1, 0));
  auto evicted = t.evict(by_hits, 0, 2);
  REQUIRE(evicted.size() == 2);
  CHECK(evicted[0].id == cp_of(5).id);  // last_used 5 s
  CHECK(evicted[1].id == cp_of(6).id);
  CHECK(t.evict(by_hits, 0, 0).empty());
  CHECK(t.evict(by_hits, 1'000'000, 0).size() == 3);
}

TEST_CASE("radix_tree: erase_prefix removes the unlocked entries below a prefix, also one ending mid-edge") {
  radix_tree t;
  t.insert(k("abcd"), cp_of(1));
  auto abce = t.insert(k("abce"), cp_of(2)).first;
  t.insert(k("abcef"), cp_of(3));
  t.insert(k("abx"), cp_of(4));
  t.insert(k("b"), cp_of(5));
  t.lock(abce);
  auto erased = t.erase_prefix(k("abc"));
  std::set<std::uint64_t> ids;
  for (auto& cp : erased) ids.insert(cp.id.lo);
  CHECK(ids == std::set<std::uint64_t>{1, 3});
  CHECK(keys_of(t) == std::set<key>{k("abce"), k("abx"), k("b")});
  CHECK_FALSE(t.find_defect());
  CHECK(t.erase_prefix(k("zz")).empty());
  CHECK(t.erase_prefix(k("abq")).empty());
  t.insert(k("mnopq"), cp_of(6));
  CHECK(t.erase_prefix(k("mnx")).empty());
  erased = t.erase_prefix(k("mn"));  // ends inside the edge [m n o p q]
  REQUIRE(erased.size() == 1);
  CHECK(erased[0].id == cp_of(6).id);
  erased = t.erase_prefix(k("a"));
  CHECK(erased.size() == 1);  // abx; abce is locked
  t.unlock(abce);
  CHECK(t.erase_prefix(key{}).size() == 2);
  CHECK(t.size() == 0);
  CHECK_FALSE(t.find_defect());
}

TEST_CASE("radix_tree: a wide node finds each of thousands of children") {
  radix_tree t;
  for (token_id i = 0; i < 5000; ++i) t.insert(key{i * 7, 1, 2}, cp_of(static_cast<std::uint64_t>(i) + 1));
  CHECK_FALSE(t.find_defect());
  for (token_id i = 0; i < 5000; ++i) {
    auto m = t.longest_prefix(key{i * 7, 1, 2, 3}, 100);
    REQUIRE(m.entry);
    CHECK(radix_tree::value(m.entry)->id.lo == static_cast<std::uint64_t>(i) + 1);
  }
  CHECK(t.longest_prefix(key{3, 1, 2}, 100).entry == nullptr);
  for (token_id i = 0; i < 5000; i += 2) CHECK(t.erase(t.find(key{i * 7, 1, 2})));
  CHECK(t.size() == 2500);
  CHECK_FALSE(t.find_defect());
}

TEST_CASE("radix_tree: a deep chain of nested entries is built, searched and torn down") {
  radix_tree t;
  key chain;
  for (int i = 0; i < 4000; ++i) {
    chain.push_back(i % 13);
    t.insert(chain, cp_of(static_cast<std::uint64_t>(i) + 1));
  }
  auto m = t.longest_prefix(chain, chain.size() - 1);
  REQUIRE(m.entry);
  CHECK(m.entry_len == chain.size() - 1);
  CHECK_FALSE(t.find_defect());
}

// Every operation against a trivial model: a map from key vectors to checkpoints.
TEST_CASE("radix_tree: randomized against a map of vectors") {
  for (std::uint32_t seed : {1u, 2u, 3u, 4u}) {
    CAPTURE(seed);
    std::mt19937 rng(seed);
    radix_tree t;
    std::map<key, checkpoint> model;
    std::map<key, radix_tree::node*> handles;
    std::map<key, int> locks;
    std::uint64_t next_id = 1;

    auto rand_key = [&](std::size_t max_len) {
      key out(std::uniform_int_distribution<std::size_t>(1, max_len)(rng));
      for (std::size_t i = 0; i < out.size(); ++i) {
        // Mostly a 3-letter alphabet (long shared prefixes); sometimes a wide first token.
        out[i] = i == 0 && rng() % 4 == 0 ? static_cast<token_id>(rng() % 40) : static_cast<token_id>(rng() % 3);
      }
      return out;
    };
    auto existing = [&]() -> const key* {
      if (model.empty()) return nullptr;
      auto it = model.begin();
      std::advance(it, static_cast<long>(rng() % model.size()));
      return &it->first;
    };
    auto is_prefix = [](const key& p, const key& of) {
      return p.size() <= of.size() && std::equal(p.begin(), p.end(), of.begin());
    };
    auto is_leaf = [&](const key& kk) {
      for (auto& [other, cp] : model)
        if (other.size() > kk.size() && is_prefix(kk, other)) return false;
      return true;
    };
    auto forget = [&](const key& kk) {
      model.erase(kk);
      handles.erase(kk);
      locks.erase(kk);
    };

    for (int step = 0; step < 6000; ++step) {
      const int op = static_cast<int>(rng() % 100);
      if (op < 35) {
        key kk = rand_key(10);
        checkpoint cp = cp_of(next_id++, 1 + rng() % 50, rng() % 1000);
        auto [n, added] = t.insert(kk, cp);
        CHECK(added == !model.contains(kk));
        if (added) {
          cp.n_tokens = static_cast<std::uint32_t>(kk.size());
          model[kk] = cp;
          handles[kk] = n;
        } else {
          CHECK(n == handles[kk]);
        }
      } else if (op < 45) {
        if (const key* kk = existing()) {
          const key copy = *kk;
          const bool expect = locks[copy] == 0;
          CHECK(t.erase(handles[copy]) == expect);
          if (expect) forget(copy);
        }
      } else if (op < 48) {
        const key prefix = rand_key(3);
        std::set<std::uint64_t> expected;
        for (auto& [kk, cp] : model)
          if (is_prefix(prefix, kk) && locks[kk] == 0) expected.insert(cp.id.lo);
        std::set<std::uint64_t> got;
        for (auto& cp : t.erase_prefix(prefix)) got.insert(cp.id.lo);
        CHECK(got == expected);
        for (auto it = model.begin(); it != model.end();) {
          if (expected.contains(it->second.id.lo)) {
            const key gone = it->first;
            ++it;
            forget(gone);
          } else {
            ++it;
          }
        }
      } else if (op < 73) {
        const key query = rand_key(14);
        const std::size_t max_len = rng() % 16;
        const bool filtered = rng() % 3 == 0;
        auto accept = [](const checkpoint& cp) { return cp.id.lo % 3 != 0; };
        const key* best = nullptr;
        std::size_t common = 0;
        for (auto& [kk, cp] : model) {
          std::size_t c = 0;
          while (c < kk.size() && c < query.size() && kk[c] == query[c]) ++c;
          common = std::max(common, c);
          if (is_prefix(kk, query) && kk.size() <= max_len && (!filtered || accept(cp)) &&
              (!best || kk.size() > best->size())) {
            best = &kk;
          }
        }
        auto m = filtered ? t.longest_prefix(query, max_len, accept) : t.longest_prefix(query, max_len);
        CHECK(m.common_len == common);
        if (best) {
          CHECK(m.entry == handles[*best]);
          CHECK(m.entry_len == best->size());
        } else {
          CHECK(m.entry == nullptr);
        }
      } else if (op < 81) {
        if (const key* kk = existing()) {
          t.lock(handles[*kk]);
          ++locks[*kk];
        }
      } else if (op < 89) {
        std::vector<key> held;
        for (auto& [kk, n] : locks)
          if (n > 0) held.push_back(kk);
        if (!held.empty()) {
          const key& kk = held[rng() % held.size()];
          t.unlock(handles[kk]);
          --locks[kk];
        }
      } else if (op < 92) {
        const std::uint64_t bytes = rng() % 120;
        const std::size_t entries = rng() % 4;
        // The model's greedy: repeatedly the evictable entry with the lowest (hits, last_used, id).
        std::vector<std::uint64_t> expected;
        std::uint64_t freed_bytes = 0;
        std::size_t freed = 0;
        auto shadow = model;
        while (freed_bytes < bytes || freed < entries) {
          const key* pick = nullptr;
          for (auto& [kk, cp] : shadow) {
            bool leaf = true;
            for (auto& [other, ocp] : shadow)
              if (other.size() > kk.size() && is_prefix(kk, other)) leaf = false;
            if (!leaf || locks[kk] > 0) continue;
            if (!pick) {
              pick = &kk;
              continue;
            }
            const checkpoint& p = shadow[*pick];
            if (std::tie(cp.hits, cp.last_used, cp.id) < std::tie(p.hits, p.last_used, p.id)) pick = &kk;
          }
          if (!pick) break;
          expected.push_back(shadow[*pick].id.lo);
          freed_bytes += shadow[*pick].bytes;
          ++freed;
          shadow.erase(*pick);
        }
        std::vector<std::uint64_t> got;
        for (auto& cp : t.evict(by_hits, bytes, entries)) got.push_back(cp.id.lo);
        CHECK(got == expected);
        for (auto it = model.begin(); it != model.end();) {
          if (std::find(got.begin(), got.end(), it->second.id.lo) != got.end()) {
            const key gone = it->first;
            ++it;
            forget(gone);
          } else {
            ++it;
          }
        }
      } else {
        const key query = rand_key(10);
        auto it = handles.find(query);
        CHECK(t.find(query) == (it == handles.end() ? nullptr : it->second));
      }

      REQUIRE(t.size() == model.size());
      if (step % 50 == 0) {
        const auto defect = t.find_defect();
        REQUIRE_MESSAGE(!defect, *defect);
        std::set<key> expected_keys;
        for (auto& [kk, cp] : model) expected_keys.insert(kk);
        REQUIRE(keys_of(t) == expected_keys);
        for (auto& [kk, n] : handles) {
          REQUIRE(t.find(kk) == n);
          CHECK(radix_tree::value(n)->id == model[kk].id);
          CHECK(radix_tree::is_leaf(n) == is_leaf(kk));
        }
      }
    }
  }
}
