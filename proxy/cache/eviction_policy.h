#pragma once

#include <chrono>

#include "cache/checkpoint.h"

namespace slotcache {

// Which checkpoint to give up first when the budget is exceeded. Higher priority is kept longer.
//
//   priority = (1 + hits) × (n_tokens / bytes) × 2^(−age / half_life),   age = now − last_used
//
// - (1 + hits): an entry restored often is likely to be restored again.
// - n_tokens / bytes: prompt tokens whose computation one byte of disk saves. For hybrid and
//   recurrent models a slot file carries a large fixed-size state, so short prefixes are
//   expensive per token saved and go first.
// - 2^(−age / half_life): value halves for every half_life without use, so a once-popular entry
//   that is no longer used eventually yields to fresh ones (a fresh entry with no hits is worth
//   an entry with 2^k − 1 hits last used k half-lives ago).
//
// Computed as a natural logarithm so that ages of weeks do not underflow to equal zeros.
struct eviction_policy {
  std::chrono::seconds half_life{std::chrono::hours{1}};

  double priority(const checkpoint& cp, clock::time_point now) const;
};

}  // namespace slotcache
