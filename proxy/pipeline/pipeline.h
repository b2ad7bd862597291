#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "server/relay.h"

namespace slotcache {

struct config;
struct worker;
class backend_monitor;

// Counters of the caching pipeline, shared by every worker.
struct pipeline_stats {
  std::atomic<std::uint64_t> requests{0};          // prompt-bearing requests seen with caching on
  std::atomic<std::uint64_t> bypass{0};            // relayed uncached (shape, tokenizing failed)
  std::atomic<std::uint64_t> errors{0};            // a cache step failed; the request was relayed
  std::atomic<std::uint64_t> restores{0};
  std::atomic<std::uint64_t> restore_failures{0};
  std::atomic<std::uint64_t> restore_ineffective{0};
  std::atomic<std::uint64_t> saves{0};
  std::atomic<std::uint64_t> save_failures{0};
  std::atomic<std::uint64_t> saved_bytes{0};
  std::atomic<std::uint64_t> prompt_tokens{0};
  std::atomic<std::uint64_t> reused_tokens{0};     // timings.cache_n summed
  std::atomic<std::uint64_t> computed_tokens{0};   // timings.prompt_n summed
  std::atomic<std::uint64_t> rejected{0};          // no slot in time: 503
};

// One prompt-bearing request with caching on (DESIGN.md, "the path of one request"):
//   1. tokens, as the backend will see them;
//   2. a lease on the best backend slot;
//   3. restore the longest usable checkpoint when it beats what the slot holds;
//   4. checkpoints: dense, the slot's old content before it is replaced; hybrid, prefill to
//      boundaries and save before forwarding;
//   5. forward pinned to the slot, stream the answer back, read its timings;
//   6. record what the slot holds and release it.
// A cache-side failure never fails the request: it is counted, logged, and the request relayed.
boost::asio::awaitable<relay_result> run_pipeline(boost::beast::tcp_stream& client,
                                                  boost::beast::http::request<boost::beast::http::string_body> request,
                                                  worker& w, backend_monitor& monitor, pipeline_stats& stats,
                                                  const config& cfg, bool client_keep_alive);

// Checkpoints what each slot idle for at least `min_idle` holds (dense models), so that it
// survives the slot's reuse and restarts of slotcache or the backend. At shutdown with min_idle 0,
// bounded by the caller.
boost::asio::awaitable<void> save_slots(worker& w, backend_monitor& monitor, pipeline_stats& stats,
                                        const config& cfg, std::chrono::seconds min_idle);

// Runs save_slots for slots idle save_idle_seconds, now and then, until cancelled.
boost::asio::awaitable<void> save_idle_slots(worker& w, backend_monitor& monitor, pipeline_stats& stats,
                                             const config& cfg);

}  // namespace slotcache
