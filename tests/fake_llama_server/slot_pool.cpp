#include "slot_pool.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace fake_llama {

slot_pool::slot_pool(asio::any_io_executor executor, int n_slots) : executor_(std::move(executor)) {
  slots_.resize(std::size_t(n_slots));
  for (int i = 0; i < n_slots; ++i) slots_[std::size_t(i)].id = i;
}

int slot_pool::busy() const {
  return int(std::count_if(slots_.begin(), slots_.end(), [](const slot_state& s) { return s.busy; }));
}

asio::awaitable<slot_pool::lease> slot_pool::acquire(int pinned, const tokens& prompt) {
  int id = -1;
  if (pinned >= 0) {
    id = slots_[std::size_t(pinned)].busy ? -1 : pinned;
  } else {
    std::vector<slot_view> views;
    for (const auto& s : slots_) views.push_back({s.busy, s.last_used, &s.cached});
    id = pick_idle_slot(views, prompt);
  }
  if (id >= 0) {
    slots_[std::size_t(id)].busy = true;
    co_return lease(this, id);
  }

  waiter w{pinned, asio::steady_timer(executor_, asio::steady_timer::time_point::max())};
  // Also runs when the coroutine frame is destroyed without resuming.
  struct enlisted {
    slot_pool& pool;
    std::list<waiter*>::iterator at;
    waiter& w;
    bool taken = false;
    ~enlisted() {
      if (w.granted < 0) pool.waiters_.erase(at);
      else if (!taken) pool.release(w.granted);
    }
  } guard{*this, waiters_.insert(waiters_.end(), &w), w};

  co_await w.wakeup.async_wait(asio::as_tuple(asio::use_awaitable));
  if (w.granted < 0) throw boost::system::system_error(asio::error::operation_aborted);
  guard.taken = true;
  co_return lease(this, w.granted);
}

void slot_pool::release(int id) {
  slot_state& s = slots_[std::size_t(id)];
  s.busy = false;
  s.last_used = ++clock_;
  auto next = std::find_if(waiters_.begin(), waiters_.end(), [id](waiter* w) { return w->pinned == id; });
  if (next == waiters_.end())
    next = std::find_if(waiters_.begin(), waiters_.end(), [](waiter* w) { return w->pinned < 0; });
  if (next == waiters_.end()) return;
  s.busy = true;
  (*next)->granted = id;
  (*next)->wakeup.cancel();
  waiters_.erase(next);
}

}  // namespace fake_llama
