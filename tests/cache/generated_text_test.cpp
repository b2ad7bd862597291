#include <doctest/doctest.h>

#include "cache/generated_text.h"

using slotcache::generated_text;

TEST_CASE("generated_text: whole JSON answers") {
  CHECK(generated_text(R"({"choices":[{"index":0,"message":{"role":"assistant","content":"== lists"}}],"usage":{}})") ==
        std::string("== lists"));
  CHECK(generated_text(R"({"index":0,"content":" Oliver checkout","tokens":[],"stop":true})") ==
        std::string(" Oliver checkout"));
  CHECK(generated_text(R"({"choices":[{"text":" once","index":0}]})") == std::string(" once"));
}

TEST_CASE("generated_text: streams, events joined") {
  std::string chat =
      "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"==\"}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\" lists\"}}]}\n\n"
      "data: {\"choices\":[{\"finish_reason\":\"length\",\"delta\":{}}],\"timings\":{\"cache_n\":0}}\n\n"
      "data: [DONE]\n\n";
  CHECK(generated_text(chat) == std::string("== lists"));
  std::string completion =
      "data: {\"index\":0,\"content\":\" Oliver\",\"stop\":false}\n\n"
      "data: {\"index\":0,\"content\":\" checkout\",\"stop\":false}\n\n"
      "data: {\"index\":0,\"content\":\"\",\"stop\":true,\"timings\":{}}\n\n";
  CHECK(generated_text(completion) == std::string(" Oliver checkout"));
}

TEST_CASE("generated_text: what templates may render otherwise is not guessed") {
  CHECK_FALSE(generated_text(R"({"choices":[{"message":{"content":"x","reasoning_content":"think"}}]})"));
  CHECK_FALSE(generated_text(R"({"choices":[{"message":{"content":null,"tool_calls":[{"id":"1"}]}}]})"));
  CHECK_FALSE(generated_text(R"({"choices":[{"text":"a"},{"text":"b"}]})"));
  CHECK_FALSE(generated_text("data: {\"content\":\"a\"}\n\ndata: {\"cont"));  // cut
  CHECK_FALSE(generated_text("{not json"));
}
