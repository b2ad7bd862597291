#include "app.h"

#include <csignal>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "backend/backend_monitor.h"
#include "pipeline/pipeline.h"
#include "server/listener.h"
#include "server/worker.h"

namespace slotcache {
namespace net = boost::asio;
using namespace net::experimental::awaitable_operators;

namespace {

void log_unexpected(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("unexpected error: {}", ex.what());
  }
}

// Stop accepting, close idle connections, let requests in flight finish until the deadline.
net::awaitable<void> drain(listener& l, std::vector<std::unique_ptr<worker>>& workers, server_state& state,
                           const config& cfg) {
  state.draining = true;
  l.stop();
  for (auto& w : workers) net::post(w->ioc, [w = w.get()] { w->close_idle_sessions(); });

  auto deadline = std::chrono::steady_clock::now() + cfg.shutdown_timeout;
  net::steady_timer tick(co_await net::this_coro::executor);
  while (state.active_sessions > 0 && std::chrono::steady_clock::now() < deadline) {
    tick.expires_after(std::chrono::milliseconds(20));
    co_await tick.async_wait(net::as_tuple(net::use_awaitable));
  }
  if (int left = state.active_sessions.load(); left > 0) {
    spdlog::warn("shutdown deadline of {} s reached: cutting {} connection(s)", cfg.shutdown_timeout.count(), left);
  } else {
    spdlog::info("all requests finished");
    if (state.monitor) {
      // What the slots hold is lost with the backend's memory: checkpoint it in the time left.
      tick.expires_at(deadline);
      co_await (save_slots(*workers.front(), *state.monitor, state.stats, cfg, std::chrono::seconds(0)) ||
                tick.async_wait(net::use_awaitable));
    }
  }
  if (state.monitor)
    if (auto id = state.monitor->current(); id && id->slots) id->slots->shutdown();
  for (auto& w : workers) w->ioc.stop();
}

}  // namespace

int app::run() {
  std::signal(SIGPIPE, SIG_IGN);
  const auto threads = static_cast<std::size_t>(config_.threads);
  const std::size_t pool_per_thread = (config_.backend_pool_size + threads - 1) / threads;

  std::vector<std::unique_ptr<worker>> workers;
  std::vector<worker*> worker_ptrs;
  for (std::size_t i = 0; i < threads; ++i) {
    workers.push_back(std::make_unique<worker>(config_, pool_per_thread));
    worker_ptrs.push_back(workers.back().get());
  }
  server_state state;
  auto& main_ioc = workers.front()->ioc;

  real_clock wall_clock;
  backend_monitor monitor(config_, wall_clock);
  state.monitor = &monitor;
  listener l(main_ioc, config_, worker_ptrs, state);
  auto ep = l.local_endpoint();
  spdlog::info("listening on {}:{}, backend {}, {} I/O thread(s)", ep.address().to_string(), ep.port(),
               config_.backend_url, threads);
  net::co_spawn(main_ioc, l.accept_loop(), log_unexpected);
  net::co_spawn(main_ioc, monitor.run(workers.front()->client), log_unexpected);
  net::co_spawn(main_ioc, save_idle_slots(*workers.front(), monitor, state.stats, config_), log_unexpected);

  net::signal_set signals(main_ioc, SIGINT, SIGTERM);
  bool stopping = false;
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (stopping) {
          spdlog::warn("second signal: stopping now");
          for (auto& w : workers) w->ioc.stop();
          return;
        }
        stopping = true;
        monitor.stop();
        spdlog::info("signal {}: draining (up to {} s)", sig, config_.shutdown_timeout.count());
        net::co_spawn(main_ioc, drain(l, workers, state, config_), log_unexpected);
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);

  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
  for (auto& w : workers) guards.push_back(net::make_work_guard(w->ioc));
  std::vector<std::thread> pool;
  for (std::size_t i = 1; i < workers.size(); ++i) pool.emplace_back([w = workers[i].get()] { w->ioc.run(); });
  main_ioc.run();
  for (auto& w : workers) w->ioc.stop();
  for (auto& t : pool) t.join();
  spdlog::info("stopped");
  return 0;
}

}  // namespace slotcache
