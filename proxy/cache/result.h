#pragma once

#include <cassert>
#include <utility>
#include <variant>

namespace slotcache {

// A value or the reason there is none: how the cache reports expected failures (GCC 12 has no
// std::expected). T and E must be different types.
template <class T, class E>
class result {
 public:
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  result(E error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const E& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

}  // namespace slotcache
