#pragma once

#include <atomic>
#include <unordered_set>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "backend/client.h"
#include "backend/connection_pool.h"
#include "pipeline/pipeline.h"

namespace slotcache {

// State every worker thread shares.
class backend_monitor;

struct server_state {
  std::atomic<bool> draining{false};
  std::atomic<int> active_sessions{0};
  backend_monitor* monitor = nullptr;  // set before the first connection is accepted
  pipeline_stats stats;
};

// One I/O thread: its io_context, its own backend pool, and the sessions it may close on drain.
// Everything here is touched only from this thread's io_context, so nothing needs a lock.
struct worker {
  worker(const config& cfg, std::size_t pool_size)
      : ioc(1), pool(ioc.get_executor(), cfg, pool_size), client(pool, cfg) {}

  boost::asio::io_context ioc;
  connection_pool pool;
  backend_client client;  // slotcache's own calls to the backend, from this thread
  std::unordered_set<boost::beast::tcp_stream*> idle_sessions;  // waiting for a request: safe to close on drain

  // Closes the connections that are between requests; busy ones finish first and close themselves.
  void close_idle_sessions() {
    for (auto* stream : idle_sessions) stream->socket().close();
    idle_sessions.clear();
    pool.close_idle();
  }
};

}  // namespace slotcache
