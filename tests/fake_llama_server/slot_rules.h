#pragma once
// What a slot can reuse of its cached tokens, and which idle slot an unpinned request gets.
#include "tokenizer.h"

#include <cstdint>
#include <vector>

namespace fake_llama {

// dense: any common prefix is reused. hybrid (recurrent/SWA memory): the state cannot be
// rolled back, so it is reused only when the prompt strictly extends everything cached.
enum class cache_mode { dense, hybrid };

std::size_t common_prefix(const tokens& a, const tokens& b);

// Number of prompt tokens taken from the cache (timings.cache_n). At least one prompt token is
// always evaluated, as llama-server needs logits for sampling.
std::size_t reusable_tokens(cache_mode mode, const tokens& cached, const tokens& prompt, bool cache_prompt);

struct slot_view {
  bool busy = false;
  std::uint64_t last_used = 0;
  const tokens* cached = nullptr;
};

// llama-server's choice: the idle slot with the best common-prefix similarity above 0.1 of the
// prompt, else the least recently used idle slot (ties go to the higher id). -1 if all are busy.
int pick_idle_slot(const std::vector<slot_view>& slots, const tokens& prompt);

}  // namespace fake_llama
