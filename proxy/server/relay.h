#pragma once

#include <chrono>
#include <cstdint>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace slotcache {

struct config;
class connection_pool;

struct relay_result {
  unsigned status = 0;           // as sent to the client; 0 when nothing was sent
  std::uint64_t bytes_out = 0;   // body bytes sent to the client
  std::chrono::microseconds backend_wait{0};  // request written → response headers read
  bool keep_alive = false;       // the client connection may serve another request
  bool client_gone = false;      // the client left before the answer was complete
  bool backend_cut = false;      // the backend failed after the answer had started
  bool backend_failed = false;   // slotcache answered 502/504 itself: the backend was unreachable or died
};

// Forwards one request to the backend and streams the answer back as it arrives.
// While it waits or streams it watches the client: a client that leaves makes it drop the
// backend connection at once, so llama-server stops working for nobody.
// Never throws for network outcomes; errors before the response started are answered in
// llama-server's JSON shape (502 unreachable or dead, 504 timed out).
// With `body_tail`, the last bytes of the answer's body (up to 64 KiB) are kept there: enough to
// read llama-server's final `timings` without buffering a stream.
boost::asio::awaitable<relay_result> relay(boost::beast::tcp_stream& client,
                                           boost::beast::http::request<boost::beast::http::string_body> request,
                                           connection_pool& pool, const config& cfg, bool client_keep_alive,
                                           std::string* body_tail = nullptr);

// Completes when the client closes or resets its connection (never, if it sends more: a pipelined
// request). Run it with `||` beside work that is pointless once the client is gone.
boost::asio::awaitable<void> watch_client(boost::beast::tcp_stream& client);

}  // namespace slotcache
