#include "cache/checkpoint_store.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include <unistd.h>

#include <fmt/format.h>

#include "cache/cache_file_names.h"
#include "cache/directory_scan.h"
#include "cache/slot_file.h"

namespace slotcache {

std::string_view to_string(store_error e) {
  switch (e) {
    case store_error::empty_prefix: return "empty prefix";
    case store_error::already_indexed: return "already indexed";
    case store_error::busy: return "being saved or deleted";
    case store_error::ticket_mismatch: return "tokens differ from the ticket's";
    case store_error::nothing_written: return "backend wrote nothing";
    case store_error::file_missing: return "slot file missing";
    case store_error::size_mismatch: return "slot file size differs from n_written";
    case store_error::bad_header: return "bad slot file header";
    case store_error::tokens_mismatch: return "slot file holds other tokens";
    case store_error::too_large: return "larger than the cache budget";
    case store_error::io_error: return "I/O error";
  }
  return "unknown";
}

// ---- checkpoint_lease -------------------------------------------------------------------------

checkpoint_lease::checkpoint_lease(checkpoint_store* store, radix_tree::node* node, const hash128& id,
                                   std::uint32_t n_tokens)
    : store_(store), node_(node), id_(id), n_tokens_(n_tokens), file_name_(slot_file_name(id)) {}

checkpoint_lease::checkpoint_lease(checkpoint_lease&& other) noexcept
    : store_(std::exchange(other.store_, nullptr)),
      node_(other.node_),
      id_(other.id_),
      n_tokens_(other.n_tokens_),
      file_name_(std::move(other.file_name_)) {}

checkpoint_lease& checkpoint_lease::operator=(checkpoint_lease&& other) noexcept {
  if (this != &other) {
    release();
    store_ = std::exchange(other.store_, nullptr);
    node_ = other.node_;
    id_ = other.id_;
    n_tokens_ = other.n_tokens_;
    file_name_ = std::move(other.file_name_);
  }
  return *this;
}

checkpoint_lease::~checkpoint_lease() { release(); }

void checkpoint_lease::record_hit() {
  if (store_) store_->record_hit(node_);
}

void checkpoint_lease::discard() {
  if (store_) std::exchange(store_, nullptr)->release(node_, id_, /*discard=*/true, /*lease=*/true);
}

void checkpoint_lease::release() {
  if (store_) std::exchange(store_, nullptr)->release(node_, id_, /*discard=*/false, /*lease=*/true);
}

// ---- save_ticket ------------------------------------------------------------------------------

save_ticket::save_ticket(checkpoint_store* store, const hash128& id)
    : store_(store), id_(id), file_name_(slot_file_name(id)) {}

save_ticket::save_ticket(save_ticket&& other) noexcept
    : store_(std::exchange(other.store_, nullptr)), id_(other.id_), file_name_(std::move(other.file_name_)) {}

save_ticket& save_ticket::operator=(save_ticket&& other) noexcept {
  if (this != &other) {
    abandon();
    store_ = std::exchange(other.store_, nullptr);
    id_ = other.id_;
    file_name_ = std::move(other.file_name_);
  }
  return *this;
}

save_ticket::~save_ticket() { abandon(); }

void save_ticket::abandon() {
  if (store_) std::exchange(store_, nullptr)->abandon(id_);
}

// ---- checkpoint_store -------------------------------------------------------------------------

checkpoint_store::checkpoint_store(store_options options, std::string fingerprint_id, const clock& clk, file_ops& fs)
    : options_(std::move(options)), fingerprint_(std::move(fingerprint_id)), clock_(clk), fs_(fs) {}

checkpoint_store::~checkpoint_store() {
  try {
    flush();
  } catch (...) {
    // Hit counts are advisory; losing them must not take the process down at shutdown.
  }
}

bool checkpoint_store::claim(const hash128& id) {
  std::lock_guard lock(mu_);
  if (by_id_.contains(id) || reserved_.contains(id)) return false;
  reserved_.insert(id);
  return true;
}

void checkpoint_store::unclaim(const hash128& id) {
  std::lock_guard lock(mu_);
  reserved_.erase(id);
}

radix_tree::node* checkpoint_store::index_locked(token_span tokens, const checkpoint& cp) {
  auto [n, added] = tree_.insert(tokens, cp);
  if (added) {
    by_id_.emplace(cp.id, n);
    bytes_ += cp.bytes;
  }
  return n;
}

// The entry leaves the index now; its files are deleted by the caller after unlocking, under a
// reservation so that nobody saves the same prefix into them meanwhile.
void checkpoint_store::unindex_locked(node* n) {
  const checkpoint cp = *radix_tree::value(n);
  tree_.erase(n);
  by_id_.erase(cp.id);
  dirty_.erase(cp.id);
  doomed_.erase(cp.id);
  bytes_ -= cp.bytes;
  reserved_.insert(cp.id);
}

std::vector<hash128> checkpoint_store::enforce_budget_locked(node* keep) {
  const std::uint64_t over_bytes = bytes_ > options_.max_bytes ? bytes_ - options_.max_bytes : 0;
  const std::size_t over_entries =
      options_.max_entries > 0 && by_id_.size() > options_.max_entries ? by_id_.size() - options_.max_entries : 0;
  if (over_bytes == 0 && over_entries == 0) return {};
  const auto now = clock_.now();
  if (keep) tree_.lock(keep);
  std::vector<checkpoint> victims = tree_.evict(
      [&](const checkpoint& cp) { return options_.policy.priority(cp, now); }, over_bytes, over_entries);
  if (keep) tree_.unlock(keep);
  std::vector<hash128> ids;
  ids.reserve(victims.size());
  for (const checkpoint& cp : victims) {
    by_id_.erase(cp.id);
    dirty_.erase(cp.id);
    bytes_ -= cp.bytes;
    reserved_.insert(cp.id);
    ids.push_back(cp.id);
  }
  evictions_ += victims.size();
  return ids;
}

// Sidecar first: if we stop half-way, a slot file without sidecar is what rebuild() cleans up.
void checkpoint_store::delete_checkpoint_files(const std::vector<hash128>& ids) {
  if (ids.empty()) return;
  std::uint64_t failures = 0;
  for (const hash128& id : ids) {
    for (const std::string& name : {sidecar_file_name(id), slot_file_name(id)}) {
      const std::error_code ec = fs_.remove(path_of(name));
      if (ec && !is_missing(ec)) ++failures;
    }
  }
  std::lock_guard lock(mu_);
  for (const hash128& id : ids) reserved_.erase(id);
  errors_ += failures;
}

std::error_code checkpoint_store::write_sidecar(const checkpoint& cp) {
  const std::string tag = fmt::format("{}-{}", ::getpid(), temp_seq_.fetch_add(1));
  const auto temp = path_of(temp_sidecar_file_name(cp.id, tag));
  if (auto ec = fs_.write_synced(temp, encode_sidecar({cp, fingerprint_}))) {
    fs_.remove(temp);
    return ec;
  }
  if (auto ec = fs_.rename(temp, path_of(sidecar_file_name(cp.id)))) {
    fs_.remove(temp);
    return ec;
  }
  return fs_.sync_dir(options_.dir);
}

checkpoint_info checkpoint_store::info_of(const node* n, const checkpoint& cp, clock::time_point now) const {
  return {to_hex(cp.id), slot_file_name(cp.id), cp.n_tokens, cp.bytes, cp.created, cp.last_used, cp.hits,
          radix_tree::is_locked(n), options_.policy.priority(cp, now)};
}

rebuild_report checkpoint_store::rebuild() {
  rebuild_report report;
  auto listing = list_cache_directory(fs_, options_.dir);
  if (!listing) {
    report.error = listing.error();
    return report;
  }
  report.other_files = listing->other_files;
  const auto now = clock_.now();
  auto expired = [&](const file_stat& st) {
    return options_.orphan_grace.count() == 0 || now - st.modified >= options_.orphan_grace;
  };

  for (const cache_file_group& g : listing->groups) {
    if (!claim(g.id)) continue;  // indexed already, or being written or deleted here right now
    auto problem = [&](const std::string& name, std::string_view reason, bool remove) {
      bool removed = false;
      if (remove) {
        const std::error_code ec = fs_.remove(path_of(name));
        removed = !ec || is_missing(ec);
      }
      report.problems.push_back({name, std::string(reason), removed});
    };

    for (const dir_entry& temp : g.temp_sidecars) {
      if (expired(temp.stat)) problem(temp.name, "interrupted sidecar write", true);
    }
    bool indexed = false;
    if (g.slot_file || g.sidecar) {
      inspection in = inspect_checkpoint(fs_, options_.dir, g, fingerprint_);
      const std::string slot = slot_file_name(g.id);
      const std::string side = sidecar_file_name(g.id);
      const std::string_view reason = to_string(in.state);
      switch (in.state) {
        case checkpoint_state::valid: {
          std::lock_guard lock(mu_);
          index_locked(in.tokens, in.meta.cp);
          reserved_.erase(g.id);
          indexed = true;
          ++report.indexed;
          report.indexed_bytes += in.meta.cp.bytes;
          break;
        }
        case checkpoint_state::other_fingerprint:
          ++report.foreign_entries;
          report.foreign_bytes += g.slot_file->size;
          break;
        case checkpoint_state::no_sidecar:
          if (expired(*g.slot_file)) {
            problem(slot, reason, true);
          } else {
            ++report.pending;
          }
          break;
        case checkpoint_state::no_slot_file:
          problem(side, reason, true);
          break;
        case checkpoint_state::unreadable:
          problem(g.slot_file ? slot : side, reason, false);
          break;
        case checkpoint_state::bad_sidecar:
        case checkpoint_state::size_mismatch:
        case checkpoint_state::bad_header:
        case checkpoint_state::tokens_mismatch:
          problem(side, reason, true);
          problem(slot, reason, true);
          break;
      }
    }
    if (!indexed) unclaim(g.id);
  }

  std::vector<hash128> victims;
  {
    std::lock_guard lock(mu_);
    foreign_entries_ = report.foreign_entries;
    foreign_bytes_ = report.foreign_bytes;
    victims = enforce_budget_locked(nullptr);
  }
  delete_checkpoint_files(victims);
  report.evicted = victims.size();
  return report;
}

checkpoint_store::lookup_result checkpoint_store::acquire_longest_prefix(token_span tokens, std::size_t max_len) {
  lookup_result out;
  std::lock_guard lock(mu_);
  const radix_tree::match m =
      doomed_.empty() ? tree_.longest_prefix(tokens, max_len)
                      : tree_.longest_prefix(tokens, max_len,
                                             [&](const checkpoint& cp) { return !doomed_.contains(cp.id); });
  out.common_len = m.common_len;
  if (m.entry) {
    const checkpoint& cp = *radix_tree::value(m.entry);
    tree_.lock(m.entry);
    ++leases_;
    out.lease.emplace(checkpoint_lease(this, m.entry, cp.id, cp.n_tokens));
  }
  return out;
}

void checkpoint_store::record_hit(node* n) {
  const auto now = clock_.now();
  std::lock_guard lock(mu_);
  checkpoint& cp = *radix_tree::value(n);
  ++cp.hits;
  cp.last_used = now;
  dirty_.insert(cp.id);
  ++hits_;
}

void checkpoint_store::release(node* n, const hash128& id, bool discard, bool lease) {
  bool remove = false;
  {
    std::lock_guard lock(mu_);
    tree_.unlock(n);
    if (lease) --leases_;
    if (discard && doomed_.insert(id).second) ++discards_;
    if (doomed_.contains(id) && !radix_tree::is_locked(n)) {
      unindex_locked(n);
      remove = true;
    }
  }
  if (remove) delete_checkpoint_files({id});
}

void checkpoint_store::abandon(const hash128& id) {
  const std::error_code ec = fs_.remove(path_of(slot_file_name(id)));
  std::lock_guard lock(mu_);
  reserved_.erase(id);
  if (ec && !is_missing(ec)) ++errors_;
}

result<save_ticket, store_error> checkpoint_store::reserve(token_span prefix) {
  if (prefix.empty()) return store_error::empty_prefix;
  const hash128 id = hash_prefix(fingerprint_, prefix);
  {
    std::lock_guard lock(mu_);
    if (by_id_.contains(id)) return store_error::already_indexed;
    if (reserved_.contains(id)) return store_error::busy;
    reserved_.insert(id);
  }

  // Another process sharing the directory may have committed this very checkpoint: adopt it
  // rather than have the backend overwrite a file that process may be restoring from.
  cache_file_group group{id, std::nullopt, std::nullopt, {}};
  file_stat st;
  if (!fs_.stat(path_of(sidecar_file_name(id)), st)) {
    group.sidecar = st;
    if (!fs_.stat(path_of(slot_file_name(id)), st)) group.slot_file = st;
    inspection in = inspect_checkpoint(fs_, options_.dir, group, fingerprint_);
    if (in.state == checkpoint_state::valid) {
      std::vector<hash128> victims;
      {
        std::lock_guard lock(mu_);
        index_locked(in.tokens, in.meta.cp);
        reserved_.erase(id);
        victims = enforce_budget_locked(nullptr);
      }
      delete_checkpoint_files(victims);
      return store_error::already_indexed;
    }
  }
  return save_ticket(this, id);
}

result<checkpoint_store::published, store_error> checkpoint_store::publish(save_ticket&& ticket, token_span prefix,
                                                                           std::uint64_t n_written) {
  save_ticket held = std::move(ticket);
  if (held.store_ != this) throw std::invalid_argument("publish: the ticket is not an active ticket of this store");
  const hash128 id = held.id_;
  held.store_ = nullptr;  // from here on this function owns the reservation and the file

  const auto slot_path = path_of(slot_file_name(id));
  auto fail = [&](store_error e) {
    // The sidecar may exist if only the directory sync failed; it goes first.
    fs_.remove(path_of(sidecar_file_name(id)));
    fs_.remove(slot_path);
    std::lock_guard lock(mu_);
    reserved_.erase(id);
    ++errors_;
    return e;
  };

  if (hash_prefix(fingerprint_, prefix) != id) return fail(store_error::ticket_mismatch);
  if (n_written == 0) return fail(store_error::nothing_written);
  file_stat st;
  if (auto ec = fs_.stat(slot_path, st)) return fail(is_missing(ec) ? store_error::file_missing : store_error::io_error);
  if (st.size != n_written) return fail(store_error::size_mismatch);
  if (st.size > options_.max_bytes) return fail(store_error::too_large);
  auto tokens = read_slot_tokens(fs_, slot_path, st.size);
  if (!tokens) {
    return fail(tokens.error() == slot_file_error::unreadable ? store_error::io_error : store_error::bad_header);
  }
  if (!std::equal(tokens->begin(), tokens->end(), prefix.begin(), prefix.end())) {
    return fail(store_error::tokens_mismatch);
  }
  // llama-server does not fsync; the sidecar must not become durable before the data it describes.
  if (fs_.sync(slot_path)) return fail(store_error::io_error);

  const auto now = clock_.now();
  checkpoint cp;
  cp.id = id;
  cp.n_tokens = static_cast<std::uint32_t>(prefix.size());
  cp.bytes = st.size;
  cp.created = now;
  cp.last_used = now;
  if (write_sidecar(cp)) return fail(store_error::io_error);

  published out;
  std::vector<hash128> victims;
  {
    std::lock_guard lock(mu_);
    node* n = index_locked(prefix, cp);
    reserved_.erase(id);
    ++publishes_;
    victims = enforce_budget_locked(n);
    out.entry = info_of(n, *radix_tree::value(n), now);
  }
  delete_checkpoint_files(victims);
  out.evicted = victims.size();
  return out;
}

erase_outcome checkpoint_store::erase(std::string_view id_hex) {
  const auto id = hash128_from_hex(id_hex);
  if (!id) return erase_outcome::not_found;
  {
    std::lock_guard lock(mu_);
    auto it = by_id_.find(*id);
    if (it == by_id_.end()) return erase_outcome::not_found;
    if (radix_tree::is_locked(it->second)) {
      doomed_.insert(*id);
      return erase_outcome::deferred;
    }
    unindex_locked(it->second);
  }
  delete_checkpoint_files({*id});
  return erase_outcome::erased;
}

clear_report checkpoint_store::clear(clear_scope scope) {
  clear_report report;
  std::vector<hash128> ids;
  {
    std::lock_guard lock(mu_);
    std::vector<node*> entries;
    entries.reserve(by_id_.size());
    for (auto& [id, n] : by_id_) entries.push_back(n);
    for (node* n : entries) {
      const hash128 id = radix_tree::value(n)->id;
      if (radix_tree::is_locked(n)) {
        doomed_.insert(id);
        ++report.deferred;
      } else {
        unindex_locked(n);
        ids.push_back(id);
        ++report.erased;
      }
    }
  }
  delete_checkpoint_files(ids);
  if (scope != clear_scope::all_ours) return report;

  auto listing = list_cache_directory(fs_, options_.dir);
  if (listing) {
    for (const cache_file_group& g : listing->groups) {
      if (!claim(g.id)) continue;  // in use here (deferred above) or being written
      std::vector<std::string> names;
      for (const dir_entry& temp : g.temp_sidecars) names.push_back(temp.name);
      if (g.sidecar) names.push_back(sidecar_file_name(g.id));
      if (g.slot_file) names.push_back(slot_file_name(g.id));
      for (const std::string& name : names) {
        const std::error_code ec = fs_.remove(path_of(name));
        if (!ec) ++report.files_removed;
      }
      unclaim(g.id);
    }
  }
  std::lock_guard lock(mu_);
  foreign_entries_ = 0;
  foreign_bytes_ = 0;
  return report;
}

list_page checkpoint_store::list(const list_query& query) const {
  std::vector<checkpoint_info> all;
  {
    const auto now = clock_.now();
    std::lock_guard lock(mu_);
    all.reserve(by_id_.size());
    tree_.for_each([&](const node* n, const checkpoint& cp) { all.push_back(info_of(n, cp, now)); });
  }
  auto key = [&](const checkpoint_info& e) -> double {
    switch (query.sort) {
      case sort_key::last_used: return std::chrono::duration<double>(e.last_used.time_since_epoch()).count();
      case sort_key::created: return std::chrono::duration<double>(e.created.time_since_epoch()).count();
      case sort_key::hits: return static_cast<double>(e.hits);
      case sort_key::bytes: return static_cast<double>(e.bytes);
      case sort_key::n_tokens: return e.n_tokens;
      case sort_key::priority: return e.priority;
    }
    return 0;
  };
  std::sort(all.begin(), all.end(), [&](const checkpoint_info& a, const checkpoint_info& b) {
    const double ka = key(a), kb = key(b);
    if (ka != kb) return query.descending ? ka > kb : ka < kb;
    return a.id < b.id;
  });
  list_page page;
  page.total = all.size();
  const std::size_t begin = std::min(query.offset, all.size());
  const std::size_t end = begin + std::min(query.limit, all.size() - begin);
  page.entries.assign(std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(begin)),
                      std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(end)));
  return page;
}

store_totals checkpoint_store::totals() const {
  std::lock_guard lock(mu_);
  store_totals t;
  t.entries = by_id_.size();
  t.bytes = bytes_;
  t.leases = leases_;
  t.hits = hits_;
  t.publishes = publishes_;
  t.evictions = evictions_;
  t.discards = discards_;
  t.errors = errors_;
  t.foreign_entries = foreign_entries_;
  t.foreign_bytes = foreign_bytes_;
  t.max_bytes = options_.max_bytes;
  t.max_entries = options_.max_entries;
  return t;
}

std::size_t checkpoint_store::flush() {
  std::lock_guard serial(flush_mu_);
  struct pending {
    node* n;
    checkpoint cp;
  };
  std::vector<pending> work;
  {
    std::lock_guard lock(mu_);
    for (const hash128& id : dirty_) {
      auto it = by_id_.find(id);
      if (it == by_id_.end()) continue;
      tree_.lock(it->second);  // neither evicted nor erased while its sidecar is rewritten
      work.push_back({it->second, *radix_tree::value(it->second)});
    }
    dirty_.clear();
  }
  std::size_t written = 0;
  std::vector<hash128> failed;
  for (const pending& p : work) {
    if (write_sidecar(p.cp)) {
      failed.push_back(p.cp.id);
    } else {
      ++written;
    }
  }
  if (!failed.empty()) {
    std::lock_guard lock(mu_);
    errors_ += failed.size();
    for (const hash128& id : failed) dirty_.insert(id);
  }
  for (const pending& p : work) release(p.n, p.cp.id, /*discard=*/false, /*lease=*/false);
  return written;
}

}  // namespace slotcache
