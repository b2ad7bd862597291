#include "http_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>

#include <limits>

namespace fake_llama {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::use_awaitable;

std::string http_request::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (beast::iequals(key, name)) return value;
  return {};
}

namespace {

constexpr int max_requests_per_connection = 100;  // cpp-httplib's CPPHTTPLIB_KEEPALIVE_MAX_COUNT

std::string percent_decode(std::string_view in, bool plus_is_space) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && std::isxdigit(static_cast<unsigned char>(in[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      out.push_back(char(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(plus_is_space && in[i] == '+' ? ' ' : in[i]);
    }
  }
  return out;
}

http_request to_request(http::request<http::string_body>& msg) {
  http_request req;
  req.method = msg.method_string();
  req.target = msg.target();
  const auto question = req.target.find('?');
  req.path = percent_decode(std::string_view(req.target).substr(0, question), false);
  if (question != std::string::npos) {
    std::string_view query = std::string_view(req.target).substr(question + 1);
    while (!query.empty()) {
      const auto amp = query.find('&');
      const std::string_view pair = query.substr(0, amp);
      const auto eq = pair.find('=');
      req.query[percent_decode(pair.substr(0, eq), true)] =
          eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1), true);
      query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    }
  }
  for (const auto& field : msg) req.headers.emplace_back(field.name_string(), field.value());
  req.body = std::move(msg.body());
  return req;
}

class beast_exchange final : public http_exchange {
public:
  beast_exchange(tcp::socket& socket, std::string origin, bool close, int keep_alive_s)
      : socket_(socket), origin_(std::move(origin)), close_(close), keep_alive_s_(keep_alive_s) {}

  asio::awaitable<void> reply(http_answer a) override {
    close_ = close_ || a.status >= 400;  // cpp-httplib: no keep-alive after an error
    http::response<http::string_body> res;
    res.result(a.status);
    connection_field(res);
    for (const auto& [name, value] : a.headers) res.set(name, value);
    res.set(http::field::content_type, a.content_type);
    res.set(http::field::server, "llama.cpp");
    res.set(http::field::content_length, std::to_string(a.body.size()));
    res.set(http::field::access_control_allow_origin, origin_);
    res.body() = std::move(a.body);
    answered_ = true;
    status_sent_ = a.status;
    body_sent_ = res.body();
    co_await http::async_write(socket_, res, use_awaitable);
  }

  asio::awaitable<void> start_stream() override {
    http::response<http::empty_body> res{http::status::ok, 11};
    connection_field(res);
    res.set(http::field::transfer_encoding, "chunked");
    res.set(http::field::access_control_allow_origin, origin_);
    res.set("X-Accel-Buffering", "no");
    res.set(http::field::server, "llama.cpp");
    res.set(http::field::content_type, "text/event-stream");
    answered_ = true;
    streaming_ = true;
    status_sent_ = 200;
    http::response_serializer<http::empty_body> serializer{res};
    co_await http::async_write_header(socket_, serializer, use_awaitable);
  }

  asio::awaitable<void> send_chunk(std::string data) override {
    body_sent_ += data;
    if (!data.empty()) co_await asio::async_write(socket_, http::make_chunk(asio::buffer(data)), use_awaitable);
  }

  asio::awaitable<void> end_stream() override {
    co_await asio::async_write(socket_, http::make_chunk_last(), use_awaitable);
    streaming_ = false;
  }

  void drop() override {
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    answered_ = close_ = true;
  }

  bool answered() const override { return answered_; }
  unsigned status_sent() const override { return status_sent_; }
  const std::string& body_sent() const override { return body_sent_; }
  bool keep_going() const { return answered_ && !close_ && !streaming_; }

private:
  template <class Message>
  void connection_field(Message& res) const {
    if (close_) res.set(http::field::connection, "close");
    else res.set("Keep-Alive", "timeout=" + std::to_string(keep_alive_s_) + ", max=" + std::to_string(max_requests_per_connection));
  }

  tcp::socket& socket_;
  std::string origin_;
  bool close_;
  int keep_alive_s_;
  bool answered_ = false, streaming_ = false;
  unsigned status_sent_ = 0;
  std::string body_sent_;
};

// cpp-httplib waits keep_alive_timeout for the first byte of the next request, then gives up.
asio::awaitable<bool> wait_readable(tcp::socket& socket, int seconds) {
  asio::steady_timer timer(socket.get_executor(), std::chrono::seconds(seconds));
  timer.async_wait([&socket](beast::error_code ec) {
    if (!ec) socket.cancel();
  });
  auto [ec] = co_await socket.async_wait(tcp::socket::wait_read, asio::as_tuple(use_awaitable));
  timer.cancel();
  co_return !ec;
}

// Completes when the client goes away while its request is being worked on; the handler is
// then cancelled (llama-server polls is_connection_closed for the same purpose).
asio::awaitable<void> watch_disconnect(tcp::socket& socket, beast::flat_buffer& buffer) {
  auto [ec, n] = co_await socket.async_read_some(buffer.prepare(4096), asio::as_tuple(use_awaitable));
  if (ec) co_return;
  buffer.commit(n);
  // A pipelined next request: the client is alive, so wait until the handler is done.
  asio::steady_timer forever(socket.get_executor(), asio::steady_timer::time_point::max());
  co_await forever.async_wait(use_awaitable);
}

asio::awaitable<void> session(tcp::socket socket, api& handler, int keep_alive_s) {
  using namespace asio::experimental::awaitable_operators;
  beast::flat_buffer buffer;
  try {
    for (int served = 0; served < max_requests_per_connection;) {
      if (buffer.size() == 0 && !co_await wait_readable(socket, keep_alive_s)) break;
      http::request_parser<http::string_body> parser;
      parser.body_limit(std::numeric_limits<std::uint64_t>::max());
      parser.header_limit(1 << 20);
      beast::error_code ec;
      co_await http::async_read_header(socket, buffer, parser, asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      if (beast::iequals(parser.get()[http::field::expect], "100-continue"))
        co_await asio::async_write(socket, asio::buffer("HTTP/1.1 100 Continue\r\n\r\n", 25), use_awaitable);
      co_await http::async_read(socket, buffer, parser, asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      ++served;
      const bool close = served == max_requests_per_connection || !parser.get().keep_alive();
      http_request req = to_request(parser.get());
      beast_exchange ex(socket, req.header("Origin"), close, keep_alive_s);
      const auto first = co_await (handler.handle(req, ex) || watch_disconnect(socket, buffer));
      if (first.index() == 1 || !ex.keep_going()) break;
    }
  } catch (const std::exception&) {
    // The connection failed; nothing left to answer.
  }
  beast::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

}  // namespace

asio::awaitable<void> serve(tcp::acceptor acceptor, api& handler, int keep_alive_timeout_s) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(use_awaitable));
    if (ec) continue;
    socket.set_option(tcp::no_delay(true));
    asio::co_spawn(acceptor.get_executor(), session(std::move(socket), handler, keep_alive_timeout_s), asio::detached);
  }
}

}  // namespace fake_llama
