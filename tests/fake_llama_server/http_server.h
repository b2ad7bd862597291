#pragma once
// The HTTP side, behaving like cpp-httplib inside llama-server: keep-alive with an idle timeout
// and at most 100 requests per connection, "Connection: close" on error answers, chunked SSE.
#include "api.h"

#include <boost/asio/ip/tcp.hpp>

namespace fake_llama {

asio::awaitable<void> serve(asio::ip::tcp::acceptor acceptor, api& handler, int keep_alive_timeout_s);

}  // namespace fake_llama
