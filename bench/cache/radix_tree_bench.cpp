// Radix tree figures: insert and lookup cost for 10,000 entries sharing prefixes of a
// 128k-token conversation, and memory per entry. Prints; asserts nothing.
//
//   bench_radix_tree [entries=10000] [prompt_tokens=131072]

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "cache/radix_tree.h"

using namespace slotcache;
using bench_clock = std::chrono::steady_clock;

namespace {

double us_since(bench_clock::time_point start) {
  return std::chrono::duration<double, std::micro>(bench_clock::now() - start).count();
}

std::size_t heap_in_use() { return mallinfo2().uordblks; }

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n_entries = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 10000;
  const std::size_t prompt_len = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 131072;
  const std::size_t n_branches = 100;
  const std::size_t per_branch = (n_entries + n_branches - 1) / n_branches;

  // One base conversation; each branch follows it up to a random point, then goes its own way,
  // like many chats sharing a system prompt and some history.
  std::mt19937 rng(42);
  std::uniform_int_distribution<token_id> vocab(0, 31999);
  std::vector<token_id> base(prompt_len);
  for (auto& t : base) t = vocab(rng);
  std::vector<std::vector<token_id>> branches(n_branches, base);
  for (std::size_t b = 0; b < n_branches; ++b) {
    const std::size_t diverge = std::uniform_int_distribution<std::size_t>(0, prompt_len - 1)(rng);
    for (std::size_t i = diverge; i < prompt_len; ++i) branches[b][i] = vocab(rng);
  }
  // Entries at evenly spaced lengths along each branch (offset per branch, so keys are distinct).
  struct key_ref {
    std::size_t branch;
    std::size_t len;
  };
  std::vector<key_ref> keys;
  for (std::size_t b = 0; b < n_branches && keys.size() < n_entries; ++b) {
    for (std::size_t i = 0; i < per_branch && keys.size() < n_entries; ++i) {
      keys.push_back({b, std::min(prompt_len, (i + 1) * (prompt_len / per_branch) - b)});
    }
  }
  std::shuffle(keys.begin(), keys.end(), rng);
  std::uint64_t key_tokens = 0;
  for (auto& k : keys) key_tokens += k.len;

  malloc_trim(0);
  const std::size_t heap_before = heap_in_use();
  auto tree = std::make_unique<radix_tree>();
  auto start = bench_clock::now();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    checkpoint cp;
    cp.id = {0, i + 1};
    cp.bytes = 1 << 20;
    tree->insert(token_span(branches[keys[i].branch]).first(keys[i].len), cp);
  }
  const double insert_us = us_since(start);
  const std::size_t heap_after = heap_in_use();
  const std::size_t n_indexed = tree->size();
  const std::size_t tree_bytes = heap_after - heap_before;

  // Lookups: the full 128k-token prompt of a random branch (the pipeline's max_len = size - 1),
  // which walks every token and every entry along the branch.
  const int rounds = 2000;
  std::size_t sink = 0;
  start = bench_clock::now();
  for (int r = 0; r < rounds; ++r) {
    const auto& prompt = branches[static_cast<std::size_t>(r) % n_branches];
    const auto m = tree->longest_prefix(prompt, prompt.size() - 1);
    sink += m.entry_len + m.common_len;
  }
  const double lookup_us = us_since(start) / rounds;

  // A prompt that shares only the first 1000 tokens with anything indexed.
  std::vector<token_id> stranger(base.begin(), base.begin() + 1000);
  for (std::size_t i = 0; i < prompt_len - 1000; ++i) stranger.push_back(vocab(rng));
  start = bench_clock::now();
  for (int r = 0; r < rounds; ++r) sink += tree->longest_prefix(stranger, stranger.size() - 1).common_len;
  const double miss_us = us_since(start) / rounds;

  // Lock/unlock of a deep entry (walks to the root).
  const auto deep = tree->longest_prefix(branches[0], prompt_len - 1).entry;
  start = bench_clock::now();
  for (int r = 0; r < rounds; ++r) {
    tree->lock(deep);
    tree->unlock(deep);
  }
  const double lock_us = us_since(start) / rounds;

  // One eviction round among all entries (finds candidates by a full scan).
  start = bench_clock::now();
  auto evicted = tree->evict([](const checkpoint& cp) { return static_cast<double>(cp.id.lo % 977); }, 1, 0);
  const double evict_us = us_since(start);

  std::printf("radix tree: %zu entries on %zu branches of a %zu-token conversation (%.1f M key tokens, %zu nodes)\n",
              n_indexed, n_branches, prompt_len, key_tokens / 1e6, tree->node_count());
  std::printf("  insert: %.1f us per entry (%.2f s total)\n", insert_us / static_cast<double>(keys.size()),
              insert_us / 1e6);
  std::printf("  lookup, %zu-token prompt, hit deep in its branch: %.1f us\n", prompt_len, lookup_us);
  std::printf("  lookup, %zu-token prompt, diverging after 1000 tokens: %.1f us\n", prompt_len, miss_us);
  std::printf("  lock + unlock of a deep entry: %.2f us\n", lock_us);
  std::printf("  evict one of %zu entries: %.0f us\n", n_indexed, evict_us);
  const std::size_t stored = tree->stored_tokens();
  const double overhead = (static_cast<double>(tree_bytes) - 4.0 * static_cast<double>(stored)) /
                          static_cast<double>(keys.size());
  std::printf("  memory: %.1f MiB in the tree, %.0f bytes per entry, of which %.0f besides token storage\n"
              "          (shared prefixes stored once: %.2f M tokens stored for %.1f M in the keys)\n",
              tree_bytes / 1048576.0, static_cast<double>(tree_bytes) / static_cast<double>(keys.size()), overhead,
              stored / 1e6, key_tokens / 1e6);
  std::printf("(checksum %zu)\n", sink);
  return 0;
}
