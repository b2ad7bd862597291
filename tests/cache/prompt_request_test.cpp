#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "cache/prompt_request.h"

using namespace slotcache;
using nlohmann::json;

TEST_CASE("prompt_request: chat requests are rendered by the backend") {
  auto r = classify_prompt("/v1/chat/completions", json::parse(R"({"messages":[{"role":"user","content":"hi"}]})"));
  CHECK(r.form == prompt_form::chat);
  r = classify_prompt("/chat/completions",
                      json::parse(R"({"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]})"));
  CHECK(r.form == prompt_form::chat);
}

TEST_CASE("prompt_request: completion prompts as text or token ids") {
  auto r = classify_prompt("/completion", json::parse(R"({"prompt":"The quick brown fox"})"));
  CHECK(r.form == prompt_form::text);
  CHECK(r.text == "The quick brown fox");
  r = classify_prompt("/v1/completions", json::parse(R"({"prompt":["one prompt in an array"]})"));
  CHECK(r.form == prompt_form::text);
  CHECK(r.text == "one prompt in an array");
  r = classify_prompt("/completion", json::parse(R"({"prompt":[1,450,4996]})"));
  CHECK(r.form == prompt_form::tokens);
  CHECK(r.tokens == std::vector<token_id>{1, 450, 4996});
  r = classify_prompt("/completions", json::parse(R"({"prompt":[[1,2,3]]})"));
  CHECK(r.form == prompt_form::tokens);
}

TEST_CASE("prompt_request: what cannot be predicted is relayed uncached, with a reason") {
  auto unsupported = [](const char* path, const char* body) {
    auto r = classify_prompt(path, json::parse(body));
    CHECK(r.form == prompt_form::unsupported);
    CHECK_FALSE(r.why.empty());
  };
  unsupported("/v1/chat/completions",
              R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]})");
  unsupported("/v1/chat/completions", R"({"messages":[]})");
  unsupported("/v1/chat/completions", R"({"prompt":"no messages"})");
  unsupported("/completion", R"({"prompt":["two","prompts"]})");
  unsupported("/completion", R"({"prompt":[1,"mixed"]})");
  unsupported("/completion", R"({"prompt":""})");
  unsupported("/completion", R"({"prompt":{"multimodal_data":[]}})");
  unsupported("/completion", R"({"prompt":"hi","cache_prompt":false})");
  unsupported("/completion", R"([1,2])");
}
