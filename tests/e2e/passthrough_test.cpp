#include <doctest/doctest.h>

#include <thread>

#include "fixtures.h"
#include "same_answer.h"

using namespace slotcache::test;
using nlohmann::json;

namespace {

struct passthrough {
  fake_backend backend;
  slotcache_process proxy{backend.url()};
};

}  // namespace

TEST_CASE("deterministic endpoints answer byte for byte as the backend does") {
  passthrough env;
  struct call {
    const char* method;
    const char* target;
    const char* body;
  };
  const call calls[] = {
      {"GET", "/health", ""},
      {"GET", "/props", ""},
      {"GET", "/v1/models", ""},
      {"GET", "/slots", ""},
      {"POST", "/tokenize", R"({"content":"Hello there","with_pieces":true})"},
      {"POST", "/tokenize", R"({"content":"<|im_start|>user\nHi<|im_end|>\n","add_special":true,"parse_special":true})"},
      {"POST", "/detokenize", R"({"tokens":[1,15043,727]})"},
      {"POST", "/apply-template", R"({"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Hello there"}]})"},
      {"GET", "/no/such/path", ""},
      {"POST", "/completion", "{not json"},
      {"POST", "/slots/0?action=frobnicate", "{}"},
  };
  for (const auto& c : calls) {
    CAPTURE(c.target);
    auto direct = http_call(env.backend.port(), c.method, c.target, c.body);
    auto via = http_call(env.proxy.port(), c.method, c.target, c.body);
    check_same_answer(direct, via);
  }
}

TEST_CASE("generation answers reach the client exactly as the backend sent them") {
  passthrough env;
  const char* bodies[][2] = {
      {"/completion", R"({"prompt":"The quick brown fox","n_predict":6})"},
      {"/completion", R"({"prompt":"The quick brown fox","n_predict":4,"stream":true})"},
      {"/v1/chat/completions", R"({"messages":[{"role":"user","content":"Hello there"}],"max_tokens":6})"},
      {"/v1/chat/completions", R"({"messages":[{"role":"user","content":"Hello there"}],"max_tokens":4,"stream":true})"},
      {"/v1/completions", R"({"prompt":"Once upon a time","max_tokens":3})"},
  };
  for (const auto& [path, body] : bodies) {
    CAPTURE(path);
    CAPTURE(body);
    auto via = http_call(env.proxy.port(), "POST", path, body);
    auto sent = http_call(env.backend.port(), "GET", "/fake/last-response");
    REQUIRE(sent.status == 200);
    auto record = json::parse(sent.body);
    CHECK(via.status == record["status"].get<unsigned>());
    CHECK(via.body == record["body"].get<std::string>());
    auto received = json::parse(http_call(env.backend.port(), "GET", "/fake/last-request").body);
    CHECK(received["body"] == body);
    CHECK(received["target"] == path);
  }
}

TEST_CASE("headers, query and Authorization pass through but hop-by-hop headers do not") {
  fake_backend backend({"--api-key", "sekrit"});
  // slotcache's own calls need the key too; clients bring theirs.
  slotcache_process proxy(backend.url(), {"--backend-api-key", "sekrit"});

  auto denied = http_call(proxy.port(), "GET", "/props?x=1&y=%20z");
  auto denied_direct = http_call(backend.port(), "GET", "/props?x=1&y=%20z");
  CHECK(denied.status == 401);
  check_same_answer(denied_direct, denied);

  auto ok = http_call(proxy.port(), "POST", "/tokenize?probe=yes", R"({"content":"hi"})",
                      {{"Authorization", "Bearer sekrit"},
                       {"X-Custom", "kept"},
                       {"Connection", "keep-alive, X-Hop"},
                       {"X-Hop", "dropped"},
                       {"Proxy-Authorization", "Basic eA=="}});
  CHECK(ok.status == 200);
  auto seen = json::parse(http_call(backend.port(), "GET", "/fake/last-request").body);
  CHECK(seen["method"] == "POST");
  CHECK(seen["target"] == "/tokenize?probe=yes");
  CHECK(seen["body"] == R"({"content":"hi"})");
  auto headers = seen["headers"];
  auto get = [&](const std::string& name) -> std::string {
    for (const auto& [k, v] : headers.items()) {
      std::string lower = k;
      for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (lower == name) return v.get<std::string>();
    }
    return "";
  };
  CHECK(get("authorization") == "Bearer sekrit");
  CHECK(get("x-custom") == "kept");
  CHECK(get("x-hop") == "");
  CHECK(get("proxy-authorization") == "");
  CHECK(get("via").find("slotcache") != std::string::npos);
}

TEST_CASE("one client connection carries many requests, and stale backend connections are replaced") {
  // The backend drops idle keep-alive connections after 1 s; slotcache is told to trust them for 30 s,
  // so it must notice the close and send again on a fresh connection.
  fake_backend backend({"--keep-alive-timeout", "1"});
  slotcache_process proxy(backend.url(), {"--backend-keepalive-seconds", "30"});
  test_connection client(proxy.port());
  for (int i = 0; i < 4; ++i) {
    client.send_request("POST", "/tokenize", R"({"content":"again and again"})");
    auto res = client.read_response();
    CHECK(res.status == 200);
    if (i == 1) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  }
  for (int i = 0; i < 50; ++i) {
    client.send_request("GET", "/health");
    CHECK(client.read_response().status == 200);
  }
}

TEST_CASE("large bodies and Expect: 100-continue") {
  passthrough env;
  std::string big_prompt;
  while (big_prompt.size() < 3'000'000) big_prompt += "lorem ipsum dolor sit amet ";
  json body = {{"content", big_prompt}};
  auto via = http_call(env.proxy.port(), "POST", "/tokenize", body.dump());
  REQUIRE(via.status == 200);
  CHECK(json::parse(via.body)["tokens"].size() > 500'000);

  test_connection client(env.proxy.port());
  std::string small = R"({"content":"continue please"})";
  client.send_raw("POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                  "Content-Length: " + std::to_string(small.size()) + "\r\n\r\n");
  auto interim = client.read_header(std::chrono::seconds(10));
  CHECK(interim.status == 100);
  client.send_raw(small);
  auto final_answer = client.read_response();
  CHECK(final_answer.status == 200);
  CHECK(final_answer.body == http_call(env.backend.port(), "POST", "/tokenize", small).body);
}
