#pragma once

// Where to checkpoint a prompt before forwarding it (hybrid, recurrent and SWA models).
//
// Such a backend reuses a restored state only for prompts that strictly extend it, so a
// checkpoint helps later prompts only if it ends at or before the point where they part from this
// one. Prompts part at message starts (an edited message, reasoning pruned from an earlier answer)
// and at the end of the last message before the generation prompt (the next turn extends the
// prompt up to there, then carries the answer instead of the generation prompt). Those positions
// are the candidates; saving at all of them would write far more than the prompt is worth, so:
//
// Rule. Walk the candidates in ascending order keeping an anchor p: the furthest point already
// covered (starts at `reused`; every covered position passed, and every boundary kept, moves it).
//   - positions <= reused, >= n, or already covered are never returned (a covered one moves p);
//   - a message start x is kept when x − p >= gap(p), gap(p) = max(chunk_tokens, ceil(p / 2));
//   - the end of the last message L is always kept; the boundary kept just before it, b, is dropped
//     when L − b < gap(b) (never more than that one: the one before b is a full gap below b).
//
// Bound. Consecutive returned boundaries satisfy b' >= b + gap(b) >= 1.5 b (for a message start
// the anchor is >= the previous kept boundary; for L the drop makes it so), so read backwards
// they shrink at least geometrically by 2/3 and
//     Σ b  <=  b_last · (1 + 2/3 + 4/9 + …)  <  3 · b_last  <  3 · n.
// Saves cost bytes in proportion to their tokens, so one prompt never writes more than three
// saves of the whole prompt would. Spacing also never falls under chunk_tokens, except for L.
//
// Example (chunk_tokens 4096, nothing reused or covered), n = 30000, L = 29990,
// message starts 0 100 3000 5000 9000 12000 20000 26000 29000:
//   0 is not > reused; 100 and 3000 are closer than 4096 to 0; 5000 kept (p = 5000);
//   9000 − 5000 < 4096; 12000 kept (gap 4096); 20000 kept (gap 6000); 26000 and 29000 are closer
//   than 10000 to 20000; L: 29990 − 20000 < 10000 drops 20000, 29990 − 12000 >= 6000 stops.
//   → 5000 12000 29990 (Σ 46990 <= 3 × 30000).

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

namespace slotcache {

struct boundary_input {
  std::size_t n_tokens = 0;                        // the prompt's length
  std::span<const std::size_t> message_starts;     // ascending (repeats allowed)
  std::optional<std::size_t> last_message_end;     // start of the generation prompt, if any
  std::span<const std::size_t> covered;            // existing checkpoints on this prompt's path, ascending
  std::size_t reused = 0;                          // slot content kept for this request
  std::size_t chunk_tokens = 4096;                 // smallest spacing; must be > 0
};

// Ascending, each b with reused < b < n_tokens and b not covered. Throws std::invalid_argument
// when a list is not ascending or chunk_tokens is 0.
std::vector<std::size_t> checkpoint_boundaries(const boundary_input& in);

// The smallest distance past anchor p at which the rule keeps a message start.
std::size_t boundary_gap(std::size_t p, std::size_t chunk_tokens);

}  // namespace slotcache
