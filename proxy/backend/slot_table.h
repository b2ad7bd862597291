#pragma once

// What each llama-server slot holds and who uses it, and the one queue of requests waiting for a
// slot. Pure decisions: no I/O, no threads, no timers; slot_scheduler turns them into an
// awaitable acquire and guards the table with its mutex (the table itself is not thread-safe).
//
//   try_acquire ──► grant ........................... the slot is leased to the caller
//        │
//        └───────► must_wait ──► enqueue ──► (waits) ──► release(slot) hands the slot over: a grant
//                                   │                    for the first waiter, in arrival order,
//                                   └─ false: full       that can take it
//                                          (waits) ──► cancel: timed out or gone
//
// Choice of a free slot: the longest common prefix of its held tokens with the prompt (unknown
// counts as 0, and so does one shorter than useful_prefix), ties first to a slot whose content
// would not be lost (empty, unknown, or extended by the prompt), then to the least recently
// released (then the lowest id). A waiter pinned to one
// slot (`id_slot`) takes only that slot and does not hold up waiters behind it; a waiter for any
// slot takes whichever is released. Invariant, checked by enqueue: no one waits for a slot that
// is free, so try_acquire never overtakes a waiter.
//
// Tokens are shared immutable vectors so that grants and snapshots copy a pointer, not a prompt.

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "cache/tokens.h"
#include "util/clock.h"

namespace slotcache {

enum class slot_error {
  invalid_slot,   // id_slot outside [0, n)
  queue_full,     // the wait queue had max_waiters already
  timeout,        // waited max_wait without a slot
  cancelled,      // the waiting request was cancelled (client gone)
  shutting_down,  // slotcache is stopping
};
std::string_view to_string(slot_error e);

// Null: slotcache cannot trust its picture of the slot (start, backend restart, error mid-request,
// another client used it).
using shared_tokens = std::shared_ptr<const std::vector<token_id>>;
shared_tokens make_tokens(std::vector<token_id> tokens);

struct slot_grant {
  int slot = -1;
  shared_tokens held;             // what the slot holds as it is handed over; null when unknown
  std::size_t common_prefix = 0;  // of held with the prompt; 0 when unknown
  // held is known and a prefix of the prompt (equal included): using the slot loses nothing, so
  // the pipeline need not save it first.
  bool extends = false;
};

struct must_wait {};

using acquire_decision = std::variant<slot_grant, must_wait, slot_error>;

struct slot_handoff {
  std::uint64_t waiter = 0;
  slot_grant grant;
};

enum class wait_end { timeout, cancelled };

struct slot_counters {
  std::uint64_t grants = 0;          // leases given, at once or after waiting
  std::uint64_t waits = 0;           // requests queued
  std::uint64_t timeouts = 0;
  std::uint64_t cancellations = 0;   // waiters gone before a slot came
  std::uint64_t queue_full = 0;      // refused: queue at max_waiters
  std::uint64_t invalid_slot = 0;    // refused: id_slot out of range
  std::uint64_t shut_down = 0;       // waiters failed by shutdown
};

struct slot_view {
  int id = 0;
  std::optional<std::size_t> n_tokens;  // nullopt: unknown
  bool leased = false;
  clock::duration lease_age{};          // zero when free
  clock::duration idle_age{};           // since its last release; zero when leased or never released
};

struct slot_table_snapshot {
  std::vector<slot_view> slots;
  std::size_t waiting = 0;
  slot_counters counters;
};

class slot_table {
 public:
  struct options {
    int n_slots = 1;               // > 0
    std::size_t max_waiters = 64;  // 0: nobody waits
    std::size_t useful_prefix = 1;  // shorter common prefixes count as none when choosing a slot
  };

  // Every slot starts unknown and free. Throws std::invalid_argument when n_slots <= 0.
  slot_table(options opts, const clock& clk);

  int size() const { return static_cast<int>(slots_.size()); }

  // A grant (the slot is leased from now on), must_wait (nothing suitable is free), or
  // invalid_slot when `wanted` is outside [0, n).
  acquire_decision try_acquire(token_span prompt, std::optional<int> wanted);

  // Queues a waiter that try_acquire told to wait, in arrival order; false when the queue is full.
  // The prompt is read again when a slot is handed over, so it must stay valid until the waiter
  // is granted or cancelled. Throws std::logic_error on a repeated waiter id, an invalid `wanted`,
  // or when a slot the waiter could take is free (it should not wait).
  bool enqueue(std::uint64_t waiter, token_span prompt, std::optional<int> wanted);

  // Removes a waiter that gives up. False when it is not waiting (already granted, never queued):
  // then whoever holds its grant must use it or give it back.
  bool cancel(std::uint64_t waiter, wait_end why);

  // Frees a leased slot and records what it now holds; if a waiter can take it, the slot is leased
  // again at once and the grant is returned for that waiter. Tokens reported by a lease that
  // predates mark_all_unknown are not trusted. Throws std::logic_error when the slot is not leased,
  // std::out_of_range for a bad id.
  std::optional<slot_handoff> release(int slot, shared_tokens now_held);

  // Frees a slot whose grant was never used (its holder vanished as the grant came): content and
  // LRU order stay as they were. Same hand-over and errors as release.
  std::optional<slot_handoff> give_back(int slot);

  // What a slot holds now, leased or not (e.g. after a restore into it, or another client used it).
  void set_tokens(int slot, shared_tokens held);

  // The backend restarted: nothing it held is known, including what current leases will report.
  void mark_all_unknown();

  // Empties the queue (shutdown); the ids of the waiters removed, in arrival order.
  std::vector<std::uint64_t> drain_waiters();

  bool is_leased(int slot) const { return at(slot).leased; }
  const shared_tokens& held(int slot) const { return at(slot).held; }
  std::size_t waiting() const { return queue_.size(); }
  const slot_counters& counters() const { return counters_; }
  slot_table_snapshot snapshot() const;

 private:
  struct slot_state {
    shared_tokens held;
    bool leased = false;
    std::uint64_t lease_generation = 0;  // generation_ when leased
    std::uint64_t released_seq = 0;      // LRU order: 0 = never released
    clock::time_point leased_at{};
    clock::time_point released_at{};     // last release (released_seq > 0)
  };
  struct waiter_entry {
    std::uint64_t id = 0;
    token_span prompt;
    std::optional<int> wanted;
  };

  slot_state& at(int slot);
  const slot_state& at(int slot) const;
  slot_grant lease(int slot, token_span prompt);
  std::optional<slot_handoff> hand_over(int slot);

  options options_;
  const clock& clock_;
  std::vector<slot_state> slots_;
  std::list<waiter_entry> queue_;  // arrival order
  std::unordered_map<std::uint64_t, std::list<waiter_entry>::iterator> queued_;
  std::uint64_t generation_ = 0;    // bumped by mark_all_unknown
  std::uint64_t release_seq_ = 0;
  slot_counters counters_;
};

}  // namespace slotcache
