#include "backend/slot_table.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace slotcache {
namespace {

std::size_t common_prefix(const shared_tokens& held, token_span prompt) {
  if (!held) return 0;
  const std::size_t n = std::min(held->size(), prompt.size());
  auto [a, b] = std::mismatch(held->begin(), held->begin() + static_cast<std::ptrdiff_t>(n), prompt.begin());
  return static_cast<std::size_t>(a - held->begin());
}

}  // namespace

std::string_view to_string(slot_error e) {
  switch (e) {
    case slot_error::invalid_slot: return "invalid_slot";
    case slot_error::queue_full: return "queue_full";
    case slot_error::timeout: return "timeout";
    case slot_error::cancelled: return "cancelled";
    case slot_error::shutting_down: return "shutting_down";
  }
  return "unknown";
}

shared_tokens make_tokens(std::vector<token_id> tokens) {
  return std::make_shared<const std::vector<token_id>>(std::move(tokens));
}

slot_table::slot_table(options opts, const clock& clk) : options_(opts), clock_(clk) {
  if (opts.n_slots <= 0) throw std::invalid_argument("slot_table: n_slots must be positive");
  slots_.resize(static_cast<std::size_t>(opts.n_slots));
}

slot_table::slot_state& slot_table::at(int slot) {
  if (slot < 0 || slot >= size()) throw std::out_of_range("slot_table: no slot " + std::to_string(slot));
  return slots_[static_cast<std::size_t>(slot)];
}

const slot_table::slot_state& slot_table::at(int slot) const {
  return const_cast<slot_table*>(this)->at(slot);
}

slot_grant slot_table::lease(int slot, token_span prompt) {
  slot_state& s = at(slot);
  s.leased = true;
  s.lease_generation = generation_;
  s.leased_at = clock_.now();
  ++counters_.grants;
  slot_grant g;
  g.slot = slot;
  g.held = s.held;
  g.common_prefix = common_prefix(s.held, prompt);
  g.extends = s.held && g.common_prefix == s.held->size();
  return g;
}

acquire_decision slot_table::try_acquire(token_span prompt, std::optional<int> wanted) {
  if (wanted) {
    if (*wanted < 0 || *wanted >= size()) {
      ++counters_.invalid_slot;
      return slot_error::invalid_slot;
    }
    if (at(*wanted).leased) return must_wait{};
    return lease(*wanted, prompt);
  }
  int best = -1;
  std::size_t best_common = 0;
  bool best_loses_nothing = false;
  for (int i = 0; i < size(); ++i) {
    const slot_state& s = slots_[static_cast<std::size_t>(i)];
    if (s.leased) continue;
    std::size_t common = common_prefix(s.held, prompt);
    // A BOS and a template header are shared by every prompt: such a match is no reason to
    // overwrite what a slot holds.
    if (common < options_.useful_prefix) common = 0;
    // Empty, unknown or extended by the prompt: taking the slot destroys nothing worth keeping.
    const bool loses_nothing = !s.held || s.held->empty() || common_prefix(s.held, prompt) == s.held->size();
    // Better prefix; or as good and losing nothing where the best loses something; or as good on
    // both and released longer ago. Ids ascend, so equal ages keep the lowest id.
    const bool better =
        best < 0 || common > best_common ||
        (common == best_common && loses_nothing && !best_loses_nothing) ||
        (common == best_common && loses_nothing == best_loses_nothing &&
         s.released_seq < slots_[static_cast<std::size_t>(best)].released_seq);
    if (better) {
      best = i;
      best_common = common;
      best_loses_nothing = loses_nothing;
    }
  }
  if (best < 0) return must_wait{};
  return lease(best, prompt);
}

bool slot_table::enqueue(std::uint64_t waiter, token_span prompt, std::optional<int> wanted) {
  if (queued_.count(waiter)) throw std::logic_error("slot_table: waiter queued twice");
  if (wanted) {
    if (*wanted < 0 || *wanted >= size()) throw std::logic_error("slot_table: waiter for an invalid slot");
    if (!at(*wanted).leased) throw std::logic_error("slot_table: waiter for a free slot");
  } else if (std::any_of(slots_.begin(), slots_.end(), [](const slot_state& s) { return !s.leased; })) {
    throw std::logic_error("slot_table: waiter while a slot is free");
  }
  if (queue_.size() >= options_.max_waiters) {
    ++counters_.queue_full;
    return false;
  }
  queue_.push_back(waiter_entry{waiter, prompt, wanted});
  queued_.emplace(waiter, std::prev(queue_.end()));
  ++counters_.waits;
  return true;
}

bool slot_table::cancel(std::uint64_t waiter, wait_end why) {
  auto it = queued_.find(waiter);
  if (it == queued_.end()) return false;
  queue_.erase(it->second);
  queued_.erase(it);
  ++(why == wait_end::timeout ? counters_.timeouts : counters_.cancellations);
  return true;
}

std::optional<slot_handoff> slot_table::hand_over(int slot) {
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (it->wanted && *it->wanted != slot) continue;
    slot_handoff h{it->id, lease(slot, it->prompt)};
    queued_.erase(it->id);
    queue_.erase(it);
    return h;
  }
  return std::nullopt;
}

std::optional<slot_handoff> slot_table::release(int slot, shared_tokens now_held) {
  slot_state& s = at(slot);
  if (!s.leased) throw std::logic_error("slot_table: release of a free slot " + std::to_string(slot));
  s.held = s.lease_generation == generation_ ? std::move(now_held) : nullptr;
  s.leased = false;
  s.released_seq = ++release_seq_;
  s.released_at = clock_.now();
  return hand_over(slot);
}

std::optional<slot_handoff> slot_table::give_back(int slot) {
  slot_state& s = at(slot);
  if (!s.leased) throw std::logic_error("slot_table: give_back of a free slot " + std::to_string(slot));
  s.leased = false;
  return hand_over(slot);
}

void slot_table::set_tokens(int slot, shared_tokens held) { at(slot).held = std::move(held); }

void slot_table::mark_all_unknown() {
  ++generation_;
  for (auto& s : slots_) s.held = nullptr;
}

std::vector<std::uint64_t> slot_table::drain_waiters() {
  std::vector<std::uint64_t> ids;
  ids.reserve(queue_.size());
  for (const auto& w : queue_) ids.push_back(w.id);
  queue_.clear();
  queued_.clear();
  counters_.shut_down += ids.size();
  return ids;
}

slot_table_snapshot slot_table::snapshot() const {
  slot_table_snapshot snap;
  const auto now = clock_.now();
  snap.slots.reserve(slots_.size());
  for (int i = 0; i < size(); ++i) {
    const slot_state& s = slots_[static_cast<std::size_t>(i)];
    slot_view v;
    v.id = i;
    if (s.held) v.n_tokens = s.held->size();
    v.leased = s.leased;
    if (s.leased) v.lease_age = std::max(clock::duration::zero(), now - s.leased_at);
    if (!s.leased && s.released_seq) v.idle_age = std::max(clock::duration::zero(), now - s.released_at);
    snap.slots.push_back(v);
  }
  snap.waiting = queue_.size();
  snap.counters = counters_;
  return snap;
}

}  // namespace slotcache
