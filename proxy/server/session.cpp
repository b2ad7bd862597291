#include "server/session.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "config/config.h"
#include "server/access_log.h"
#include "server/relay.h"
#include "server/reply.h"
#include "server/router.h"
#include "server/worker.h"

namespace slotcache {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr auto token = net::as_tuple(net::use_awaitable);
constexpr std::size_t header_limit = 64 * 1024;

// Keeps the stream on the worker's set of connections a drain may close, while it waits for a request.
class idle_mark {
 public:
  idle_mark(worker& w, beast::tcp_stream& stream) : worker_(w), stream_(&stream) {
    worker_.idle_sessions.insert(stream_);
  }
  ~idle_mark() { clear(); }
  void clear() { worker_.idle_sessions.erase(stream_); }
  idle_mark(const idle_mark&) = delete;
  idle_mark& operator=(const idle_mark&) = delete;

 private:
  worker& worker_;
  beast::tcp_stream* stream_;
};

struct session_guard {
  explicit session_guard(server_state& s) : state(s) { ++state.active_sessions; }
  ~session_guard() { --state.active_sessions; }
  server_state& state;
};

// After refusing a request whose body is still arriving, stop sending but read a little longer,
// so the client's unread upload does not turn our answer into a connection reset.
net::awaitable<void> lingering_close(beast::tcp_stream& stream) {
  boost::system::error_code ec;
  stream.socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
  std::array<char, 16 * 1024> sink;
  std::size_t drained = 0;
  stream.expires_after(std::chrono::seconds(2));
  while (drained < 4 * 1024 * 1024) {
    auto [read_ec, n] = co_await stream.async_read_some(net::buffer(sink), token);
    if (read_ec) break;
    drained += n;
  }
  stream.close();
}

std::string describe(const boost::system::error_code& ec) { return ec.message(); }

}  // namespace

net::awaitable<void> run_session(net::ip::tcp::socket socket, worker& w, server_state& state, const config& cfg) {
  session_guard guard(state);
  boost::system::error_code ep_ec;
  auto remote = socket.remote_endpoint(ep_ec);
  const std::string client = ep_ec ? "?" : fmt::format("{}:{}", remote.address().to_string(), remote.port());
  socket.set_option(net::ip::tcp::no_delay(true), ep_ec);

  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;

  for (bool first = true;; first = false) {
    // Waiting for a request: idle, and a drain may close us.
    if (state.draining) break;
    idle_mark idle(w, stream);
    if (!first && buffer.size() == 0) {
      stream.expires_after(cfg.client_idle_timeout);
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(16 * 1024), token);
      if (ec) break;  // closed, quiet too long, or drained
      buffer.commit(n);
    }

    http::request_parser<http::string_body> parser;
    parser.header_limit(header_limit);
    parser.body_limit(cfg.max_body_bytes);
    stream.expires_after(cfg.header_timeout);
    auto [header_ec, header_n] = co_await http::async_read_header(stream, buffer, parser, token);
    idle.clear();
    auto started = std::chrono::steady_clock::now();
    const unsigned version = parser.is_header_done() ? parser.get().version() : 11;

    // Callers pass a named string: GCC 12 mishandles temporaries inside co_await expressions.
    auto refuse = [&](unsigned code, const std::string& message) -> net::awaitable<void> {
      stream.expires_after(cfg.client_idle_timeout);
      auto r = co_await send_error(stream, version, false, code, message);
      log_access({client, parser.is_header_done() ? std::string_view(parser.get().method_string()) : "-",
                  parser.is_header_done() ? std::string_view(parser.get().target()) : "-", code, 0, r.body_bytes,
                  std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started),
                  {}, message});
      co_await lingering_close(stream);
    };

    if (header_ec) {
      if (header_ec == http::error::end_of_stream || header_ec == net::error::eof ||
          header_ec == net::error::operation_aborted || header_ec == net::error::connection_reset ||
          header_ec == beast::error::timeout)
        break;
      if (header_ec == http::error::body_limit)
        {

          std::string message = fmt::format("request body exceeds the limit of {} bytes", cfg.max_body_bytes);

          co_await refuse(413, message);

        }
      else if (header_ec == http::error::header_limit)
        {

          std::string message = fmt::format("request headers exceed {} bytes", header_limit);

          co_await refuse(431, message);

        }
      else
        {

          std::string message = fmt::format("malformed HTTP request: {}", describe(header_ec));

          co_await refuse(400, message);

        }
      co_return;
    }

    auto& head = parser.get();
    if (beast::iequals(head[http::field::expect], "100-continue")) {
      static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
      stream.expires_after(cfg.client_idle_timeout);
      auto [ec, n] = co_await net::async_write(stream, net::buffer(continue_line), token);
      if (ec) break;
    }
    // The body is read under an idle timeout, not a total one: a large upload on a slow link is fine.
    while (!parser.is_done()) {
      stream.expires_after(cfg.client_idle_timeout);
      auto [ec, n] = co_await http::async_read_some(stream, buffer, parser, token);
      if (!ec) continue;
      if (ec == http::error::body_limit)
        {

          std::string message = fmt::format("request body exceeds the limit of {} bytes", cfg.max_body_bytes);

          co_await refuse(413, message);

        }
      else if (ec != http::error::end_of_stream && ec != net::error::eof && ec != beast::error::timeout &&
               ec != net::error::operation_aborted && ec != net::error::connection_reset)
        {

          std::string message = fmt::format("malformed HTTP request body: {}", describe(ec));

          co_await refuse(400, message);

        }
      co_return;
    }

    auto request = parser.release();
    const std::string method(request.method_string());
    const std::string target(request.target());
    const std::uint64_t bytes_in = request.body().size();
    const bool keep_alive = request.keep_alive() && !state.draining;

    relay_result result;
    if (route_for(method, target) == route::generation && state.monitor)
      result = co_await run_pipeline(stream, std::move(request), w, *state.monitor, state.stats, cfg, keep_alive);
    else
      result = co_await relay(stream, std::move(request), w.pool, cfg, keep_alive);

    if (cfg.access_log)
      log_access({client, method, target, result.status, bytes_in, result.bytes_out,
                std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started),
                result.backend_wait,
                result.client_gone   ? "client gone"
                : result.backend_cut ? "backend cut the answer"
                                     : ""});
    if (!result.keep_alive || state.draining) break;
  }

  boost::system::error_code ec;
  stream.socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
  stream.close();
}

}  // namespace slotcache
