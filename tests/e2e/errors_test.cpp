#include <doctest/doctest.h>

#include <csignal>
#include <thread>

#include "fixtures.h"

using namespace slotcache::test;
using nlohmann::json;
using namespace std::chrono;

namespace {

void check_error_shape(const http_response& res, unsigned code, const std::string& type,
                       const std::string& message_part) {
  CHECK(res.status == code);
  CHECK(res.header("Content-Type") == "application/json; charset=utf-8");
  auto doc = json::parse(res.body);
  CHECK(doc["error"]["code"] == code);
  CHECK(doc["error"]["type"] == type);
  CHECK_MESSAGE(doc["error"]["message"].get<std::string>().find(message_part) != std::string::npos,
                doc["error"]["message"]);
}

// A loopback port with nothing listening on it.
int closed_port() {
  fake_backend probe;
  int port = probe.port();
  probe.process().signal(SIGKILL);
  probe.process().wait_exit(seconds(5));
  return port;
}

}  // namespace

TEST_CASE("a body over the limit is refused with 413") {
  fake_backend backend;
  slotcache_process proxy(backend.url(), {"--max-body-bytes", "2K"});
  std::string body = R"({"content":")" + std::string(4096, 'a') + R"("})";
  auto res = http_call(proxy.port(), "POST", "/tokenize", body);
  check_error_shape(res, 413, "invalid_request_error", "exceeds the limit of 2048 bytes");
  CHECK(backend.stats()["requests"].get<int>() == 0);

  // A chunked body is counted as it arrives.
  test_connection client(proxy.port());
  std::string chunk(3000, 'b');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
  client.send_raw(std::string("POST /tokenize HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n") +
                  size_line + chunk + "\r\n0\r\n\r\n");
  check_error_shape(client.read_response(), 413, "invalid_request_error", "exceeds the limit");
}

TEST_CASE("malformed HTTP is refused with 400") {
  fake_backend backend;
  slotcache_process proxy(backend.url());
  test_connection client(proxy.port());
  client.send_raw("GARBAGE\r\n\r\n");
  check_error_shape(client.read_response(), 400, "invalid_request_error", "malformed HTTP request");
  CHECK(client.wait_closed(seconds(5)));

  test_connection bad_length(proxy.port());
  bad_length.send_raw("POST /completion HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n");
  check_error_shape(bad_length.read_response(), 400, "invalid_request_error", "malformed");
}

TEST_CASE("an unreachable backend is a 502 that names it") {
  int port = closed_port();
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  slotcache_process proxy(url, {}, /*wait_for_backend=*/false);
  auto res = http_call(proxy.port(), "POST", "/completion", R"({"prompt":"hi"})");
  check_error_shape(res, 502, "unavailable_error", "backend " + url + " unreachable");
  // The connection stays usable.
  test_connection client(proxy.port());
  for (int i = 0; i < 2; ++i) {
    client.send_request("GET", "/health");
    CHECK(client.read_response().status == 502);
  }
}

TEST_CASE("a backend that dies mid-request is a 502") {
  fake_backend backend({"--us-per-prompt-token", "300000"});
  slotcache_process proxy(backend.url());
  test_connection client(proxy.port());
  client.send_request("POST", "/completion", R"({"prompt":"one two three four five six seven eight","n_predict":2})");
  std::this_thread::sleep_for(milliseconds(500));
  backend.process().signal(SIGKILL);
  check_error_shape(client.read_response(seconds(10)), 502, "unavailable_error", "failed before answering");
}

TEST_CASE("a backend that stays silent past the idle timeout is a 504") {
  fake_backend backend;
  slotcache_process proxy(backend.url(), {"--backend-idle-timeout-seconds", "1"});
  auto faults = http_call(backend.port(), "POST", "/fake/faults", R"({"delay_response_ms":3000})");
  REQUIRE(faults.status == 200);
  auto res = http_call(proxy.port(), "POST", "/completion", R"({"prompt":"hi","n_predict":1})");
  check_error_shape(res, 504, "unavailable_error", "sent nothing for 1 s");
}

TEST_CASE("a backend that cuts a stream closes the client connection") {
  fake_backend backend({"--us-per-gen-token", "20000"});
  slotcache_process proxy(backend.url());
  REQUIRE(http_call(backend.port(), "POST", "/fake/faults", R"({"close_mid_stream":1})").status == 200);
  test_connection client(proxy.port());
  client.send_request("POST", "/completion", R"({"prompt":"hi","n_predict":20,"stream":true})");
  CHECK(client.read_header().status == 200);
  bool cut = false;
  try {
    while (client.read_body_piece(seconds(10))) {
    }
  } catch (const std::runtime_error&) {
    cut = true;  // the chunked body never ended properly
  }
  CHECK(cut);
}

TEST_CASE("slow headers are cut by the header timeout") {
  fake_backend backend;
  slotcache_process proxy(backend.url(), {"--header-timeout-seconds", "1"});
  test_connection client(proxy.port());
  client.send_raw("GET /health HTTP/1.1\r\nHost: x\r\n");  // never finished
  CHECK(client.wait_closed(seconds(5)));
}
