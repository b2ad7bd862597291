#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "backend/slot_scheduler.h"
#include "cache/checkpoint_store.h"
#include "cache/file_ops.h"
#include "cache/fingerprint.h"
#include "util/clock.h"

namespace slotcache {

struct config;
class backend_client;

// What slotcache knows of the backend it serves: its fingerprint and, when caching is on, the
// checkpoint store of that fingerprint. Replaced whole when the backend changes; readers keep the
// snapshot they took for the length of one request.
enum class model_kind { dense, hybrid };

struct backend_identity {
  model_fingerprint fingerprint;
  int total_slots = 0;
  // Caching is on only with all of these (a cache directory is configured and the probes worked).
  std::shared_ptr<checkpoint_store> store;
  std::shared_ptr<slot_scheduler> slots;
  model_kind kind = model_kind::dense;
  // The chat template's message-start token (e.g. <|im_start|>): where prompts part.
  std::optional<token_id> message_start;

  bool caching() const { return store && slots; }
};

// Learns the backend's identity at start-up (retrying until the backend answers), opens and
// rebuilds the checkpoint store for it, then keeps watching: a backend that comes back with
// another model, context size or slot count gets a new identity, and the old checkpoints stay on
// disk but are never restored into it. Also flushes the store's hit metadata now and then.
class backend_monitor {
 public:
  backend_monitor(const config& cfg, const clock& clk);
  ~backend_monitor();

  // Runs until stop(). Meant for co_spawn on one worker.
  boost::asio::awaitable<void> run(backend_client& client);
  void stop() { stopping_ = true; }

  // Null until the backend has answered once.
  std::shared_ptr<const backend_identity> current() const { return current_.load(); }

 private:
  boost::asio::awaitable<bool> refresh(backend_client& client);
  boost::asio::awaitable<void> probe(backend_client& client, backend_identity& identity);

  const config& config_;
  const clock& clock_;
  posix_file_ops fs_;
  std::atomic<std::shared_ptr<const backend_identity>> current_;
  std::atomic<bool> stopping_{false};
};

}  // namespace slotcache
