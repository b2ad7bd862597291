#include "slot_rules.h"

#include <doctest/doctest.h>

using namespace fake_llama;

TEST_CASE("dense reuse takes the common prefix and always leaves one token to evaluate") {
  const tokens cached{1, 10, 11, 12, 13};
  CHECK(reusable_tokens(cache_mode::dense, cached, {1, 10, 11, 99, 100}, true) == 3);
  CHECK(reusable_tokens(cache_mode::dense, cached, {1, 10, 11, 12, 13, 14}, true) == 5);
  CHECK(reusable_tokens(cache_mode::dense, cached, cached, true) == 4);
  CHECK(reusable_tokens(cache_mode::dense, cached, {1, 10, 11}, true) == 2);
  CHECK(reusable_tokens(cache_mode::dense, cached, {2, 10}, true) == 0);
  CHECK(reusable_tokens(cache_mode::dense, cached, {1, 10, 11, 12, 13, 14}, false) == 0);
  CHECK(reusable_tokens(cache_mode::dense, {}, {1, 2}, true) == 0);
}

TEST_CASE("hybrid reuse needs the prompt to strictly extend everything cached") {
  const tokens cached{1, 10, 11, 12};
  CHECK(reusable_tokens(cache_mode::hybrid, cached, {1, 10, 11, 12, 13}, true) == 4);
  CHECK(reusable_tokens(cache_mode::hybrid, cached, cached, true) == 0);
  CHECK(reusable_tokens(cache_mode::hybrid, cached, {1, 10, 11}, true) == 0);
  CHECK(reusable_tokens(cache_mode::hybrid, cached, {1, 10, 11, 99, 100}, true) == 0);
  CHECK(reusable_tokens(cache_mode::hybrid, cached, {1, 10, 11, 12, 13}, false) == 0);
  CHECK(reusable_tokens(cache_mode::hybrid, {}, {1, 2}, true) == 0);
}

TEST_CASE("an unpinned request gets the idle slot sharing the most of its prompt") {
  const tokens a{1, 2, 3, 4}, b{1, 2, 7, 8}, none;
  const tokens prompt{1, 2, 3, 4, 5};
  CHECK(pick_idle_slot({{false, 5, &b}, {false, 1, &a}}, prompt) == 1);
  CHECK(pick_idle_slot({{false, 5, &b}, {true, 1, &a}}, prompt) == 0);
  CHECK(pick_idle_slot({{true, 5, &b}, {true, 1, &a}}, prompt) == -1);
}

TEST_CASE("without a similar slot the least recently used idle one is taken, ties to the higher id") {
  const tokens other{9, 9, 9}, none;
  const tokens prompt{1, 2, 3};
  CHECK(pick_idle_slot({{false, 7, &other}, {false, 3, &other}, {false, 5, &none}}, prompt) == 1);
  CHECK(pick_idle_slot({{false, 0, &none}, {false, 0, &none}}, prompt) == 1);
  CHECK(pick_idle_slot({{false, 0, &none}, {true, 0, &none}}, prompt) == 0);
}

TEST_CASE("a common prefix of a tenth of the prompt or less does not count as similar") {
  const tokens cached{1, 50, 51};
  tokens prompt{1};
  for (int i = 0; i < 9; ++i) prompt.push_back(100 + i);  // 1 shared token out of 10: exactly 0.1
  CHECK(pick_idle_slot({{false, 1, &cached}, {false, 0, &cached}}, prompt) == 1);  // LRU, not similarity
  prompt.pop_back();                                                                 // 1 of 9 > 0.1
  CHECK(pick_idle_slot({{false, 1, &cached}, {false, 0, &cached}}, prompt) == 0);
}
