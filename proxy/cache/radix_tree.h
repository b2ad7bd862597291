#pragma once

// Token-prefix index of checkpoints. Keys are token sequences; shared prefixes are stored once.
//
//   keys: "abcd"  "abxy"  "abxyz"  "q"          (letters stand for tokens)
//
//                    (root)
//                   /      \        [..]  an edge: a compressed run of tokens
//               [a b]       [q]*      *   the node carries a checkpoint (it is an entry)
//              /     \                    every leaf is an entry; every other node but the
//          [c d]*    [x y]*               root has two or more children
//                      |
//                    [z]*
//
// - Children are found by the first token of their edge: a sorted vector while a node is narrow,
//   a hash map once it is wide, so descending never scans all children.
// - Every leaf is an entry, and every node that is not an entry (the root aside) has at least two
//   children: at most 2 × entries nodes. Erasing merges a pass-through node into its only child.
// - Entry nodes keep their address until they are erased, so a node* is a stable entry handle.
// - lock(n) adds one to n's count and to every ancestor's (as SGLang's radix cache does): an entry
//   being restored and the prefixes it extends are never evicted. Eviction takes only unlocked
//   leaves (entries with no entry below them), lowest priority first.
// - Lookups and inserts cost O(tokens compared + depth), independent of the number of entries.
//
// Not thread-safe: the owner (checkpoint_store) serialises access.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "cache/checkpoint.h"
#include "cache/tokens.h"

namespace slotcache {

class radix_tree {
 public:
  class node;

  struct match {
    node* entry = nullptr;        // deepest accepted entry whose key prefixes the tokens, within max_len
    std::size_t entry_len = 0;    // its key length
    std::size_t common_len = 0;   // longest common prefix of the tokens with any key in the tree
  };

  // Lower is evicted first.
  using priority_fn = std::function<double(const checkpoint&)>;
  using accept_fn = std::function<bool(const checkpoint&)>;

  radix_tree();
  ~radix_tree();
  radix_tree(const radix_tree&) = delete;
  radix_tree& operator=(const radix_tree&) = delete;

  match longest_prefix(token_span tokens, std::size_t max_len) const;
  // Entries for which accept returns false are passed over (their descendants are still seen).
  match longest_prefix(token_span tokens, std::size_t max_len, const accept_fn& accept) const;

  // The entry whose key is exactly `key`, or null.
  node* find(token_span key) const;

  // Adds an entry (cp.n_tokens is set to key.size()). If `key` already is an entry, that one is
  // returned unchanged with false. An empty key is not an entry: returns {nullptr, false}.
  std::pair<node*, bool> insert(token_span key, const checkpoint& cp);

  // Removes an entry. Refused (false) while the entry itself is locked; locks held below it do not
  // prevent it.
  bool erase(node* entry);

  // Removes every unlocked entry whose key starts with `prefix` and returns them.
  std::vector<checkpoint> erase_prefix(token_span prefix);

  void lock(node* entry);
  void unlock(node* entry);

  // Removes unlocked leaves, lowest priority first (ties: least recently used, then lowest id),
  // until at least `bytes` and `entries` have been freed or nothing evictable is left. A parent
  // entry whose last child goes becomes a leaf and a candidate in turn. Returns the evicted, in
  // order. Cost O(leaves) to rank the candidates (leaves are tracked as they come and go) plus
  // O(log leaves) per eviction.
  std::vector<checkpoint> evict(const priority_fn& priority, std::uint64_t bytes, std::size_t entries);

  // Every entry, parents before children.
  void for_each(const std::function<void(node*, checkpoint&)>& visit);
  void for_each(const std::function<void(const node*, const checkpoint&)>& visit) const;

  std::size_t size() const { return entries_; }
  std::size_t node_count() const { return nodes_; }
  // Tokens held in edges (each shared prefix once), for memory reports. O(nodes).
  std::size_t stored_tokens() const;

  std::vector<token_id> key_of(const node* entry) const;

  static checkpoint* value(node* n);
  static const checkpoint* value(const node* n);
  static bool is_locked(const node* n);  // held itself (not just through a descendant)
  static bool is_leaf(const node* n);

  // Structural self-check (edges, child keys, parent links, lock sums, the 2-children rule):
  // a description of the first defect found, or nullopt. For tests and debugging.
  std::optional<std::string> find_defect() const;

 private:
  void remove_node(node* n);
  void merge_into_only_child(node* n);

  std::unique_ptr<node> root_;
  std::unordered_set<node*> leaves_;  // entries without children: the eviction candidates
  std::size_t entries_ = 0;
  std::size_t nodes_ = 1;
};

}  // namespace slotcache
