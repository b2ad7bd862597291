#include "backend/connection_pool.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>

namespace slotcache {
namespace net = boost::asio;

void arm(boost::beast::tcp_stream& stream, std::chrono::seconds timeout) {
  if (timeout.count() > 0)
    stream.expires_after(timeout);
  else
    stream.expires_never();
}

bool stale_connection_error(const boost::system::error_code& ec, std::chrono::steady_clock::duration after) {
  namespace http = boost::beast::http;
  // The close of an idle connection is already on its way when the request is written: the
  // answer to it comes back within a round trip on the networks a backend sits on.
  constexpr auto at_once = std::chrono::milliseconds(100);
  return after < at_once && (ec == http::error::end_of_stream || ec == net::error::connection_reset ||
                             ec == net::error::broken_pipe || ec == net::error::eof);
}

connection_pool::connection_pool(net::any_io_executor ex, const config& cfg, std::size_t max_idle)
    : executor_(std::move(ex)), config_(cfg), max_idle_(max_idle) {}

net::awaitable<acquire_result> connection_pool::acquire(bool fresh) {
  auto now = std::chrono::steady_clock::now();
  while (!fresh && !idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    // Too old: the backend's own keep-alive timer may fire while our request is in flight.
    if (now - conn->idle_since >= config_.backend_keepalive) continue;
    conn->reused = true;
    co_return acquire_result{std::move(conn), {}, false};
  }

  auto token = net::as_tuple(net::use_awaitable);
  if (endpoints_.empty()) {
    net::ip::tcp::resolver resolver(executor_);
    const std::string port = std::to_string(config_.backend.port);
    auto [ec, results] = co_await resolver.async_resolve(config_.backend.host, port, token);
    if (ec) co_return acquire_result{nullptr, ec, false};
    endpoints_ = results;
  }
  auto conn = std::make_unique<backend_connection>(executor_);
  conn->stream.expires_after(config_.backend_connect_timeout);
  auto [ec, ep] = co_await conn->stream.async_connect(endpoints_, token);
  if (ec) {
    endpoints_ = {};  // resolve again next time: the backend may have moved
    co_return acquire_result{nullptr, ec, ec == boost::beast::error::timeout};
  }
  conn->stream.socket().set_option(net::ip::tcp::no_delay(true));
  co_return acquire_result{std::move(conn), {}, false};
}

void connection_pool::release(std::unique_ptr<backend_connection> connection) {
  if (max_idle_ == 0) return;
  connection->idle_since = std::chrono::steady_clock::now();
  connection->stream.expires_never();
  connection->buffer.clear();
  if (idle_.size() >= max_idle_) idle_.pop_front();  // the oldest is the likeliest to be stale
  idle_.push_back(std::move(connection));
}

}  // namespace slotcache
