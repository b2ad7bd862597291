#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "http/error_body.h"

using slotcache::error_body;

TEST_CASE("errors have llama-server's shape and types") {
  auto doc = nlohmann::json::parse(error_body(502, "backend http://127.0.0.1:1 unreachable: connection refused"));
  CHECK(doc["error"]["code"] == 502);
  CHECK(doc["error"]["message"] == "backend http://127.0.0.1:1 unreachable: connection refused");
  CHECK(doc["error"]["type"] == "unavailable_error");
  CHECK(doc.size() == 1);
  CHECK(doc["error"].size() == 3);
  // Same key order as llama-server's own answers (code, message, type).
  CHECK(error_body(400, "x") == R"({"error":{"code":400,"message":"x","type":"invalid_request_error"}})");
  CHECK(nlohmann::json::parse(error_body(404, "x"))["error"]["type"] == "not_found_error");
  CHECK(nlohmann::json::parse(error_body(401, "x"))["error"]["type"] == "authentication_error");
  CHECK(nlohmann::json::parse(error_body(500, "x"))["error"]["type"] == "server_error");
  CHECK(nlohmann::json::parse(error_body(413, "x"))["error"]["type"] == "invalid_request_error");
  CHECK(nlohmann::json::parse(error_body(503, "x"))["error"]["type"] == "unavailable_error");
}

TEST_CASE("messages quoting invalid UTF-8 still give valid JSON") {
  auto body = error_body(400, std::string("bad \xff byte"));
  CHECK_NOTHROW(nlohmann::json::parse(body));
}
