#pragma once

// The awaitable face of slot_table, shared by all I/O threads.
//
// - One std::mutex guards the table, held for short sections and never across a co_await.
// - A waiter sleeps on a steady_timer of its own executor. Whoever frees a slot (any thread)
//   grants it under the mutex, stores the grant in the waiter's state, and posts the wake-up to
//   the waiter's executor: a timer is only ever touched by its own thread.
// - Grant, timeout, cancellation and shutdown each decide under the mutex; whichever comes first
//   wins and the others see its outcome, so a slot is never lost or granted twice. A waiter that
//   finds a grant it can no longer use (its coroutine was cancelled, or destroyed) gives it back.
//
// The calling coroutine's executor must not run handlers concurrently (one io_context per thread
// run by that thread alone, or a strand): the waiter's timer lives there.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "backend/slot_table.h"
#include "cache/result.h"

namespace slotcache {

class slot_scheduler;

namespace detail {
struct slot_scheduler_core;
}

// One backend slot, in use by its holder until released. Move-only. Released as unknown if the
// holder did not say what the slot holds: on errors, exceptions, a client gone, a coroutine
// cancelled or destroyed, the lease still goes back.
class slot_lease {
 public:
  slot_lease() = default;
  slot_lease(slot_lease&& other) noexcept;
  slot_lease& operator=(slot_lease&& other) noexcept;
  slot_lease(const slot_lease&) = delete;
  slot_lease& operator=(const slot_lease&) = delete;
  ~slot_lease();

  bool active() const { return core_ != nullptr; }
  explicit operator bool() const { return active(); }

  int slot() const { return grant_.slot; }
  // What the slot held when it was granted; nullopt when unknown.
  std::optional<token_span> held_tokens() const;
  std::size_t common_prefix() const { return grant_.common_prefix; }
  bool extends() const { return grant_.extends; }

  // Hands the slot back, saying what it holds now. No effect on an inactive lease.
  void release(std::vector<token_id> now_held);
  void release(shared_tokens now_held);
  void release_unknown();

 private:
  friend class slot_scheduler;
  slot_lease(std::shared_ptr<detail::slot_scheduler_core> core, slot_grant grant);
  void finish(shared_tokens now_held);

  std::shared_ptr<detail::slot_scheduler_core> core_;
  slot_grant grant_;
};

class slot_scheduler {
 public:
  struct options {
    int n_slots = 1;
    std::size_t max_waiters = 64;
    std::chrono::steady_clock::duration max_wait = std::chrono::seconds{600};
    std::size_t useful_prefix = 1;  // see slot_table::options
  };

  using acquire_result = result<slot_lease, slot_error>;

  // The clock dates leases for snapshots; waits are timed on steady timers. Throws
  // std::invalid_argument when n_slots <= 0. Leases may outlive the scheduler.
  slot_scheduler(options opts, const clock& clk);
  ~slot_scheduler();
  slot_scheduler(const slot_scheduler&) = delete;
  slot_scheduler& operator=(const slot_scheduler&) = delete;

  // A lease on the best free slot for `prompt` (or on slot `wanted`), waiting up to max_wait for
  // one. Errors: invalid_slot, queue_full, timeout, shutting_down, and cancelled when the
  // coroutine is cancelled while it waits (asio per-operation cancellation, e.g. `||`). `prompt`
  // must stay valid until this returns.
  boost::asio::awaitable<acquire_result> acquire(token_span prompt, std::optional<int> wanted = std::nullopt);

  // Fails every waiter with shutting_down and refuses new acquires. Leases held stay valid and
  // are released as usual.
  void shutdown();

  void set_tokens(int slot, shared_tokens held);
  void mark_all_unknown();

  int size() const;
  slot_table_snapshot snapshot() const;

 private:
  std::shared_ptr<detail::slot_scheduler_core> core_;
  std::chrono::steady_clock::duration max_wait_;
};

}  // namespace slotcache
