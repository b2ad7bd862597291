#include <doctest/doctest.h>

#include <boost/beast/http/fields.hpp>

#include "http/headers.h"

namespace http = boost::beast::http;
using slotcache::append_via;
using slotcache::strip_hop_by_hop;

TEST_CASE("hop-by-hop fields are removed, end-to-end fields kept") {
  http::fields f;
  f.set(http::field::connection, "keep-alive, X-Trace-Hop");
  f.set("X-Trace-Hop", "1");
  f.set(http::field::keep_alive, "timeout=5, max=100");
  f.set(http::field::proxy_connection, "keep-alive");
  f.set(http::field::te, "trailers");
  f.set(http::field::trailer, "X-Checksum");
  f.set(http::field::upgrade, "websocket");
  f.set(http::field::proxy_authorization, "Basic eA==");
  f.set(http::field::transfer_encoding, "chunked");
  f.set(http::field::authorization, "Bearer secret");
  f.set(http::field::content_type, "application/json");
  f.set("X-Request-Id", "abc");

  strip_hop_by_hop(f);
  CHECK(f.count(http::field::connection) == 0);
  CHECK(f.count("X-Trace-Hop") == 0);
  CHECK(f.count(http::field::keep_alive) == 0);
  CHECK(f.count(http::field::proxy_connection) == 0);
  CHECK(f.count(http::field::te) == 0);
  CHECK(f.count(http::field::trailer) == 0);
  CHECK(f.count(http::field::upgrade) == 0);
  CHECK(f.count(http::field::proxy_authorization) == 0);
  CHECK(f.count(http::field::transfer_encoding) == 0);
  CHECK(f[http::field::authorization] == "Bearer secret");
  CHECK(f[http::field::content_type] == "application/json");
  CHECK(f["X-Request-Id"] == "abc");
}

TEST_CASE("framing survives when asked to, even if Connection names it") {
  http::fields f;
  f.set(http::field::connection, "Transfer-Encoding, close");
  f.set(http::field::transfer_encoding, "chunked");
  strip_hop_by_hop(f, true);
  CHECK(f[http::field::transfer_encoding] == "chunked");
  CHECK(f.count(http::field::connection) == 0);
}

TEST_CASE("several Connection fields all count") {
  http::fields f;
  f.insert(http::field::connection, "X-A");
  f.insert(http::field::connection, " X-B ,, ");
  f.set("X-A", "1");
  f.set("X-B", "2");
  f.set("X-C", "3");
  strip_hop_by_hop(f);
  CHECK(f.count("X-A") == 0);
  CHECK(f.count("X-B") == 0);
  CHECK(f["X-C"] == "3");
}

TEST_CASE("Via records each hop") {
  http::fields f;
  append_via(f, 11);
  CHECK(f[http::field::via] == "1.1 slotcache");
  append_via(f, 10);
  CHECK(f[http::field::via] == "1.1 slotcache, 1.0 slotcache");
}
