#include "cache/radix_tree.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <queue>
#include <unordered_map>

namespace slotcache {
namespace {

using tree_node = radix_tree::node;

// Length of the common run of a and b (n tokens at most). memcmp over blocks first: glibc's is
// vectorised, and long runs (a 128k-token prompt) are the case that matters.
std::size_t common_run(const token_id* a, const token_id* b, std::size_t n) {
  constexpr std::size_t block = 64;
  std::size_t i = 0;
  while (i + block <= n && std::memcmp(a + i, b + i, block * sizeof(token_id)) == 0) i += block;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

// Children keyed by the first token of their edge: a sorted vector (binary search) while the node
// is narrow, which is the common case and costs 16 bytes per child; a hash map once it is wide, so
// that neither lookup nor insertion is linear in the number of children.
class child_map {
 public:
  tree_node* find(token_id t) const {
    if (wide_) {
      auto it = wide_->find(t);
      return it == wide_->end() ? nullptr : it->second.get();
    }
    auto it = std::lower_bound(sorted_.begin(), sorted_.end(), t, key_less);
    return it != sorted_.end() && it->first == t ? it->second.get() : nullptr;
  }

  // The owning pointer of an existing child, so that it can be replaced in place.
  std::unique_ptr<tree_node>& slot(token_id t) {
    if (wide_) return wide_->find(t)->second;
    return std::lower_bound(sorted_.begin(), sorted_.end(), t, key_less)->second;
  }

  void add(token_id t, std::unique_ptr<tree_node> child) {
    if (wide_) {
      wide_->emplace(t, std::move(child));
      return;
    }
    sorted_.emplace(std::lower_bound(sorted_.begin(), sorted_.end(), t, key_less), t, std::move(child));
    if (sorted_.size() > narrow_limit) {
      wide_ = std::make_unique<std::unordered_map<token_id, std::unique_ptr<tree_node>>>();
      wide_->reserve(sorted_.size() * 2);
      for (auto& [k, v] : sorted_) wide_->emplace(k, std::move(v));
      std::vector<std::pair<token_id, std::unique_ptr<tree_node>>>().swap(sorted_);
    }
  }

  std::unique_ptr<tree_node> take(token_id t) {
    std::unique_ptr<tree_node> out;
    if (wide_) {
      auto it = wide_->find(t);
      out = std::move(it->second);
      wide_->erase(it);
    } else {
      auto it = std::lower_bound(sorted_.begin(), sorted_.end(), t, key_less);
      out = std::move(it->second);
      sorted_.erase(it);
    }
    return out;
  }

  std::size_t size() const { return wide_ ? wide_->size() : sorted_.size(); }
  bool empty() const { return size() == 0; }

  std::unique_ptr<tree_node> take_only() {
    assert(size() == 1);
    token_id t = wide_ ? wide_->begin()->first : sorted_.front().first;
    return take(t);
  }

  template <class F>
  void for_each(F&& f) const {
    if (wide_) {
      for (auto& [k, v] : *wide_) f(k, v.get());
    } else {
      for (auto& [k, v] : sorted_) f(k, v.get());
    }
  }

  void drain(std::vector<std::unique_ptr<tree_node>>& out) {
    if (wide_) {
      for (auto& [k, v] : *wide_) out.push_back(std::move(v));
      wide_.reset();
    }
    for (auto& [k, v] : sorted_) out.push_back(std::move(v));
    sorted_.clear();
  }

 private:
  static constexpr std::size_t narrow_limit = 16;

  static bool key_less(const std::pair<token_id, std::unique_ptr<tree_node>>& e, token_id t) { return e.first < t; }

  std::vector<std::pair<token_id, std::unique_ptr<tree_node>>> sorted_;
  std::unique_ptr<std::unordered_map<token_id, std::unique_ptr<tree_node>>> wide_;
};

}  // namespace

class radix_tree::node {
 public:
  std::vector<token_id> edge;  // tokens from the parent to here; empty only for the root
  node* parent = nullptr;
  child_map children;
  std::optional<checkpoint> value;
  std::uint32_t depth = 0;      // key length at the end of the edge
  std::uint32_t locks = 0;      // locks held on this node or any node below it
  std::uint32_t own_locks = 0;  // locks held on this node itself
};

radix_tree::radix_tree() : root_(std::make_unique<node>()) {}

radix_tree::~radix_tree() {
  // Iterative teardown: a chain of nested entries can be deeper than the stack allows to recurse.
  std::vector<std::unique_ptr<node>> pending;
  root_->children.drain(pending);
  while (!pending.empty()) {
    std::unique_ptr<node> n = std::move(pending.back());
    pending.pop_back();
    n->children.drain(pending);
  }
}

radix_tree::match radix_tree::longest_prefix(token_span tokens, std::size_t max_len) const {
  return longest_prefix(tokens, max_len, accept_fn{});
}

radix_tree::match radix_tree::longest_prefix(token_span tokens, std::size_t max_len, const accept_fn& accept) const {
  match m;
  const node* cur = root_.get();
  std::size_t depth = 0;
  while (depth < tokens.size()) {
    const node* child = cur->children.find(tokens[depth]);
    if (!child) break;
    const std::size_t n = std::min(child->edge.size(), tokens.size() - depth);
    const std::size_t same = common_run(child->edge.data(), tokens.data() + depth, n);
    depth += same;
    if (same < child->edge.size()) break;
    cur = child;
    if (cur->value && depth <= max_len && (!accept || accept(*cur->value))) {
      m.entry = const_cast<node*>(cur);
      m.entry_len = depth;
    }
  }
  m.common_len = depth;
  return m;
}

radix_tree::node* radix_tree::find(token_span key) const {
  match m = longest_prefix(key, key.size());
  return m.entry && m.entry_len == key.size() ? m.entry : nullptr;
}

std::pair<radix_tree::node*, bool> radix_tree::insert(token_span key, const checkpoint& cp) {
  if (key.empty()) return {nullptr, false};
  node* cur = root_.get();
  std::size_t depth = 0;
  for (;;) {
    if (depth == key.size()) {
      if (cur->value) return {cur, false};
      cur->value = cp;
      cur->value->n_tokens = static_cast<std::uint32_t>(key.size());
      ++entries_;
      return {cur, true};
    }
    node* child = cur->children.find(key[depth]);
    if (!child) {
      auto leaf = std::make_unique<node>();
      leaf->edge.assign(key.begin() + static_cast<std::ptrdiff_t>(depth), key.end());
      leaf->parent = cur;
      leaf->depth = static_cast<std::uint32_t>(key.size());
      leaf->value = cp;
      leaf->value->n_tokens = static_cast<std::uint32_t>(key.size());
      node* raw = leaf.get();
      if (cur->children.empty()) leaves_.erase(cur);  // cur (if an entry) stops being a leaf
      cur->children.add(key[depth], std::move(leaf));
      leaves_.insert(raw);
      ++entries_;
      ++nodes_;
      return {raw, true};
    }
    const std::size_t n = std::min(child->edge.size(), key.size() - depth);
    const std::size_t same = common_run(child->edge.data(), key.data() + depth, n);
    if (same == child->edge.size()) {
      cur = child;
      depth += same;
      continue;
    }
    // The key leaves (or ends inside) the child's edge: split the edge with a new node holding
    // the shared part. The child keeps its address, which entry handles rely on.
    auto mid = std::make_unique<node>();
    node* m = mid.get();
    m->edge.assign(child->edge.begin(), child->edge.begin() + static_cast<std::ptrdiff_t>(same));
    m->parent = cur;
    m->depth = static_cast<std::uint32_t>(depth + same);
    m->locks = child->locks;
    std::unique_ptr<node>& slot = cur->children.slot(key[depth]);
    std::unique_ptr<node> lower = std::move(slot);
    slot = std::move(mid);
    std::vector<token_id> tail(lower->edge.begin() + static_cast<std::ptrdiff_t>(same), lower->edge.end());
    lower->edge.swap(tail);
    lower->parent = m;
    const token_id first = lower->edge.front();
    m->children.add(first, std::move(lower));
    ++nodes_;
    cur = m;
    depth += same;
  }
}

bool radix_tree::erase(node* entry) {
  if (!entry || !entry->value || entry->own_locks > 0) return false;
  entry->value.reset();
  --entries_;
  if (entry->children.empty()) {
    remove_node(entry);
  } else if (entry->children.size() == 1) {
    merge_into_only_child(entry);
  }
  return true;
}

void radix_tree::remove_node(node* n) {
  node* parent = n->parent;
  leaves_.erase(n);
  parent->children.take(n->edge.front());
  --nodes_;
  if (parent->value && parent->children.empty()) leaves_.insert(parent);
  if (parent != root_.get() && !parent->value && parent->children.size() == 1) merge_into_only_child(parent);
}

void radix_tree::merge_into_only_child(node* n) {
  node* parent = n->parent;
  std::unique_ptr<node> child = n->children.take_only();
  std::vector<token_id> edge;
  edge.reserve(n->edge.size() + child->edge.size());
  edge.insert(edge.end(), n->edge.begin(), n->edge.end());
  edge.insert(edge.end(), child->edge.begin(), child->edge.end());
  child->edge.swap(edge);
  child->parent = parent;
  parent->children.slot(child->edge.front()) = std::move(child);  // destroys n
  --nodes_;
}

std::vector<checkpoint> radix_tree::erase_prefix(token_span prefix) {
  node* top = prefix.empty() ? root_.get() : nullptr;
  node* cur = root_.get();
  std::size_t depth = 0;
  while (!top) {
    node* child = cur->children.find(prefix[depth]);
    if (!child) return {};
    const std::size_t n = std::min(child->edge.size(), prefix.size() - depth);
    const std::size_t same = common_run(child->edge.data(), prefix.data() + depth, n);
    if (same < n) return {};
    depth += same;
    if (depth == prefix.size()) top = child;
    cur = child;
  }
  std::vector<node*> found;
  std::vector<node*> stack{top};
  while (!stack.empty()) {
    node* n = stack.back();
    stack.pop_back();
    if (n->value) found.push_back(n);
    n->children.for_each([&](token_id, node* c) { stack.push_back(c); });
  }
  // Erasing deletes only pass-through nodes and the erased entry itself, so the other handles
  // collected above stay valid.
  std::vector<checkpoint> erased;
  for (node* n : found) {
    checkpoint cp = *n->value;
    if (erase(n)) erased.push_back(cp);
  }
  return erased;
}

void radix_tree::lock(node* entry) {
  assert(entry && entry->value);
  ++entry->own_locks;
  for (node* n = entry; n; n = n->parent) ++n->locks;
}

void radix_tree::unlock(node* entry) {
  assert(entry && entry->own_locks > 0);
  --entry->own_locks;
  for (node* n = entry; n; n = n->parent) --n->locks;
}

std::vector<checkpoint> radix_tree::evict(const priority_fn& priority, std::uint64_t bytes, std::size_t entries) {
  std::vector<checkpoint> evicted;
  if (bytes == 0 && entries == 0) return evicted;

  struct candidate {
    double priority;
    clock::time_point last_used;
    hash128 id;
    node* n;
    // std::priority_queue keeps the greatest on top; "greater" here means "evicted first".
    bool operator<(const candidate& o) const {
      if (priority != o.priority) return priority > o.priority;
      if (last_used != o.last_used) return last_used > o.last_used;
      return id > o.id;
    }
  };
  auto make = [&](node* n) { return candidate{priority(*n->value), n->value->last_used, n->value->id, n}; };
  auto evictable = [](const node* n) { return n->value && n->children.empty() && n->locks == 0; };

  std::vector<candidate> initial;
  for (node* n : leaves_) {
    if (evictable(n)) initial.push_back(make(n));
  }
  std::priority_queue<candidate> heap(std::less<candidate>{}, std::move(initial));

  std::uint64_t freed_bytes = 0;
  std::size_t freed_entries = 0;
  while ((freed_bytes < bytes || freed_entries < entries) && !heap.empty()) {
    node* victim = heap.top().n;
    heap.pop();
    node* parent = victim->parent;
    const bool parent_is_entry = parent->value.has_value();
    evicted.push_back(*victim->value);
    freed_bytes += victim->value->bytes;
    ++freed_entries;
    erase(victim);
    // An entry parent is never merged away, so `parent` is still valid here.
    if (parent_is_entry && evictable(parent)) heap.push(make(parent));
  }
  return evicted;
}

void radix_tree::for_each(const std::function<void(node*, checkpoint&)>& visit) {
  std::vector<node*> stack{root_.get()};
  while (!stack.empty()) {
    node* n = stack.back();
    stack.pop_back();
    if (n->value) visit(n, *n->value);
    n->children.for_each([&](token_id, node* c) { stack.push_back(c); });
  }
}

void radix_tree::for_each(const std::function<void(const node*, const checkpoint&)>& visit) const {
  const_cast<radix_tree*>(this)->for_each([&](node* n, checkpoint& cp) { visit(n, cp); });
}

std::size_t radix_tree::stored_tokens() const {
  std::size_t tokens = 0;
  std::vector<const node*> stack{root_.get()};
  while (!stack.empty()) {
    const node* n = stack.back();
    stack.pop_back();
    tokens += n->edge.size();
    n->children.for_each([&](token_id, node* c) { stack.push_back(c); });
  }
  return tokens;
}

std::vector<token_id> radix_tree::key_of(const node* entry) const {
  std::vector<const node*> path;
  for (const node* n = entry; n && n->parent; n = n->parent) path.push_back(n);
  std::vector<token_id> key;
  key.reserve(entry ? entry->depth : 0);
  for (auto it = path.rbegin(); it != path.rend(); ++it) key.insert(key.end(), (*it)->edge.begin(), (*it)->edge.end());
  return key;
}

checkpoint* radix_tree::value(node* n) { return n && n->value ? &*n->value : nullptr; }
const checkpoint* radix_tree::value(const node* n) { return n && n->value ? &*n->value : nullptr; }
bool radix_tree::is_locked(const node* n) { return n->own_locks > 0; }
bool radix_tree::is_leaf(const node* n) { return n->children.empty(); }

std::optional<std::string> radix_tree::find_defect() const {
  const node* root = root_.get();
  if (!root->edge.empty() || root->parent || root->value || root->depth != 0) return "root carries an edge, parent or value";
  std::size_t entries = 0;
  std::size_t nodes = 0;
  std::size_t leaves = 0;
  std::vector<const node*> stack{root};
  while (!stack.empty()) {
    const node* n = stack.back();
    stack.pop_back();
    ++nodes;
    if (n->value) ++entries;
    std::uint64_t child_locks = 0;
    std::optional<std::string> defect;
    n->children.for_each([&](token_id key, node* c) {
      child_locks += c->locks;
      stack.push_back(c);
      if (defect) return;
      if (c->edge.empty()) defect = "empty edge below the root";
      else if (c->edge.front() != key) defect = "child filed under a token other than its edge's first";
      else if (c->parent != n) defect = "parent link does not point at the parent";
      else if (c->depth != n->depth + c->edge.size()) defect = "depth is not parent depth + edge length";
    });
    if (defect) return defect;
    if (n->locks != n->own_locks + child_locks) return "lock count is not own locks + children's";
    if (n != root && !n->value && n->children.size() < 2) return "pass-through node with fewer than two children";
    if (n->value && n->value->n_tokens != n->depth) return "checkpoint length differs from key length";
    const bool leaf = n->value && n->children.empty();
    if (leaf != leaves_.contains(const_cast<node*>(n))) return "leaf set disagrees with the tree";
    leaves += leaf;
  }
  if (leaves != leaves_.size()) return "leaf set holds nodes that are not in the tree";
  if (entries != entries_) return "entry count is off";
  if (nodes != nodes_) return "node count is off";
  return std::nullopt;
}

}  // namespace slotcache
