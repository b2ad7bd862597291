#pragma once

#include <doctest/doctest.h>

#include "http_client.h"

namespace slotcache::test {

// The end-to-end parts of an answer a proxy must not change (hop-by-hop fields and Date aside),
// and the marks it must leave: Via added, the backend's Keep-Alive not passed on.
inline void check_same_answer(const http_response& direct, const http_response& via) {
  CHECK(via.status == direct.status);
  CHECK(via.body == direct.body);
  for (auto name : {"Content-Type", "Server", "Access-Control-Allow-Origin", "X-Accel-Buffering"})
    CHECK_MESSAGE(via.header(name) == direct.header(name), name);
  CHECK(via.header("Via").find("slotcache") != std::string::npos);
  CHECK(via.header("Keep-Alive").empty());
}

}  // namespace slotcache::test
