#include <doctest/doctest.h>

#include <csignal>
#include <fstream>

#include "fixtures.h"

using namespace slotcache::test;
using namespace std::chrono;

TEST_CASE("the backend's identity is read at start-up and the cache directory indexed") {
  temp_dir cache;
  std::ofstream(cache.path() / "notes.txt") << "not ours";
  std::ofstream(cache.path() / "sc-00000000000000000000000000000000.json") << "{broken";
  fake_backend backend({"--slot-save-path", cache.path().string(), "--model-path", "/models/alpha.gguf"});
  slotcache_process proxy(backend.url(), {"--cache-dir", cache.path().string()});
  auto identity = proxy.process().wait_for_line("backend: /models/alpha.gguf");
  REQUIRE(identity.has_value());
  CHECK(identity->find("fingerprint ") != std::string::npos);
  auto report = proxy.process().wait_for_line("checkpoint store ");
  REQUIRE(report.has_value());
  CHECK(report->find("0 checkpoint(s) indexed") != std::string::npos);
  // A stray sidecar of ours is removed; a file that is not ours is left alone.
  CHECK(proxy.process().wait_for_line("sc-00000000000000000000000000000000.json").has_value());
  CHECK(std::filesystem::exists(cache.path() / "notes.txt"));
  CHECK_FALSE(std::filesystem::exists(cache.path() / "sc-00000000000000000000000000000000.json"));
}

TEST_CASE("slotcache waits for a backend that starts later, and notices when it changes") {
  int port = free_port();
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  slotcache_process proxy(url, {"--backend-check-seconds", "1"}, /*wait_for_backend=*/false);
  CHECK(proxy.process().wait_for_line("not answering yet", seconds(10)).has_value());
  {
    child_process first(fake_backend_program(), {"--port", std::to_string(port), "--model-path", "/models/alpha.gguf"});
    REQUIRE(first.wait_for_port() == port);
    CHECK(proxy.process().wait_for_line("backend: /models/alpha.gguf", seconds(15)).has_value());
    first.signal(SIGTERM);
    first.wait_exit(seconds(5));
  }
  child_process second(fake_backend_program(), {"--port", std::to_string(port), "--model-path", "/models/beta.gguf"});
  REQUIRE(second.wait_for_port() == port);
  auto changed = proxy.process().wait_for_line("backend changed: /models/beta.gguf", seconds(15));
  REQUIRE(changed.has_value());
  CHECK(changed->find("was /models/alpha.gguf") != std::string::npos);
}
