#include "cache/eviction_policy.h"

#include <algorithm>
#include <cmath>

namespace slotcache {

double eviction_policy::priority(const checkpoint& cp, clock::time_point now) const {
  const double age = std::max(0.0, std::chrono::duration<double>(now - cp.last_used).count());
  const double half_life_s = std::max(1.0, std::chrono::duration<double>(half_life).count());
  const double tokens = std::max<double>(1, cp.n_tokens);
  const double bytes = std::max<double>(1, static_cast<double>(cp.bytes));
  return std::log1p(static_cast<double>(cp.hits)) + std::log(tokens) - std::log(bytes) -
         (age / half_life_s) * std::log(2.0);
}

}  // namespace slotcache
