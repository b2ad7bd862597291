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
  // The tokens that open every message in the chat template (e.g. <|im_start|>, or its pieces when
  // the vocabulary has no such special token): where prompts part. Empty when not found.
  std::vector<token_id> message_marker;

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
  boost::asio::awaitable<void> check_restart(backend_client& client);

  const config& config_;
  const clock& clock_;
  posix_file_ops fs_;
  std::atomic<std::shared_ptr<const backend_identity>> current_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> lost_contact_{false};
  long long last_task_id_ = -1;  // highest id_task seen in /slots: it only grows while a backend lives
};

}  // namespace slotcache
