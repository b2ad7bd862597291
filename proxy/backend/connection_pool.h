#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "config/config.h"

namespace slotcache {

// One keep-alive connection to the backend, owned by whoever holds it.
struct backend_connection {
  explicit backend_connection(boost::asio::any_io_executor ex) : stream(std::move(ex)) {}
  boost::beast::tcp_stream stream;
  boost::beast::flat_buffer buffer;
  std::vector<char> relay_chunk;  // answer bytes on their way to the client; kept for the connection's life
  std::chrono::steady_clock::time_point idle_since{};
  bool reused = false;  // served an earlier request: the backend may have closed it meanwhile
};

struct acquire_result {
  std::unique_ptr<backend_connection> connection;  // null on failure
  boost::system::error_code error;
  bool timed_out = false;
};

// Bounds the next operations on a stream by an idle timeout; 0 means none.
void arm(boost::beast::tcp_stream& stream, std::chrono::seconds timeout);

// A keep-alive connection the backend closed while it sat in the pool fails at once, before any
// byte of an answer: nothing was processed, so sending again on a fresh connection is safe. A
// connection that fails after the backend had the request for a while (it died working on it) is
// not stale, and the request is not sent twice. `after` is the time since the request was sent.
bool stale_connection_error(const boost::system::error_code& ec, std::chrono::steady_clock::duration after);

// Idle backend connections of one I/O thread. Not thread-safe: each thread has its own pool,
// so acquiring and releasing never contend.
class connection_pool {
 public:
  connection_pool(boost::asio::any_io_executor ex, const config& cfg, std::size_t max_idle);

  // A pooled connection young enough to trust, or a new one (connect bounded by the connect timeout).
  // `fresh`: always a new one, after a pooled connection turned out to be closed by the backend.
  boost::asio::awaitable<acquire_result> acquire(bool fresh = false);

  // Only for a connection whose last response was read whole and allows keep-alive.
  void release(std::unique_ptr<backend_connection> connection);

  std::size_t idle_count() const { return idle_.size(); }
  void close_idle() { idle_.clear(); }

 private:
  boost::asio::any_io_executor executor_;
  const config& config_;
  std::size_t max_idle_;
  std::deque<std::unique_ptr<backend_connection>> idle_;  // most recently released at the back
  boost::asio::ip::tcp::resolver::results_type endpoints_;
};

}  // namespace slotcache
