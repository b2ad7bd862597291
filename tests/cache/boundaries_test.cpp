#include "cache/boundaries.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#include <doctest/doctest.h>

using namespace slotcache;

namespace {

using positions = std::vector<std::size_t>;

positions run(std::size_t n, const positions& starts, std::optional<std::size_t> end = {},
              const positions& covered = {}, std::size_t reused = 0, std::size_t chunk = 4096) {
  boundary_input in;
  in.n_tokens = n;
  in.message_starts = starts;
  in.last_message_end = end;
  in.covered = covered;
  in.reused = reused;
  in.chunk_tokens = chunk;
  return checkpoint_boundaries(in);
}

std::size_t sum(const positions& p) { return std::accumulate(p.begin(), p.end(), std::size_t{0}); }

}  // namespace

TEST_CASE("boundaries: the header's example") {
  CHECK(run(30000, {0, 100, 3000, 5000, 9000, 12000, 20000, 26000, 29000}, 29990) ==
        positions{5000, 12000, 29990});
}

TEST_CASE("boundaries: spacing starts at chunk_tokens and grows by half the anchor") {
  positions starts;
  for (std::size_t x = 1000; x < 100000; x += 1000) starts.push_back(x);
  // 4000 is short of 4096, so 5000; then gaps of max(4096, ceil(p/2)): 5000 + 4096 → 10000,
  // + 5000 → 15000, + 7500 → 23000 (first start >= 22500), + 11500 → 35000 (>= 34500),
  // + 17500 → 53000 (>= 52500), + 26500 → 80000 (>= 79500), + 40000 → nothing below 100000.
  CHECK(run(100000, starts) == positions{5000, 10000, 15000, 23000, 35000, 53000, 80000});
  // A smaller chunk only matters while half the anchor is below it.
  CHECK(run(100000, starts, {}, {}, 0, 1000) ==
        positions{1000, 2000, 3000, 5000, 8000, 12000, 18000, 27000, 41000, 62000, 93000});
}

TEST_CASE("boundaries: the end of the last message is kept and far enough from what precedes it") {
  SUBCASE("dropping the one before it, never more") {
    // 15000 is kept (5000 past 10000, gap 5000); the end is 1000 past it (gap 7500): 15000 goes.
    // 10000 stays: 16000 − 10000 >= 5000, as it must since 15000 was already a full gap past it.
    CHECK(run(17000, {5000, 10000, 15000}, 16000) == positions{5000, 10000, 16000});
  }
  SUBCASE("dropping the only one") {
    CHECK(run(6000, {4096}, 5000) == positions{5000});
  }
  SUBCASE("far enough: nothing dropped") {
    // gap(5000) = max(4096, 2500)
    CHECK(run(20000, {5000}, 9096) == positions{5000, 9096});
    CHECK(run(20000, {5000}, 9095) == positions{9095});
  }
  SUBCASE("close to reused, still kept: it is what the next turn extends") {
    CHECK(run(50100, {50005}, 50010, {}, 50000) == positions{50010});
  }
  SUBCASE("also a message start") {
    CHECK(run(9000, {0, 4000, 8000}, 8000) == positions{8000});
  }
  SUBCASE("message starts past it follow the rule from it") {
    CHECK(run(40000, {5000, 20000, 30000}, 12000) == positions{5000, 12000, 20000, 30000});
    CHECK(run(40000, {5000, 15000}, 12000) == positions{5000, 12000});
  }
  SUBCASE("not a boundary when it is the whole prompt") {
    CHECK(run(9000, {0, 5000}, 9000) == positions{5000});
  }
  SUBCASE("not a boundary when it is reused") {
    CHECK(run(9000, {0, 5000}, 8000, {}, 8000).empty());
  }
}

TEST_CASE("boundaries: covered positions are skipped and count as anchors") {
  SUBCASE("a covered start is not returned") {
    CHECK(run(30000, {5000, 12000}, 29990, {5000}) == positions{12000, 29990});
  }
  SUBCASE("a covered end is not returned") {
    CHECK(run(30000, {5000, 12000}, 29990, {29990}) == positions{5000, 12000});
  }
  SUBCASE("a covered position between starts moves the anchor") {
    CHECK(run(30000, {5000, 10000}) == positions{5000, 10000});
    // 10000 is 5000 past 5000 but only 3000 past the checkpoint at 7000.
    CHECK(run(30000, {5000, 10000}, {}, {7000}) == positions{5000});
    CHECK(run(30000, {5000, 10000}, {}, {5000}) == positions{10000});
  }
  SUBCASE("covered positions past the prompt change nothing") {
    CHECK(run(30000, {5000, 10000}, {}, {30000, 40000}) == positions{5000, 10000});
  }
  SUBCASE("covered positions at or below reused change nothing") {
    CHECK(run(30000, {5000, 12000}, {}, {100, 2000}, 2000) == positions{12000});
  }
  SUBCASE("nothing at or below reused") {
    // anchor 12000: 20000 − 12000 >= 6000 kept; the end 29990 − 20000 < 10000 drops it.
    CHECK(run(30000, {5000, 12000, 20000}, 29990, {}, 12000) == positions{29990});
  }
}

TEST_CASE("boundaries: degenerate inputs") {
  CHECK(run(0, {}).empty());
  CHECK(run(1, {0}, 0).empty());
  CHECK(run(100000, {}).empty());
  CHECK(run(10, {3, 3, 6}, 8, {}, 0, 1) == positions{3, 8});
  CHECK_THROWS_AS(run(10, {6, 3}), std::invalid_argument);
  CHECK_THROWS_AS(run(10, {}, {}, {6, 3}), std::invalid_argument);
  CHECK_THROWS_AS(run(10, {}, {}, {}, 0, 0), std::invalid_argument);
}

TEST_CASE("boundaries: random inputs stay within three saves of the whole prompt") {
  std::mt19937_64 rng(20260723);
  std::size_t nonempty = 0, end_only = 0;
  for (int round = 0; round < 20000; ++round) {
    auto pick = [&](std::size_t lo, std::size_t hi) { return std::uniform_int_distribution<std::size_t>(lo, hi)(rng); };
    struct {
      std::size_t n = 0, chunk = 0, reused = 0;
      positions starts, covered;
      std::optional<std::size_t> end;
    } in;
    in.n = pick(0, round % 2 ? 200 : 200000);
    in.chunk = pick(1, round % 3 ? 16 : 8192);
    const std::size_t n_starts = pick(0, 60);
    for (std::size_t i = 0; i < n_starts; ++i) in.starts.push_back(pick(0, in.n + 5));
    std::sort(in.starts.begin(), in.starts.end());
    if (pick(0, 3) != 0) in.end = pick(0, in.n + 2);
    const std::size_t n_covered = pick(0, 6);
    for (std::size_t i = 0; i < n_covered; ++i) {
      // Half the time exactly a candidate, so "skip the covered" is exercised.
      if (pick(0, 1) && !in.starts.empty()) in.covered.push_back(in.starts[pick(0, in.starts.size() - 1)]);
      else in.covered.push_back(pick(0, in.n + 2));
    }
    if (in.end && pick(0, 4) == 0) in.covered.push_back(*in.end);
    std::sort(in.covered.begin(), in.covered.end());
    in.reused = pick(0, 2) ? 0 : pick(0, in.n);

    const positions out = run(in.n, in.starts, in.end, in.covered, in.reused, in.chunk);
    CAPTURE(round);
    CAPTURE(in.n);
    CAPTURE(in.chunk);
    CAPTURE(in.reused);
    const std::set<std::size_t> covered(in.covered.begin(), in.covered.end());
    const std::set<std::size_t> candidates = [&] {
      std::set<std::size_t> c(in.starts.begin(), in.starts.end());
      if (in.end) c.insert(*in.end);
      return c;
    }();

    // The bound, and the stronger statement it is proved from.
    REQUIRE(sum(out) <= 3 * in.n);
    if (!out.empty()) REQUIRE(sum(out) < 3 * out.back());
    for (std::size_t i = 0; i < out.size(); ++i) {
      REQUIRE(out[i] > 0);
      REQUIRE(out[i] > in.reused);
      REQUIRE(out[i] < in.n);
      REQUIRE(covered.count(out[i]) == 0);
      REQUIRE(candidates.count(out[i]) == 1);
      if (i > 0) {
        REQUIRE(out[i - 1] < out[i]);
        REQUIRE(out[i] - out[i - 1] >= boundary_gap(out[i - 1], in.chunk));
        REQUIRE(2 * out[i] >= 3 * out[i - 1]);
      }
    }
    const bool end_eligible = in.end && *in.end > in.reused && *in.end < in.n && covered.count(*in.end) == 0;
    if (end_eligible) {
      REQUIRE(!out.empty());
      REQUIRE(std::count(out.begin(), out.end(), *in.end) == 1);
    }
    // A message start past the anchor by a full gap is never passed over: the first eligible
    // start at least chunk past reused, when nothing covered precedes it and no end drops it.
    if (!in.end && in.covered.empty()) {
      auto first = std::find_if(in.starts.begin(), in.starts.end(), [&](std::size_t x) {
        return x > in.reused && x < in.n && x - in.reused >= boundary_gap(in.reused, in.chunk);
      });
      if (first != in.starts.end()) {
        REQUIRE(!out.empty());
        REQUIRE(out.front() == *first);
      } else {
        REQUIRE(out.empty());
      }
    }
    if (!out.empty()) ++nonempty;
    if (end_eligible && out.size() == 1) ++end_only;
  }
  // The random inputs did exercise the rule.
  CHECK(nonempty > 5000);
  CHECK(end_only > 500);
}
