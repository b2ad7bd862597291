#include "backend/slot_scheduler.h"

#include <cassert>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <variant>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace slotcache {
namespace net = boost::asio;

namespace detail {

// One acquire that had to wait. The timer belongs to the waiter's executor and is touched only
// there; `outcome` is written by whoever decides the wait (under the core's mutex).
struct slot_waiter {
  explicit slot_waiter(net::any_io_executor ex) : executor(ex), timer(std::move(ex)) {}

  const net::any_io_executor executor;
  net::steady_timer timer;
  std::optional<std::variant<slot_grant, slot_error>> outcome;  // guarded by the core's mutex
};

using waiter_ptr = std::shared_ptr<slot_waiter>;

// Wakes a waiter on its own thread; the timer is cancelled there, never from here.
void wake(const waiter_ptr& w) {
  if (w) net::post(w->executor, [w] { w->timer.cancel(); });
}

struct slot_scheduler_core {
  slot_scheduler_core(slot_table::options opts, const clock& clk) : table(opts, clk) {}

  std::mutex mutex;
  // Everything below is guarded by mutex.
  slot_table table;
  bool shutting_down = false;
  std::uint64_t next_waiter = 0;
  std::unordered_map<std::uint64_t, waiter_ptr> waiters;

  // With the mutex held: gives a handed-over slot to its waiter; the caller wakes it after unlocking.
  waiter_ptr deliver(std::optional<slot_handoff> h) {
    if (!h) return nullptr;
    auto it = waiters.find(h->waiter);
    waiter_ptr w = std::move(it->second);
    waiters.erase(it);
    w->outcome = std::move(h->grant);
    return w;
  }

  void release(int slot, shared_tokens now_held) {
    waiter_ptr w;
    {
      std::lock_guard lock(mutex);
      w = deliver(table.release(slot, std::move(now_held)));
    }
    wake(w);
  }

  // With the mutex held.
  waiter_ptr give_back(int slot) { return deliver(table.give_back(slot)); }
};

}  // namespace detail

using detail::slot_scheduler_core;
using detail::waiter_ptr;

// --- slot_lease ---

slot_lease::slot_lease(std::shared_ptr<slot_scheduler_core> core, slot_grant grant)
    : core_(std::move(core)), grant_(std::move(grant)) {}

slot_lease::slot_lease(slot_lease&& other) noexcept
    : core_(std::move(other.core_)), grant_(std::move(other.grant_)) {
  other.core_ = nullptr;
}

slot_lease& slot_lease::operator=(slot_lease&& other) noexcept {
  if (this != &other) {
    release_unknown();
    core_ = std::move(other.core_);
    grant_ = std::move(other.grant_);
    other.core_ = nullptr;
  }
  return *this;
}

slot_lease::~slot_lease() { release_unknown(); }

std::optional<token_span> slot_lease::held_tokens() const {
  if (!grant_.held) return std::nullopt;
  return token_span(*grant_.held);
}

void slot_lease::release(std::vector<token_id> now_held) { finish(make_tokens(std::move(now_held))); }
void slot_lease::release(shared_tokens now_held) { finish(std::move(now_held)); }
void slot_lease::release_unknown() { finish(nullptr); }

void slot_lease::finish(shared_tokens now_held) {
  if (!core_) return;
  auto core = std::move(core_);
  core_ = nullptr;
  core->release(grant_.slot, std::move(now_held));
}

// --- slot_scheduler ---

slot_scheduler::slot_scheduler(options opts, const clock& clk)
    : core_(std::make_shared<slot_scheduler_core>(slot_table::options{opts.n_slots, opts.max_waiters, opts.useful_prefix}, clk)),
      max_wait_(opts.max_wait) {}

slot_scheduler::~slot_scheduler() { shutdown(); }

namespace {

// What acquire does next, decided in one critical section.
struct first_step {
  std::optional<slot_grant> grant;
  std::optional<slot_error> error;
  std::uint64_t waiter = 0;  // when neither: wait as this waiter
};

// Undoes a wait on every path out of acquire that did not settle it (an exception, or the
// coroutine frame destroyed while suspended): leaves the queue, or gives back a grant that came.
struct wait_guard {
  std::shared_ptr<slot_scheduler_core> core;
  std::uint64_t id;
  waiter_ptr w;
  bool settled = false;

  ~wait_guard() {
    if (settled) return;
    waiter_ptr next;
    {
      std::lock_guard lock(core->mutex);
      if (core->table.cancel(id, wait_end::cancelled)) {
        core->waiters.erase(id);
      } else if (w->outcome && std::holds_alternative<slot_grant>(*w->outcome)) {
        next = core->give_back(std::get<slot_grant>(*w->outcome).slot);
        w->outcome.reset();
      }
    }
    detail::wake(next);
  }
};

}  // namespace

net::awaitable<slot_scheduler::acquire_result> slot_scheduler::acquire(token_span prompt, std::optional<int> wanted) {
  auto core = core_;
  net::cancellation_state cs = co_await net::this_coro::cancellation_state;
  if (cs.cancelled() != net::cancellation_type::none) co_return slot_error::cancelled;
  auto executor = co_await net::this_coro::executor;

  waiter_ptr w;
  first_step step;
  {
    std::lock_guard lock(core->mutex);
    if (core->shutting_down) {
      step.error = slot_error::shutting_down;
    } else {
      auto d = core->table.try_acquire(prompt, wanted);
      if (auto* g = std::get_if<slot_grant>(&d)) {
        step.grant = std::move(*g);
      } else if (auto* e = std::get_if<slot_error>(&d)) {
        step.error = *e;
      } else {
        // In this order so that nothing throws once the table has queued the waiter.
        step.waiter = ++core->next_waiter;
        w = std::make_shared<detail::slot_waiter>(executor);
        auto it = core->waiters.emplace(step.waiter, w).first;
        bool queued = false;
        try {
          queued = core->table.enqueue(step.waiter, prompt, wanted);
        } catch (...) {
          core->waiters.erase(it);
          throw;
        }
        if (!queued) {
          core->waiters.erase(it);
          step.error = slot_error::queue_full;
        }
      }
    }
  }
  if (step.grant) co_return slot_lease(core, std::move(*step.grant));
  if (step.error) co_return *step.error;

  wait_guard guard{core, step.waiter, w};
  w->timer.expires_after(max_wait_);
  for (;;) {
    auto [ec] = co_await w->timer.async_wait(net::as_tuple(net::use_awaitable));
    const bool cancelled = cs.cancelled() != net::cancellation_type::none;
    const bool expired = !ec || std::chrono::steady_clock::now() >= w->timer.expiry();

    std::optional<acquire_result> out;
    waiter_ptr next;
    {
      std::lock_guard lock(core->mutex);
      if (w->outcome) {
        if (auto* g = std::get_if<slot_grant>(&*w->outcome)) {
          if (cancelled) {
            // Granted as the holder went away: nobody will use it.
            next = core->give_back(g->slot);
            out.emplace(slot_error::cancelled);
          } else {
            out.emplace(slot_lease(core, std::move(*g)));
          }
        } else {
          out.emplace(std::get<slot_error>(*w->outcome));
        }
        w->outcome.reset();
      } else if (cancelled || expired) {
        // Still queued: nobody decided for us, and under the mutex nobody can now.
        [[maybe_unused]] const bool removed =
            core->table.cancel(step.waiter, cancelled ? wait_end::cancelled : wait_end::timeout);
        assert(removed);
        core->waiters.erase(step.waiter);
        out.emplace(cancelled ? slot_error::cancelled : slot_error::timeout);
      }
      if (out) guard.settled = true;
    }
    detail::wake(next);
    if (out) co_return std::move(*out);
    // Woken with nothing decided (a stray wake-up): keep waiting until the same deadline.
  }
}

void slot_scheduler::shutdown() {
  std::vector<waiter_ptr> woken;
  {
    std::lock_guard lock(core_->mutex);
    core_->shutting_down = true;
    for (std::uint64_t id : core_->table.drain_waiters()) {
      auto it = core_->waiters.find(id);
      it->second->outcome = slot_error::shutting_down;
      woken.push_back(std::move(it->second));
      core_->waiters.erase(it);
    }
  }
  for (const auto& w : woken) detail::wake(w);
}

void slot_scheduler::set_tokens(int slot, shared_tokens held) {
  std::lock_guard lock(core_->mutex);
  core_->table.set_tokens(slot, std::move(held));
}

void slot_scheduler::mark_all_unknown() {
  std::lock_guard lock(core_->mutex);
  core_->table.mark_all_unknown();
}

int slot_scheduler::size() const {
  std::lock_guard lock(core_->mutex);
  return core_->table.size();
}

slot_table_snapshot slot_scheduler::snapshot() const {
  std::lock_guard lock(core_->mutex);
  return core_->table.snapshot();
}

}  // namespace slotcache
