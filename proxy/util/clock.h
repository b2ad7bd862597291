#pragma once

#include <atomic>
#include <chrono>

namespace slotcache {

// Wall-clock time as the cache sees it. Injected so tests can make ages and orderings exact;
// wall time (not steady) because timestamps are persisted and compared across restarts.
class clock {
 public:
  using time_point = std::chrono::system_clock::time_point;
  using duration = std::chrono::system_clock::duration;

  virtual ~clock() = default;
  virtual time_point now() const = 0;
};

class real_clock final : public clock {
 public:
  time_point now() const override { return std::chrono::system_clock::now(); }
};

// Moves only when told; safe to read while another thread advances it.
class manual_clock final : public clock {
 public:
  // The default start is a round instant well after the epoch, so "age" arithmetic never underflows.
  explicit manual_clock(time_point start = time_point{std::chrono::hours{24 * 365 * 50}})
      : ticks_(start.time_since_epoch().count()) {}

  time_point now() const override { return time_point{duration{ticks_.load()}}; }
  void set(time_point t) { ticks_.store(t.time_since_epoch().count()); }
  void advance(duration d) { ticks_.fetch_add(d.count()); }

 private:
  std::atomic<duration::rep> ticks_;
};

}  // namespace slotcache
