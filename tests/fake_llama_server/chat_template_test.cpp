#include "chat_template.h"

#include <doctest/doctest.h>

#include <stdexcept>

using namespace fake_llama;

TEST_CASE("ChatML rendering matches llama-server's apply-template answer") {
  const json body = json::parse(
      R"({"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Hello there"}]})");
  CHECK(render_chat(body) ==
        "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n");
}

TEST_CASE("text parts are joined with newlines and null content is empty") {
  const json body = json::parse(R"({"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
    {"role":"assistant","content":null,"tool_calls":[]},{"role":"user","content":"c"}],"add_generation_prompt":false})");
  CHECK(render_chat(body) == "<|im_start|>user\na\nb<|im_end|>\n<|im_start|>assistant\n<|im_end|>\n<|im_start|>user\nc<|im_end|>\n");
}

TEST_CASE("tools go into the system turn, deterministically") {
  json body = json::parse(R"({"messages":[{"role":"user","content":"Hi"}],
    "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]})");
  const std::string with_tools = render_chat(body);
  CHECK(with_tools.starts_with("<|im_start|>system\n# Tools\n\n{\"type\":\"function\""));
  CHECK(with_tools == render_chat(body));
  body["messages"].insert(body["messages"].begin(), json{{"role", "system"}, {"content", "Be brief."}});
  CHECK(render_chat(body).starts_with("<|im_start|>system\nBe brief.\n\n# Tools\n\n"));
  body.erase("tools");
  CHECK(render_chat(body) == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST_CASE("a trailing assistant message is continued instead of closed") {
  const json body = json::parse(R"({"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hel"}]})");
  CHECK(render_chat(body) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHel");
}

TEST_CASE("invalid chats are rejected with llama-server's messages") {
  CHECK_THROWS_WITH_AS(render_chat(json::object()), "'messages' is required", std::invalid_argument);
  CHECK_THROWS_WITH_AS(render_chat(json{{"messages", "x"}}), "Expected 'messages' to be an array", std::invalid_argument);
  CHECK_THROWS_WITH_AS(render_chat(json::parse(R"({"messages":[{"role":"user"}]})")),
                       "All non-assistant messages must contain 'content'", std::invalid_argument);
  CHECK_THROWS_WITH_AS(render_chat(json::parse(R"({"messages":[{"role":"user","content":[{"type":"bogus"}]}]})")),
                       "unsupported content[].type", std::invalid_argument);
  CHECK_THROWS_AS(render_chat(json::parse(R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})")),
                  std::runtime_error);
}
