// The same passthrough checks against a real llama-server. Skipped unless SLOTCACHE_LLAMA_SERVER
// names its binary; the models come from ../shared/models (or SLOTCACHE_MODELS_DIR).
#include <doctest/doctest.h>

#include "fixtures.h"
#include "same_answer.h"
#include "skip.h"

using namespace slotcache::test;
using nlohmann::json;

namespace {

// Greedy answers without what legitimately changes from one call to the next.
json stable_part(std::string body) {
  auto doc = json::parse(body);
  for (auto key : {"timings", "created", "id", "usage", "tokens_cached"}) doc.erase(key);
  return doc;
}

void run_passthrough(const std::string& model) {
  llama_server backend(llama_server::model_path(model));
  slotcache_process proxy(backend.url());

  struct call {
    const char* method;
    const char* target;
    const char* body;
  };
  const call calls[] = {
      {"GET", "/health", ""},
      {"GET", "/props", ""},
      {"GET", "/v1/models", ""},
      {"POST", "/tokenize", R"({"content":"Hello there","with_pieces":true})"},
      {"POST", "/detokenize", R"({"tokens":[1,15043,727]})"},
      {"POST", "/apply-template", R"({"messages":[{"role":"user","content":"Hello there"}]})"},
      {"GET", "/no/such/path", ""},
      {"POST", "/slots/0?action=frobnicate", "{}"},
  };
  for (const auto& c : calls) {
    CAPTURE(c.target);
    check_same_answer(http_call(backend.port(), c.method, c.target, c.body),
                      http_call(proxy.port(), c.method, c.target, c.body));
  }

  const char* completion = R"({"prompt":"The quick brown fox","n_predict":8,"temperature":0})";
  auto direct = http_call(backend.port(), "POST", "/completion", completion);
  auto via = http_call(proxy.port(), "POST", "/completion", completion);
  CHECK(via.status == 200);
  CHECK(stable_part(via.body)["content"] == stable_part(direct.body)["content"]);

  const char* chat = R"({"messages":[{"role":"user","content":"Hello there"}],"max_tokens":6,"temperature":0})";
  direct = http_call(backend.port(), "POST", "/v1/chat/completions", chat);
  via = http_call(proxy.port(), "POST", "/v1/chat/completions", chat);
  CHECK(via.status == 200);
  CHECK(stable_part(via.body)["choices"] == stable_part(direct.body)["choices"]);

  test_connection client(proxy.port());
  client.send_request("POST", "/v1/chat/completions",
                      R"({"messages":[{"role":"user","content":"Hello there"}],"max_tokens":6,"temperature":0,"stream":true})");
  auto head = client.read_header();
  CHECK(head.status == 200);
  CHECK(head.header("Content-Type") == "text/event-stream");
  std::string events;
  while (auto piece = client.read_body_piece()) events += *piece;
  CHECK(events.find("\"timings\"") != std::string::npos);
  CHECK(events.rfind("data: [DONE]\n\n") == events.size() - 14);
}

}  // namespace

TEST_CASE("real llama-server, dense model: passthrough") {
  SKIP_TEST_UNLESS(llama_server::available(), "SLOTCACHE_LLAMA_SERVER is not set");
  run_passthrough("tiny-llama.gguf");
}

TEST_CASE("real llama-server, hybrid model: passthrough") {
  SKIP_TEST_UNLESS(llama_server::available(), "SLOTCACHE_LLAMA_SERVER is not set");
  run_passthrough("tiny-granitehybrid.gguf");
}
