#include "server/listener.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "config/config.h"
#include "server/session.h"
#include "server/worker.h"

namespace slotcache {
namespace net = boost::asio;
using net::ip::tcp;

listener::listener(net::io_context& ioc, const config& cfg, std::vector<worker*> workers, server_state& state)
    : acceptor_(ioc), config_(cfg), workers_(std::move(workers)), state_(state) {
  tcp::endpoint ep(net::ip::make_address(cfg.listen.host), cfg.listen.port);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen(net::socket_base::max_listen_connections);
}

net::awaitable<void> listener::accept_loop() {
  for (;;) {
    worker& w = *workers_[next_++ % workers_.size()];
    auto [ec, socket] = co_await acceptor_.async_accept(w.ioc, net::as_tuple(net::use_awaitable));
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      // Out of file descriptors and the like: pause instead of spinning.
      spdlog::warn("accept failed: {}", ec.message());
      net::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(net::as_tuple(net::use_awaitable));
      continue;
    }
    net::co_spawn(w.ioc, run_session(std::move(socket), w, state_, config_), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("session ended by an unexpected error: {}", ex.what());
      }
    });
  }
}

void listener::stop() {
  boost::system::error_code ec;
  acceptor_.close(ec);
}

}  // namespace slotcache
