#include <doctest/doctest.h>

#include <csignal>
#include <future>
#include <thread>

#include "fixtures.h"

using namespace slotcache::test;
using namespace std::chrono;

TEST_CASE("SIGTERM lets requests in flight finish, refuses new ones, and exits 0") {
  fake_backend backend({"--us-per-prompt-token", "100000"});
  slotcache_process proxy(backend.url());
  test_connection idle(proxy.port());  // a keep-alive connection with nothing to do
  idle.send_request("GET", "/health");
  CHECK(idle.read_response().status == 200);

  test_connection busy(proxy.port());
  busy.send_request("POST", "/completion", R"({"prompt":"one two three four five six seven eight nine ten","n_predict":2})");
  std::this_thread::sleep_for(milliseconds(300));
  proxy.process().signal(SIGTERM);

  CHECK(idle.wait_closed(seconds(5)));
  auto answer = busy.read_response(seconds(20));
  CHECK(answer.status == 200);
  CHECK(proxy.process().wait_exit(seconds(10)) == 0);
  CHECK(proxy.process().wait_for_line("all requests finished", seconds(1)).has_value());
  CHECK_THROWS(test_connection(proxy.port()));
}

TEST_CASE("the shutdown deadline cuts what is still running") {
  fake_backend backend({"--us-per-prompt-token", "1000000"});
  slotcache_process proxy(backend.url(), {"--shutdown-timeout-seconds", "1"});
  test_connection busy(proxy.port());
  busy.send_request("POST", "/completion", R"({"prompt":"one two three four five six seven eight nine ten","n_predict":2})");
  std::this_thread::sleep_for(milliseconds(300));
  auto started = steady_clock::now();
  proxy.process().signal(SIGTERM);
  CHECK(proxy.process().wait_exit(seconds(10)) == 0);
  CHECK(steady_clock::now() - started < seconds(8));
  CHECK(proxy.process().wait_for_line("cutting 1 connection", seconds(1)).has_value());
  CHECK(busy.wait_closed(seconds(5)));
}
