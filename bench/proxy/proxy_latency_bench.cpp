// Prints what slotcache adds on top of the backend, measured in the same run on loopback:
//   1. small non-streaming requests, one keep-alive connection: p50/p99 latency, direct and via slotcache;
//   2. time to the first server-sent event of a streamed completion;
//   3. requests per second with 64 concurrent keep-alive clients.
// Usage: proxy_latency_bench [--requests N] [--seconds S] [--clients C]
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "fixtures.h"

using namespace slotcache::test;
using namespace std::chrono;

namespace {

struct options {
  int requests = 3000;
  int stream_requests = 300;
  int seconds = 5;
  int clients = 64;
};

// A keep-alive client that reconnects when the server ends the connection (llama-server does
// after 100 requests), as every HTTP client library does.
class client {
 public:
  explicit client(int port) : port_(port), c_(std::make_unique<test_connection>(port)) {}
  http_response call(std::string_view method, std::string_view target, std::string_view body = "") {
    c_->send_request(method, target, body);
    auto res = c_->read_response();
    if (!res.keep_alive) c_ = std::make_unique<test_connection>(port_);
    return res;
  }
  test_connection& raw() { return *c_; }
  void after_raw(const http_response& head) {
    if (!head.keep_alive) c_ = std::make_unique<test_connection>(port_);
  }

 private:
  int port_;
  std::unique_ptr<test_connection> c_;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

std::vector<double> small_request_latencies(int port, int n) {
  client c(port);
  std::vector<double> ms;
  for (int i = 0; i < n + 100; ++i) {
    auto t0 = steady_clock::now();
    auto res = c.call("POST", "/tokenize", R"({"content":"Hello there, how are you?"})");
    auto t1 = steady_clock::now();
    if (res.status != 200) throw std::runtime_error("unexpected status");
    if (i >= 100) ms.push_back(duration<double, std::milli>(t1 - t0).count());  // after warm-up
  }
  return ms;
}

std::vector<double> first_event_latencies(int port, int n) {
  client cl(port);
  std::vector<double> ms;
  for (int i = 0; i < n + 20; ++i) {
    auto& c = cl.raw();
    auto t0 = steady_clock::now();
    c.send_request("POST", "/completion", R"({"prompt":"The quick brown fox","n_predict":4,"stream":true})");
    auto head = c.read_header();
    auto first = c.read_body_piece();
    auto t1 = steady_clock::now();
    while (c.read_body_piece()) {
    }
    cl.after_raw(head);
    if (!first) throw std::runtime_error("no event");
    if (i >= 20) ms.push_back(duration<double, std::milli>(t1 - t0).count());
  }
  return ms;
}

double throughput(int port, int clients, int seconds, std::string_view method = "GET",
                  std::string_view target = "/health", std::string_view body = "") {
  std::atomic<long> done{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i)
    threads.emplace_back([&] {
      client c(port);
      while (!stop)
        if (c.call(method, target, body).status == 200) ++done;
    });
  std::this_thread::sleep_for(milliseconds(500));  // warm-up
  long start_count = done;
  auto t0 = steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  long end_count = done;
  auto t1 = steady_clock::now();
  stop = true;
  for (auto& t : threads) t.join();
  return static_cast<double>(end_count - start_count) / duration<double>(t1 - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--requests")) opt.requests = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--seconds")) opt.seconds = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--clients")) opt.clients = std::atoi(argv[i + 1]);
  }
  // Keep-alive long enough that neither side drops connections during the run.
  fake_backend backend({"--keep-alive-timeout", "60", "--slots", "4"});
  slotcache_process proxy(backend.url(), {"--access-log", "false", "--backend-keepalive-seconds", "50"});
  std::printf("slotcache proxy benchmark (fake backend, loopback, %u cores)\n", std::thread::hardware_concurrency());

  auto direct = small_request_latencies(backend.port(), opt.requests);
  auto via = small_request_latencies(proxy.port(), opt.requests);
  std::printf("\n1. small requests (POST /tokenize, keep-alive, %d sequential)\n", opt.requests);
  std::printf("   %-8s p50 %7.3f ms   p99 %7.3f ms\n", "direct", percentile(direct, 0.5), percentile(direct, 0.99));
  std::printf("   %-8s p50 %7.3f ms   p99 %7.3f ms\n", "via", percentile(via, 0.5), percentile(via, 0.99));
  std::printf("   added    p50 %7.3f ms   p99 %7.3f ms   (targets: < 0.3 ms, < 2 ms)\n",
              percentile(via, 0.5) - percentile(direct, 0.5), percentile(via, 0.99) - percentile(direct, 0.99));

  auto sse_direct = first_event_latencies(backend.port(), opt.stream_requests);
  auto sse_via = first_event_latencies(proxy.port(), opt.stream_requests);
  std::printf("\n2. time to first SSE event (POST /completion stream, %d sequential)\n", opt.stream_requests);
  std::printf("   %-8s p50 %7.3f ms   p99 %7.3f ms\n", "direct", percentile(sse_direct, 0.5), percentile(sse_direct, 0.99));
  std::printf("   %-8s p50 %7.3f ms   p99 %7.3f ms\n", "via", percentile(sse_via, 0.5), percentile(sse_via, 0.99));
  std::printf("   added    p50 %7.3f ms\n", percentile(sse_via, 0.5) - percentile(sse_direct, 0.5));

  double rps_direct = throughput(backend.port(), opt.clients, opt.seconds);
  double rps_via = throughput(proxy.port(), opt.clients, opt.seconds);
  std::printf("\n3. throughput (GET /health, %d keep-alive clients, %d s)\n", opt.clients, opt.seconds);
  std::printf("   direct %9.0f req/s\n   via    %9.0f req/s   ratio %.2f (target >= 0.8)\n", rps_direct, rps_via,
              rps_via / rps_direct);
  std::printf("   (each request costs the fake backend almost nothing: on 2 cores the proxy's own CPU,\n"
              "    two sockets' worth of syscalls per request, competes with backend and clients)\n");

  // The same with requests that make the backend work, as generation requests do: 4 slots,
  // 2 ms of simulated generation each.
  fake_backend busy({"--keep-alive-timeout", "60", "--slots", "4", "--us-per-gen-token", "1000"});
  slotcache_process busy_proxy(busy.url(), {"--access-log", "false", "--backend-keepalive-seconds", "50"});
  const char* gen = R"({"prompt":"Hello","n_predict":2})";
  double gen_direct = throughput(busy.port(), opt.clients, opt.seconds, "POST", "/completion", gen);
  double gen_via = throughput(busy_proxy.port(), opt.clients, opt.seconds, "POST", "/completion", gen);
  std::printf("\n4. throughput (POST /completion, 2 ms of backend work each, 4 slots, %d clients, %d s)\n",
              opt.clients, opt.seconds);
  std::printf("   direct %9.0f req/s\n   via    %9.0f req/s   ratio %.2f\n", gen_direct, gen_via, gen_via / gen_direct);
  return 0;
}
