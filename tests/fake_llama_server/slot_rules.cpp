#include "slot_rules.h"

#include <algorithm>

namespace fake_llama {

std::size_t common_prefix(const tokens& a, const tokens& b) {
  return std::mismatch(a.begin(), a.begin() + std::min(a.size(), b.size()), b.begin()).second - b.begin();
}

std::size_t reusable_tokens(cache_mode mode, const tokens& cached, const tokens& prompt, bool cache_prompt) {
  if (!cache_prompt || prompt.empty()) return 0;
  const std::size_t n = common_prefix(cached, prompt);
  if (mode == cache_mode::hybrid) return n == cached.size() && n < prompt.size() ? n : 0;
  return n == prompt.size() ? n - 1 : n;
}

int pick_idle_slot(const std::vector<slot_view>& slots, const tokens& prompt) {
  constexpr double min_similarity = 0.1;  // llama-server's default --slot-prompt-similarity
  int best = -1;
  double best_similarity = 0;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (slots[i].busy || slots[i].cached->empty() || prompt.empty()) continue;
    const double similarity = double(common_prefix(*slots[i].cached, prompt)) / double(prompt.size());
    if (similarity > best_similarity && similarity > min_similarity) best_similarity = similarity, best = int(i);
  }
  if (best >= 0) return best;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (slots[i].busy) continue;
    if (best < 0 || slots[i].last_used <= slots[std::size_t(best)].last_used) best = int(i);
  }
  return best;
}

}  // namespace fake_llama
