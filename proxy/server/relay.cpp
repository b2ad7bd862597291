#include "server/relay.h"

#include <array>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>

#include "backend/connection_pool.h"
#include "config/config.h"
#include "http/headers.h"
#include "server/reply.h"

namespace slotcache {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace net::experimental::awaitable_operators;

namespace {

constexpr auto token = net::as_tuple(net::use_awaitable);
constexpr std::size_t chunk_size = 64 * 1024;

struct exchange_state {
  std::unique_ptr<backend_connection> backend;
  bool backend_reusable = false;
  relay_result result;
};


bool may_have_body(const http::response_header<>& res, http::verb method) {
  unsigned s = res.result_int();
  return method != http::verb::head && !(s / 100 == 1 || s == 204 || s == 304);
}

}  // namespace

net::awaitable<void> watch_client(beast::tcp_stream& client) {
  auto& socket = client.socket();
  auto [ec] = co_await socket.async_wait(net::ip::tcp::socket::wait_read, token);
  if (ec == net::error::operation_aborted) co_return;
  boost::system::error_code avail_ec;
  if (!ec && socket.available(avail_ec) > 0 && !avail_ec) {
    // A pipelined request, not a goodbye: leave the bytes for the session and stop watching.
    net::steady_timer forever(socket.get_executor(), net::steady_timer::time_point::max());
    co_await forever.async_wait(token);
  }
}

namespace {

constexpr std::size_t tail_limit = 64 * 1024;

void keep_tail(std::string* tail, const char* data, std::size_t n) {
  if (!tail) return;
  tail->append(data, n);
  if (tail->size() > 2 * tail_limit) tail->erase(0, tail->size() - tail_limit);
}

net::awaitable<void> exchange(exchange_state& st, beast::tcp_stream& client,
                              http::request<http::string_body>& req, connection_pool& pool, const config& cfg,
                              bool client_keep_alive, std::string* body_tail) {
  const unsigned client_version = req.version();
  // Callers pass a named string: GCC 12 mishandles temporaries inside co_await expressions.
  auto fail = [&](unsigned code, const std::string& message) -> net::awaitable<void> {
    arm(client, cfg.client_idle_timeout);
    auto r = co_await send_error(client, client_version, client_keep_alive, code, message);
    st.result.status = code;
    st.result.backend_failed = true;
    st.result.bytes_out = r.body_bytes;
    st.result.keep_alive = client_keep_alive && !r.error;
    st.result.client_gone = static_cast<bool>(r.error);
  };

  std::optional<http::response_parser<http::buffer_body>> parser;
  for (int attempt = 0;; ++attempt) {
    auto acquired = co_await pool.acquire(/*fresh=*/attempt > 0);
    if (!acquired.connection) {
      std::string message = fmt::format("backend {} unreachable: {}", cfg.backend_url,
                                        acquired.timed_out ? "connect timed out" : acquired.error.message());
      co_await fail(acquired.timed_out ? 504 : 502, message);
      co_return;
    }
    st.backend = std::move(acquired.connection);
    auto& backend = st.backend->stream;

    auto started = std::chrono::steady_clock::now();
    arm(backend, cfg.backend_idle_timeout);
    auto [write_ec, written] = co_await http::async_write(backend, req, token);
    boost::system::error_code ec = write_ec;
    if (!ec) {
      parser.emplace();
      parser->body_limit(boost::none);
      parser->skip(req.method() == http::verb::head);
      arm(backend, cfg.backend_idle_timeout);
      auto [read_ec, n] = co_await http::async_read_header(backend, st.backend->buffer, *parser, token);
      ec = read_ec;
    }
    st.result.backend_wait =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
    if (!ec) break;
    bool retry = st.backend->reused && attempt == 0 &&
                 stale_connection_error(ec, std::chrono::steady_clock::now() - started);
    st.backend.reset();
    if (retry) continue;
    const bool timed_out = ec == beast::error::timeout;
    std::string message =
        timed_out ? fmt::format("backend {} sent nothing for {} s", cfg.backend_url, cfg.backend_idle_timeout.count())
                  : fmt::format("backend {} failed before answering: {}", cfg.backend_url, ec.message());
    co_await fail(timed_out ? 504 : 502, message);
    co_return;
  }

  auto& res = parser->get();
  auto& backend = st.backend->stream;
  const bool backend_keep_alive = res.keep_alive();
  bool keep_alive = client_keep_alive;
  strip_hop_by_hop(res, /*keep_framing=*/true);
  append_via(res, res.version());
  res.version(client_version);
  if (may_have_body(res, req.method()) && !res.chunked() && !res.has_content_length()) {
    // The backend ends this body by closing; re-frame it so the client connection can live on.
    if (client_version >= 11)
      res.chunked(true);
    else
      keep_alive = false;
  } else if (res.chunked() && client_version < 11) {
    res.chunked(false);
    keep_alive = false;
  }
  res.keep_alive(keep_alive);
  st.result.status = res.result_int();

  http::response_serializer<http::buffer_body> serializer{res};
  // Headers go out at once (a client may be waiting for them before a long prompt is processed),
  // unless body bytes came with them: then headers and body leave in one write.
  if (st.backend->buffer.size() == 0 || parser->is_done()) {
    arm(client, cfg.client_idle_timeout);
    if (auto [ec, n] = co_await http::async_write_header(client, serializer, token); ec) {
      st.result.client_gone = true;
      co_return;
    }
  }

  auto& chunk = st.backend->relay_chunk;
  chunk.resize(chunk_size);
  for (;;) {
    bool more = !parser->is_done();
    std::size_t got = 0;
    if (more) {
      res.body().data = chunk.data();
      res.body().size = chunk.size();
      arm(backend, cfg.backend_idle_timeout);
      auto [ec, n] = co_await http::async_read_some(backend, st.backend->buffer, *parser, token);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        // Too late for an error answer: end the client connection so it sees the answer is cut.
        st.result.backend_cut = true;
        st.result.keep_alive = false;
        co_return;
      }
      got = chunk.size() - res.body().size;
      more = !parser->is_done();
    }
    if (got == 0 && more) continue;
    res.body().data = got ? chunk.data() : nullptr;
    res.body().size = got;
    res.body().more = more;
    arm(client, cfg.client_idle_timeout);
    auto [ec, n] = co_await http::async_write(client, serializer, token);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      st.result.client_gone = true;
      co_return;
    }
    st.result.bytes_out += got;
    keep_tail(body_tail, chunk.data(), got);
    if (!more) break;
  }
  if (body_tail && body_tail->size() > tail_limit) body_tail->erase(0, body_tail->size() - tail_limit);
  st.result.keep_alive = keep_alive;
  st.backend_reusable = backend_keep_alive && parser->is_done();
}

}  // namespace

net::awaitable<relay_result> relay(beast::tcp_stream& client, http::request<http::string_body> req,
                                   connection_pool& pool, const config& cfg, bool client_keep_alive,
                                   std::string* body_tail) {
  strip_hop_by_hop(req);
  req.erase(http::field::expect);  // the body is already here
  append_via(req, req.version());
  req.version(11);
  req.keep_alive(true);
  req.prepare_payload();

  exchange_state st;
  auto finished =
      co_await (exchange(st, client, req, pool, cfg, client_keep_alive, body_tail) || watch_client(client));
  if (finished.index() == 1) {
    st.result.client_gone = true;
    st.result.keep_alive = false;
    st.backend_reusable = false;
  }
  if (st.backend && st.backend_reusable) pool.release(std::move(st.backend));
  // Otherwise the backend connection closes here; llama-server sees it and stops the task.
  co_return st.result;
}

}  // namespace slotcache
