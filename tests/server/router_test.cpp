#include <doctest/doctest.h>

#include "server/router.h"

using slotcache::path_of;
using slotcache::route;
using slotcache::route_for;

TEST_CASE("prompt-bearing endpoints") {
  for (auto path : {"/completion", "/completions", "/v1/completions", "/chat/completions", "/v1/chat/completions",
                    "/v1/chat/completions/", "/completion?x=1"})
    CHECK(route_for("POST", path) == route::generation);
}

TEST_CASE("everything else is relayed") {
  CHECK(route_for("GET", "/completion") == route::relay);
  for (auto path : {"/", "/health", "/props", "/slots", "/slots/0?action=save", "/v1/models", "/tokenize",
                    "/apply-template", "/v1/messages", "/infill", "/v1/embeddings", "/completionx", "/v2/completions"})
    CHECK(route_for("POST", path) == route::relay);
}

TEST_CASE("path_of strips query and fragment") {
  CHECK(path_of("/slots/0?action=save") == "/slots/0");
  CHECK(path_of("/a#b") == "/a");
  CHECK(path_of("/plain") == "/plain");
}
