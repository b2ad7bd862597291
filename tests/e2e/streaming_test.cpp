#include <doctest/doctest.h>

#include <thread>

#include "fixtures.h"

using namespace slotcache::test;
using nlohmann::json;
using namespace std::chrono;

namespace {

// Polls the backend's counters until `pred` holds or the timeout passes.
template <class Pred>
bool eventually(fake_backend& backend, Pred pred, milliseconds timeout = seconds(5)) {
  auto deadline = steady_clock::now() + timeout;
  while (steady_clock::now() < deadline) {
    if (pred(backend.stats())) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return pred(backend.stats());
}

}  // namespace

TEST_CASE("server-sent events arrive one by one, as the backend produces them") {
  // 8 tokens at 250 ms each: a proxy that buffered the answer would deliver every event at once.
  fake_backend backend({"--us-per-gen-token", "250000"});
  slotcache_process proxy(backend.url());
  test_connection client(proxy.port());
  client.send_request("POST", "/completion", R"({"prompt":"stream to me","n_predict":8,"stream":true})");
  auto head = client.read_header();
  CHECK(head.status == 200);
  CHECK(head.header("Content-Type") == "text/event-stream");

  std::string seen;
  std::vector<steady_clock::time_point> event_times;
  while (auto piece = client.read_body_piece(seconds(30))) {
    seen += *piece;
    std::size_t events = 0;
    for (std::size_t pos = 0; (pos = seen.find("\n\n", pos)) != std::string::npos; pos += 2) ++events;
    while (event_times.size() < events) event_times.push_back(steady_clock::now());
  }
  REQUIRE(event_times.size() >= 8);
  // The first event was in the client's hands long before the last one existed.
  CHECK(event_times.back() - event_times.front() >= milliseconds(1000));
  auto sent = json::parse(http_call(backend.port(), "GET", "/fake/last-response").body);
  CHECK(seen == sent["body"].get<std::string>());
}

TEST_CASE("a client that leaves mid-stream stops the backend's work") {
  fake_backend backend({"--us-per-gen-token", "100000"});
  slotcache_process proxy(backend.url());
  {
    test_connection client(proxy.port());
    client.send_request("POST", "/completion", R"({"prompt":"a long story","n_predict":200,"stream":true})");
    CHECK(client.read_header().status == 200);
    CHECK(client.read_body_piece(seconds(10)).has_value());
  }  // the client hangs up after the first event
  CHECK(eventually(backend, [](const json& s) { return s["cancelled"].get<int>() == 1; }));
  auto generated = backend.stats()["generated_tokens"].get<int>();
  CHECK(generated < 100);
}

TEST_CASE("a client that leaves during prompt processing stops the backend's work") {
  // No byte flows back while the prompt is processed: slotcache must watch the client socket itself.
  fake_backend backend({"--us-per-prompt-token", "200000"});
  slotcache_process proxy(backend.url());
  {
    test_connection client(proxy.port());
    client.send_request("POST", "/completion", R"({"prompt":"one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty","n_predict":4})");
    std::this_thread::sleep_for(milliseconds(500));
  }
  CHECK(eventually(backend, [](const json& s) { return s["cancelled"].get<int>() == 1; }));
  // The slot is free again: a new request is served at once.
  backend.process();
  auto res = http_call(proxy.port(), "POST", "/completion", R"({"prompt":"short","n_predict":1})");
  CHECK(res.status == 200);
}
