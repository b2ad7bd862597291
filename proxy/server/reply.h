#pragma once

#include <cstdint>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/system/error_code.hpp>

namespace slotcache {

struct reply_result {
  boost::system::error_code error;
  std::uint64_t body_bytes = 0;
};

// Answers with an error slotcache produced itself, in llama-server's JSON shape.
boost::asio::awaitable<reply_result> send_error(boost::beast::tcp_stream& stream, unsigned version, bool keep_alive,
                                                unsigned code, std::string_view message);

}  // namespace slotcache
