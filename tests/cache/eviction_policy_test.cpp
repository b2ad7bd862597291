#include "cache/eviction_policy.h"

#include <cmath>

#include <doctest/doctest.h>

using namespace slotcache;
using namespace std::chrono_literals;

namespace {

const clock::time_point now{std::chrono::hours{500000}};

checkpoint make(std::uint32_t tokens, std::uint64_t bytes, std::uint64_t hits, clock::duration age) {
  checkpoint cp;
  cp.n_tokens = tokens;
  cp.bytes = bytes;
  cp.hits = hits;
  cp.created = now - age - 1h;
  cp.last_used = now - age;
  return cp;
}

}  // namespace

TEST_CASE("eviction_policy: recently used, often hit and cheap per token saved are kept longer") {
  const eviction_policy p;
  const auto base = make(1000, 1'000'000, 2, 10min);
  CHECK(p.priority(make(1000, 1'000'000, 2, 1min), now) > p.priority(base, now));      // more recent
  CHECK(p.priority(make(1000, 1'000'000, 9, 10min), now) > p.priority(base, now));     // more hits
  CHECK(p.priority(make(2000, 1'000'000, 2, 10min), now) > p.priority(base, now));     // more tokens per byte
  CHECK(p.priority(make(1000, 4'000'000, 2, 10min), now) < p.priority(base, now));     // more bytes per token
}

TEST_CASE("eviction_policy: the formula ln((1 + hits) x tokens / bytes) - ln2 x age / half_life") {
  eviction_policy p;
  p.half_life = 30min;
  const auto cp = make(512, 2'000'000, 6, 90min);
  const double expected = std::log(7.0 * 512 / 2'000'000) - std::log(2.0) * 3;
  CHECK(p.priority(cp, now) == doctest::Approx(expected).epsilon(1e-12));
  // One half-life without use is worth as much as doubling (1 + hits).
  CHECK(p.priority(make(100, 1000, 0, 0min), now) == doctest::Approx(p.priority(make(100, 1000, 1, 30min), now)));
}

TEST_CASE("eviction_policy: ages of months neither underflow nor tie") {
  const eviction_policy p;
  const double older = p.priority(make(100, 1000, 0, 24h * 90), now);
  const double old = p.priority(make(100, 1000, 0, 24h * 89), now);
  CHECK(std::isfinite(older));
  CHECK(older < old);
  // A time in the future (clock stepped back) counts as "just used", not as a bonus.
  CHECK(p.priority(make(100, 1000, 0, -1h), now) == doctest::Approx(p.priority(make(100, 1000, 0, 0h), now)));
}
