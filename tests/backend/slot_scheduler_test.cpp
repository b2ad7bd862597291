#include "backend/slot_scheduler.h"

#include <array>
#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <doctest/doctest.h>

using namespace slotcache;
using namespace std::chrono_literals;
namespace net = boost::asio;

namespace {

using tokens = std::vector<token_id>;
using acquire_result = slot_scheduler::acquire_result;

// Several I/O threads, one io_context each, as the proxy runs them.
class io_threads {
 public:
  explicit io_threads(int n) {
    for (int i = 0; i < n; ++i) {
      contexts_.push_back(std::make_unique<net::io_context>(1));
      guards_.emplace_back(contexts_.back()->get_executor());
    }
    for (auto& c : contexts_) threads_.emplace_back([ctx = c.get()] { ctx->run(); });
  }
  ~io_threads() {
    // A failed check may leave coroutines waiting: stop rather than wait for them.
    for (auto& c : contexts_) c->stop();
    for (auto& t : threads_) t.join();
  }
  net::io_context& operator[](int i) { return *contexts_[static_cast<std::size_t>(i)]; }
  int size() const { return static_cast<int>(contexts_.size()); }

 private:
  std::vector<std::unique_ptr<net::io_context>> contexts_;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
};

// co_spawn hands a default-constructed value to the handler on exceptions; acquire_result has
// none, so it travels in an optional.
using pending = std::future<std::optional<acquire_result>>;

pending spawn_acquire(net::io_context& ioc, slot_scheduler& s, tokens prompt, std::optional<int> wanted = std::nullopt) {
  return net::co_spawn(
      ioc,
      [&s, prompt = std::move(prompt), wanted]() -> net::awaitable<std::optional<acquire_result>> {
        co_return co_await s.acquire(prompt, wanted);
      },
      net::use_future);
}

acquire_result get(pending& f) {
  REQUIRE(f.wait_for(30s) == std::future_status::ready);
  auto r = f.get();
  REQUIRE(r.has_value());
  return std::move(*r);
}

template <class T>
T get(std::future<T>& f) {
  REQUIRE(f.wait_for(30s) == std::future_status::ready);
  return f.get();
}

template <class T>
bool ready(std::future<T>& f) {
  return f.wait_for(0s) == std::future_status::ready;
}

template <class Pred>
void eventually(Pred done) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!done()) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(1ms);
  }
}

slot_lease lease_of(acquire_result r) {
  REQUIRE(r.ok());
  return std::move(r).value();
}

slot_error error_of(const acquire_result& r) {
  REQUIRE_FALSE(r.ok());
  return r.error();
}

bool all_free(const slot_scheduler& s) {
  const auto snap = s.snapshot();
  for (const auto& v : snap.slots)
    if (v.leased) return false;
  return snap.waiting == 0;
}

}  // namespace

TEST_CASE("slot_scheduler: concurrent acquires never share a slot and every lease comes back") {
  io_threads io(4);
  real_clock clk;
  constexpr int n_slots = 3, per_thread = 30, rounds = 20;
  slot_scheduler s({.n_slots = n_slots, .max_waiters = 1000, .max_wait = 60s}, clk);

  std::array<std::atomic<int>, n_slots> holders{};
  // What each slot holds according to its last holder; touched only by the slot's holder.
  std::array<std::optional<tokens>, n_slots> content;
  std::atomic<int> overlaps{0}, content_mismatches{0}, pin_mismatches{0}, errors{0}, leases{0};

  auto worker = [&](int seed) -> net::awaitable<void> {
    std::mt19937 rng(static_cast<unsigned>(seed));
    auto ex = co_await net::this_coro::executor;
    for (int round = 0; round < rounds; ++round) {
      tokens prompt{1, 2, static_cast<token_id>(rng() % 4), static_cast<token_id>(rng() % 3)};
      std::optional<int> wanted;
      if (rng() % 5 == 0) wanted = static_cast<int>(rng() % n_slots);
      auto r = co_await s.acquire(prompt, wanted);
      if (!r) {
        ++errors;
        continue;
      }
      slot_lease lease = std::move(r).value();
      ++leases;
      const int sl = lease.slot();
      if (wanted && *wanted != sl) ++pin_mismatches;
      if (holders[static_cast<std::size_t>(sl)].fetch_add(1) != 0) ++overlaps;

      const auto& expected = content[static_cast<std::size_t>(sl)];
      const auto held = lease.held_tokens();
      if (expected.has_value() != held.has_value() ||
          (held && !std::equal(held->begin(), held->end(), expected->begin(), expected->end())))
        ++content_mismatches;

      net::steady_timer hold(ex, std::chrono::microseconds(rng() % 300));
      co_await hold.async_wait(net::use_awaitable);

      const int how = static_cast<int>(rng() % 4);
      tokens now = prompt;
      now.push_back(static_cast<token_id>(seed));
      content[static_cast<std::size_t>(sl)] = how == 0 ? std::optional<tokens>(now) : std::nullopt;
      holders[static_cast<std::size_t>(sl)].fetch_sub(1);
      if (how == 0) {
        lease.release(now);
      } else if (how == 1) {
        lease.release_unknown();
      } else if (how == 2) {
        try {
          slot_lease inner = std::move(lease);
          throw std::runtime_error("request failed");
        } catch (const std::runtime_error&) {
        }
        if (lease.active()) ++errors;  // moved from: must be inert
      }
      // how == 3: the destructor releases it as unknown.
    }
  };

  std::vector<std::future<void>> done;
  for (int t = 0; t < io.size(); ++t)
    for (int k = 0; k < per_thread; ++k) done.push_back(net::co_spawn(io[t], worker(t * 1000 + k), net::use_future));
  for (auto& f : done) get(f);

  CHECK(overlaps == 0);
  CHECK(content_mismatches == 0);
  CHECK(pin_mismatches == 0);
  CHECK(errors == 0);
  CHECK(leases == io.size() * per_thread * rounds);
  CHECK(all_free(s));
  const auto counters = s.snapshot().counters;
  CHECK(counters.grants == static_cast<std::uint64_t>(leases.load()));
  CHECK(counters.waits > 0);  // 120 coroutines on 3 slots did contend
  CHECK(counters.timeouts == 0);
  CHECK(counters.cancellations == 0);
}

TEST_CASE("slot_scheduler: waiters on different threads are served in arrival order") {
  io_threads io(3);
  real_clock clk;
  slot_scheduler s({.n_slots = 1, .max_waiters = 16, .max_wait = 60s}, clk);
  auto first = spawn_acquire(io[0], s, {1});
  slot_lease holder = lease_of(get(first));

  constexpr int n = 6;
  std::vector<pending> waiters;
  for (int i = 0; i < n; ++i) {
    waiters.push_back(spawn_acquire(io[i % 3], s, {static_cast<token_id>(i)}));
    eventually([&] { return s.snapshot().waiting == static_cast<std::size_t>(i + 1); });
  }
  for (int i = 0; i < n; ++i) {
    holder.release({static_cast<token_id>(100 + i)});
    eventually([&] { return ready(waiters[static_cast<std::size_t>(i)]); });
    for (int j = i + 1; j < n; ++j) CHECK_FALSE(ready(waiters[static_cast<std::size_t>(j)]));
    holder = lease_of(get(waiters[static_cast<std::size_t>(i)]));
    REQUIRE(holder.held_tokens());
    CHECK(holder.held_tokens()->size() == 1);
    CHECK((*holder.held_tokens())[0] == 100 + i);
  }
  holder.release_unknown();
  CHECK(all_free(s));
}

TEST_CASE("slot_scheduler: a waiter pinned to a busy slot does not hold up the others") {
  io_threads io(2);
  real_clock clk;
  slot_scheduler s({.n_slots = 2, .max_waiters = 16, .max_wait = 60s}, clk);
  auto f0 = spawn_acquire(io[0], s, {}, 0);
  auto f1 = spawn_acquire(io[1], s, {}, 1);
  slot_lease l0 = lease_of(get(f0));
  slot_lease l1 = lease_of(get(f1));

  auto w1 = spawn_acquire(io[0], s, {}, 0);
  eventually([&] { return s.snapshot().waiting == 1; });
  auto w2 = spawn_acquire(io[1], s, {});
  eventually([&] { return s.snapshot().waiting == 2; });
  auto w3 = spawn_acquire(io[0], s, {}, 1);
  eventually([&] { return s.snapshot().waiting == 3; });
  auto w4 = spawn_acquire(io[1], s, {});
  eventually([&] { return s.snapshot().waiting == 4; });

  l1.release_unknown();
  slot_lease g2 = lease_of(get(w2));
  CHECK(g2.slot() == 1);
  g2.release_unknown();
  slot_lease g3 = lease_of(get(w3));
  CHECK(g3.slot() == 1);
  CHECK_FALSE(ready(w1));
  CHECK_FALSE(ready(w4));
  l0.release_unknown();
  slot_lease g1 = lease_of(get(w1));
  CHECK(g1.slot() == 0);
  g3.release_unknown();
  slot_lease g4 = lease_of(get(w4));
  CHECK(g4.slot() == 1);
  g1.release_unknown();
  g4.release_unknown();
  CHECK(all_free(s));
}

TEST_CASE("slot_scheduler: out-of-range id_slot is refused at once") {
  io_threads io(1);
  real_clock clk;
  slot_scheduler s({.n_slots = 2, .max_waiters = 4, .max_wait = 60s}, clk);
  auto a = spawn_acquire(io[0], s, {}, 2);
  CHECK(error_of(get(a)) == slot_error::invalid_slot);
  auto b = spawn_acquire(io[0], s, {}, -1);
  CHECK(error_of(get(b)) == slot_error::invalid_slot);
  CHECK(s.snapshot().counters.invalid_slot == 2);
  CHECK(all_free(s));
}

TEST_CASE("slot_scheduler: a wait ends with timeout after max_wait") {
  io_threads io(2);
  real_clock clk;
  slot_scheduler s({.n_slots = 1, .max_waiters = 4, .max_wait = 50ms}, clk);
  auto first = spawn_acquire(io[0], s, {1, 2});
  slot_lease holder = lease_of(get(first));

  const auto start = std::chrono::steady_clock::now();
  auto w = spawn_acquire(io[1], s, {1, 2});
  CHECK(error_of(get(w)) == slot_error::timeout);
  CHECK(std::chrono::steady_clock::now() - start >= 50ms);
  auto snap = s.snapshot();
  CHECK(snap.waiting == 0);
  CHECK(snap.counters.timeouts == 1);
  CHECK(snap.slots[0].leased);  // still the holder's

  holder.release({1, 2, 3});
  auto again = spawn_acquire(io[1], s, {1, 2, 3, 4});
  slot_lease l = lease_of(get(again));
  CHECK(l.common_prefix() == 3);
  CHECK(l.extends());
}

TEST_CASE("slot_scheduler: a full queue refuses, shutdown fails the waiters") {
  io_threads io(2);
  real_clock clk;
  slot_scheduler s({.n_slots = 1, .max_waiters = 2, .max_wait = 60s}, clk);
  auto first = spawn_acquire(io[0], s, {});
  slot_lease holder = lease_of(get(first));

  auto w1 = spawn_acquire(io[0], s, {});
  auto w2 = spawn_acquire(io[1], s, {}, 0);
  eventually([&] { return s.snapshot().waiting == 2; });
  auto w3 = spawn_acquire(io[1], s, {});
  CHECK(error_of(get(w3)) == slot_error::queue_full);
  CHECK(s.snapshot().counters.queue_full == 1);

  s.shutdown();
  CHECK(error_of(get(w1)) == slot_error::shutting_down);
  CHECK(error_of(get(w2)) == slot_error::shutting_down);
  auto late = spawn_acquire(io[0], s, {});
  CHECK(error_of(get(late)) == slot_error::shutting_down);
  CHECK(s.snapshot().counters.shut_down == 2);

  // The lease held through shutdown still goes back.
  CHECK(s.snapshot().slots[0].leased);
  holder.release_unknown();
  CHECK(all_free(s));
}

TEST_CASE("slot_scheduler: a waiter cancelled by the || operator leaves the queue") {
  using namespace net::experimental::awaitable_operators;
  io_threads io(2);
  real_clock clk;
  slot_scheduler s({.n_slots = 1, .max_waiters = 4, .max_wait = 60s}, clk);
  auto first = spawn_acquire(io[0], s, {});
  slot_lease holder = lease_of(get(first));

  const tokens prompt{5};
  auto raced = net::co_spawn(
      io[1],
      [&]() -> net::awaitable<std::size_t> {
        net::steady_timer client_gone(co_await net::this_coro::executor, 30ms);
        auto v = co_await (s.acquire(prompt) || client_gone.async_wait(net::use_awaitable));
        co_return v.index();
      },
      net::use_future);
  CHECK(get(raced) == 1);
  auto snap = s.snapshot();
  CHECK(snap.waiting == 0);
  CHECK(snap.counters.cancellations == 1);
  CHECK(snap.counters.timeouts == 0);

  // The slot is not handed to the departed waiter.
  holder.release_unknown();
  CHECK(all_free(s));
}

TEST_CASE("slot_scheduler: a cancellation signal ends a wait with cancelled") {
  io_threads io(2);
  real_clock clk;
  slot_scheduler s({.n_slots = 1, .max_waiters = 4, .max_wait = 60s}, clk);
  auto first = spawn_acquire(io[0], s, {});
  slot_lease holder = lease_of(get(first));

  const tokens prompt{5};
  net::cancellation_signal signal;
  auto w = net::co_spawn(
      io[1], [&]() -> net::awaitable<std::optional<acquire_result>> { co_return co_await s.acquire(prompt); },
      net::bind_cancellation_slot(signal.slot(), net::use_future));
  eventually([&] { return s.snapshot().waiting == 1; });
  net::post(io[1], [&] { signal.emit(net::cancellation_type::terminal); });
  CHECK(error_of(get(w)) == slot_error::cancelled);
  CHECK(s.snapshot().waiting == 0);
  holder.release_unknown();
  CHECK(all_free(s));
}

TEST_CASE("slot_scheduler: a waiter whose thread goes away leaves the queue or gives its grant back") {
  io_threads io(1);
  real_clock clk;
  slot_scheduler s({.n_slots = 1, .max_waiters = 4, .max_wait = 60s}, clk);
  auto first = spawn_acquire(io[0], s, {4});
  slot_lease holder = lease_of(get(first));
  const tokens prompt{4, 4};

  SUBCASE("destroyed while queued") {
    {
      net::io_context gone(1);
      net::co_spawn(gone, [&]() -> net::awaitable<void> { co_await s.acquire(prompt); }, net::detached);
      gone.poll();
      REQUIRE(s.snapshot().waiting == 1);
    }
    CHECK(s.snapshot().waiting == 0);
    CHECK(s.snapshot().slots[0].leased);
    holder.release({4});
  }
  SUBCASE("destroyed with a grant on its way") {
    {
      net::io_context gone(1);
      net::co_spawn(gone, [&]() -> net::awaitable<void> { co_await s.acquire(prompt); }, net::detached);
      gone.poll();
      REQUIRE(s.snapshot().waiting == 1);
      holder.release({4});  // granted to the waiter, whose thread never runs again
      CHECK(s.snapshot().waiting == 0);
      CHECK(s.snapshot().slots[0].leased);
    }
    CHECK_FALSE(s.snapshot().slots[0].leased);
  }
  CHECK(all_free(s));
  // What the slot held survives the grant nobody used.
  auto next = spawn_acquire(io[0], s, {4, 4});
  slot_lease l = lease_of(get(next));
  CHECK(l.common_prefix() == 1);
}

TEST_CASE("slot_scheduler: a grant racing a timeout is neither lost nor doubled") {
  io_threads io(2);
  real_clock clk;
  slot_scheduler s({.n_slots = 1, .max_waiters = 4, .max_wait = 2ms}, clk);
  std::mt19937 rng(7);
  int granted = 0, timed_out = 0;
  for (int i = 0; i < 300; ++i) {
    CAPTURE(i);
    auto first = spawn_acquire(io[0], s, {});
    slot_lease holder = lease_of(get(first));
    const auto delay = std::chrono::microseconds(rng() % 4000);
    auto releaser = net::co_spawn(
        io[0],
        [l = std::move(holder), delay]() mutable -> net::awaitable<void> {
          net::steady_timer t(co_await net::this_coro::executor, delay);
          co_await t.async_wait(net::use_awaitable);
          l.release({9});
        },
        net::use_future);
    auto w = spawn_acquire(io[1], s, {9, 9});
    auto r = get(w);
    get(releaser);
    if (r.ok()) {
      ++granted;
      slot_lease l = std::move(r).value();
      CHECK(s.snapshot().slots[0].leased);
      CHECK(l.common_prefix() == 1);
    } else {
      ++timed_out;
      REQUIRE(r.error() == slot_error::timeout);
      CHECK_FALSE(s.snapshot().slots[0].leased);
    }
    REQUIRE(all_free(s));
  }
  CHECK(granted > 0);
  CHECK(timed_out > 0);
  const auto counters = s.snapshot().counters;
  CHECK(counters.timeouts == static_cast<std::uint64_t>(timed_out));
  CHECK(counters.grants == static_cast<std::uint64_t>(300 + granted));
}

TEST_CASE("slot_scheduler: a grant racing a cancellation is neither lost nor doubled") {
  using namespace net::experimental::awaitable_operators;
  io_threads io(3);
  real_clock clk;
  slot_scheduler s({.n_slots = 1, .max_waiters = 4, .max_wait = 60s}, clk);
  std::mt19937 rng(11);
  int granted = 0, cancelled = 0;
  const tokens prompt{3};
  for (int i = 0; i < 300; ++i) {
    CAPTURE(i);
    auto first = spawn_acquire(io[0], s, {});
    slot_lease holder = lease_of(get(first));
    const auto delay = std::chrono::microseconds(rng() % 4000);
    auto releaser = net::co_spawn(
        io[0],
        [l = std::move(holder), delay]() mutable -> net::awaitable<void> {
          net::steady_timer t(co_await net::this_coro::executor, delay);
          co_await t.async_wait(net::use_awaitable);
          l.release_unknown();
        },
        net::use_future);
    auto w = net::co_spawn(
        io[1 + i % 2],
        [&]() -> net::awaitable<int> {
          net::steady_timer client_gone(co_await net::this_coro::executor, 2ms);
          auto v = co_await (s.acquire(prompt) || client_gone.async_wait(net::use_awaitable));
          if (v.index() == 1) co_return 1;
          if (!std::get<0>(v).ok()) co_return 2;
          slot_lease l = std::move(std::get<0>(v)).value();
          co_return 0;  // released here, as unknown
        },
        net::use_future);
    const int outcome = get(w);
    get(releaser);
    REQUIRE(outcome != 2);
    outcome == 0 ? ++granted : ++cancelled;
    REQUIRE(all_free(s));
  }
  CHECK(granted > 0);
  CHECK(cancelled > 0);
}
