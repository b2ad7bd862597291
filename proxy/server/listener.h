#pragma once

#include <functional>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace slotcache {

struct config;
struct server_state;
struct worker;

// Accepts connections and hands each to the next worker, round robin, as its own session coroutine.
class listener {
 public:
  // Binds at once, so a busy port is reported at start-up. Throws boost::system::system_error.
  listener(boost::asio::io_context& ioc, const config& cfg, std::vector<worker*> workers, server_state& state);

  boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  boost::asio::awaitable<void> accept_loop();
  void stop();

 private:
  boost::asio::ip::tcp::acceptor acceptor_;
  const config& config_;
  std::vector<worker*> workers_;
  server_state& state_;
  std::size_t next_ = 0;
};

}  // namespace slotcache
