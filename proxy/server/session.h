#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace slotcache {

struct config;
struct server_state;
struct worker;

// One client connection, as straight-line code: read a request, handle it, write the answer, loop.
boost::asio::awaitable<void> run_session(boost::asio::ip::tcp::socket socket, worker& w, server_state& state,
                                         const config& cfg);

}  // namespace slotcache
