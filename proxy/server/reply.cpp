#include "server/reply.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "http/error_body.h"

namespace slotcache {
namespace http = boost::beast::http;

boost::asio::awaitable<reply_result> send_error(boost::beast::tcp_stream& stream, unsigned version, bool keep_alive,
                                                unsigned code, std::string_view message) {
  http::response<http::string_body> res{static_cast<http::status>(code), version};
  res.set(http::field::server, "slotcache");
  res.set(http::field::content_type, "application/json; charset=utf-8");
  if (code == 503) res.set(http::field::retry_after, "1");
  res.body() = error_body(code, message);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  auto [ec, n] = co_await http::async_write(stream, res, boost::asio::as_tuple(boost::asio::use_awaitable));
  co_return reply_result{ec, res.body().size()};
}

}  // namespace slotcache
