#pragma once
// The backend's slots: what each holds, who uses it, and a FIFO of requests waiting for one.
#include "llama_json.h"
#include "slot_rules.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <list>
#include <utility>
#include <optional>

namespace fake_llama {

namespace asio = boost::asio;

// What /slots shows about the last completion a slot ran.
struct task_info {
  int id_task = 0;
  std::size_t n_processed = 0, n_cache = 0;
  int n_decoded = 0, n_remain = 0;
  bool has_next_token = false;
  json params;
};

struct slot_state {
  int id = 0;
  tokens cached;
  bool busy = false;
  std::uint64_t last_used = 0;
  std::optional<task_info> task;
};

class slot_pool {
public:
  // Exclusive use of one slot; returning it hands it to the next waiter at once.
  class lease {
  public:
    lease() = default;
    lease(slot_pool* pool, int id) : pool_(pool), id_(id) {}
    lease(lease&& other) noexcept : pool_(std::exchange(other.pool_, nullptr)), id_(other.id_) {}
    lease& operator=(lease&&) = delete;
    ~lease() { if (pool_) pool_->release(id_); }
    slot_state& operator*() const { return pool_->slots_[std::size_t(id_)]; }
    slot_state* operator->() const { return &**this; }

  private:
    slot_pool* pool_ = nullptr;
    int id_ = -1;
  };

  slot_pool(asio::any_io_executor executor, int n_slots);

  // pinned: a slot id, or -1 for the idle slot pick_idle_slot chooses. Waits without a timeout,
  // in arrival order; cancelling the awaiting coroutine leaves the queue cleanly.
  asio::awaitable<lease> acquire(int pinned, const tokens& prompt);

  std::vector<slot_state>& slots() { return slots_; }
  const std::vector<slot_state>& slots() const { return slots_; }
  std::size_t waiting() const { return waiters_.size(); }
  int busy() const;

private:
  struct waiter {
    int pinned;
    asio::steady_timer wakeup;
    int granted = -1;
  };
  void release(int id);

  asio::any_io_executor executor_;
  std::vector<slot_state> slots_;
  std::list<waiter*> waiters_;
  std::uint64_t clock_ = 0;
};

}  // namespace fake_llama
