#include <doctest/doctest.h>

#include <string>

#include "cache/answer_timings.h"

using slotcache::find_timings;

TEST_CASE("answer_timings: from a whole JSON answer") {
  auto t = find_timings(
      R"({"content":"x","tokens_cached":11,"timings":{"cache_n":2,"prompt_n":4,"prompt_ms":4.0,"predicted_n":6,"predicted_ms":8.0}})");
  REQUIRE(t.has_value());
  CHECK(t->cache_n == 2);
  CHECK(t->prompt_n == 4);
  CHECK(t->predicted_n == 6);
}

TEST_CASE("answer_timings: from the last event of a stream") {
  std::string stream =
      "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"
      "data: {\"choices\":[{\"finish_reason\":\"length\"}],\"timings\":{\"cache_n\":26,\"prompt_n\":4,"
      "\"prompt_ms\":3.6,\"predicted_n\":4}}\n\n"
      "data: [DONE]\n\n";
  auto t = find_timings(stream);
  REQUIRE(t.has_value());
  CHECK(t->cache_n == 26);
  CHECK(t->prompt_n == 4);
}

TEST_CASE("answer_timings: the last complete timings win, a cut one is passed over") {
  std::string tail = R"({"timings":{"cache_n":1,"prompt_n":9}} {"timings":{"cache_n":7,"prompt_n":3}} {"timings":{"cache_n":5,"pro)";
  auto t = find_timings(tail);
  REQUIRE(t.has_value());
  CHECK(t->cache_n == 7);
  CHECK_FALSE(find_timings("no timings here").has_value());
  CHECK_FALSE(find_timings(R"({"timings":"later"})").has_value());
}
