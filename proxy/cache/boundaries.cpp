#include "cache/boundaries.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace slotcache {
namespace {

void require_ascending(std::span<const std::size_t> positions, const char* what) {
  if (!std::is_sorted(positions.begin(), positions.end()))
    throw std::invalid_argument(std::string("checkpoint_boundaries: ") + what + " not ascending");
}

}  // namespace

std::size_t boundary_gap(std::size_t p, std::size_t chunk_tokens) {
  // Rounded up so that b' >= 1.5 b holds exactly, which the 3x bound rests on.
  return std::max(chunk_tokens, p / 2 + p % 2);
}

std::vector<std::size_t> checkpoint_boundaries(const boundary_input& in) {
  require_ascending(in.message_starts, "message_starts");
  require_ascending(in.covered, "covered");
  if (in.chunk_tokens == 0) throw std::invalid_argument("checkpoint_boundaries: chunk_tokens is 0");

  const std::size_t n = in.n_tokens;
  auto usable = [&](std::size_t x) { return x > in.reused && x < n; };

  std::vector<std::size_t> candidates;
  for (std::size_t x : in.message_starts)
    if (usable(x) && (candidates.empty() || candidates.back() != x)) candidates.push_back(x);
  const bool has_end = in.last_message_end && usable(*in.last_message_end);
  if (has_end) {
    auto at = std::lower_bound(candidates.begin(), candidates.end(), *in.last_message_end);
    if (at == candidates.end() || *at != *in.last_message_end) candidates.insert(at, *in.last_message_end);
  }

  std::vector<std::size_t> kept;
  std::size_t anchor = in.reused;
  auto next_covered = in.covered.begin();
  for (std::size_t x : candidates) {
    // Existing checkpoints already serve prompts parting near them: they count as kept, for free.
    for (; next_covered != in.covered.end() && *next_covered <= x; ++next_covered)
      anchor = std::max(anchor, *next_covered);
    if (anchor == x) continue;  // x itself is covered

    if (has_end && x == *in.last_message_end) {
      // One drop is enough: the boundary before the dropped one is a full gap below the dropped
      // one, hence below x.
      if (!kept.empty() && x - kept.back() < boundary_gap(kept.back(), in.chunk_tokens)) kept.pop_back();
      kept.push_back(x);
      anchor = x;
    } else if (x - anchor >= boundary_gap(anchor, in.chunk_tokens)) {
      kept.push_back(x);
      anchor = x;
    }
  }
  return kept;
}

}  // namespace slotcache
