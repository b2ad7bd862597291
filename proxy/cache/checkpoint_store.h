#pragma once

// The checkpoints in one cache directory (the backend's --slot-save-path), their token-prefix
// index and the disk budget.
//
// A checkpoint is a pair of files named by hash_prefix(fingerprint, tokens) (see cache_file_names.h):
// the slot file, written by llama-server, and the sidecar, written by the store once the slot file
// has been verified. The sidecar's appearance (atomic rename) is the commit: every path that ends
// in a crash leaves either a complete, verified pair or files that rebuild() recognises and removes.
//
// Use by the request pipeline:
//   restore:  auto found = store.acquire_longest_prefix(tokens, tokens.size() - 1);
//             if (found.lease) { restore found.lease->file_name();
//                                success ? found.lease->record_hit() : found.lease->discard(); }
//   save:     auto ticket = store.reserve(prefix);      // already_indexed / busy: skip
//             n_written = backend save to ticket->file_name();
//             store.publish(std::move(ticket).value(), prefix, n_written);
//
// Thread safety: every public function may be called from any thread. One mutex guards the index
// and the counters; under it run only tree operations (O(tokens) lookups and inserts, O(entries)
// for an eviction round, for listing and for clear) and set/map updates. Hashing, stat, reads,
// fsyncs, renames and unlinks run outside it. Ids whose files are being written or deleted are
// "reserved" so that no two threads touch the same files at once. Leases and tickets must not
// outlive the store.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cache/eviction_policy.h"
#include "cache/file_ops.h"
#include "cache/hash.h"
#include "cache/radix_tree.h"
#include "cache/result.h"
#include "cache/sidecar.h"
#include "cache/tokens.h"
#include "util/clock.h"

namespace slotcache {

struct store_options {
  std::filesystem::path dir;                           // --cache-dir, the backend's --slot-save-path
  std::uint64_t max_bytes = std::uint64_t{20} << 30;   // --cache-max-bytes
  std::size_t max_entries = 0;                         // --cache-max-entries; 0: no limit
  eviction_policy policy;
  // A slot file without sidecar younger than this may be a save still in progress (here or in
  // another process sharing the directory): rebuild() leaves it for its writer.
  std::chrono::seconds orphan_grace{std::chrono::minutes{10}};
};

enum class store_error {
  empty_prefix,     // reserve: nothing to save
  already_indexed,  // reserve: this prefix has a checkpoint already
  busy,             // reserve: the same prefix is being saved or deleted right now
  ticket_mismatch,  // publish: the tokens are not the ones the ticket was issued for
  nothing_written,  // publish: the backend reported n_written == 0
  file_missing,     // publish: no file under the ticket's name
  size_mismatch,    // publish: the file's size is not n_written
  bad_header,       // publish: not a readable slot file
  tokens_mismatch,  // publish: the slot file holds other tokens than the prefix
  too_large,        // publish: larger than the whole budget
  io_error,         // publish: fsync, sidecar write or rename failed (disk full, ...)
};

std::string_view to_string(store_error e);

struct checkpoint_info {
  std::string id;         // 32 hex digits
  std::string file_name;  // slot file name inside the cache directory
  std::uint32_t n_tokens = 0;
  std::uint64_t bytes = 0;
  clock::time_point created{};
  clock::time_point last_used{};
  std::uint64_t hits = 0;
  bool in_use = false;    // held by a lease
  double priority = 0;    // eviction_policy::priority now; lower goes first
};

struct store_totals {
  std::size_t entries = 0;
  std::uint64_t bytes = 0;
  std::size_t leases = 0;            // outstanding
  std::uint64_t hits = 0;            // record_hit calls since start
  std::uint64_t publishes = 0;       // checkpoints added since start
  std::uint64_t evictions = 0;       // removed by the budget since start
  std::uint64_t discards = 0;        // removed because a restore failed
  std::uint64_t errors = 0;          // failed publishes, failed deletions, failed metadata writes
  std::size_t foreign_entries = 0;   // checkpoints of other fingerprints found by rebuild (kept)
  std::uint64_t foreign_bytes = 0;
  std::uint64_t max_bytes = 0;
  std::size_t max_entries = 0;
};

struct rebuild_problem {
  std::string file;
  std::string reason;
  bool removed = false;
};

struct rebuild_report {
  std::error_code error;           // the directory could not be listed
  std::size_t indexed = 0;
  std::uint64_t indexed_bytes = 0;
  std::size_t foreign_entries = 0;  // other fingerprints: kept, not indexed
  std::uint64_t foreign_bytes = 0;
  std::size_t pending = 0;          // slot files without sidecar younger than orphan_grace: left alone
  std::size_t other_files = 0;      // not slotcache's: never touched
  std::size_t evicted = 0;          // indexed, then over budget
  std::vector<rebuild_problem> problems;
};

enum class erase_outcome { erased, deferred, not_found };

enum class clear_scope {
  current_fingerprint,  // every indexed checkpoint
  all_ours,             // and every other file slotcache wrote: other fingerprints, leftovers
};

struct clear_report {
  std::size_t erased = 0;
  std::size_t deferred = 0;       // in use: erased when their last lease ends
  std::size_t files_removed = 0;  // all_ours: files of checkpoints that were not indexed
};

enum class sort_key { last_used, created, hits, bytes, n_tokens, priority };

struct list_query {
  std::size_t offset = 0;
  std::size_t limit = 100;
  sort_key sort = sort_key::last_used;
  bool descending = true;
};

struct list_page {
  std::size_t total = 0;
  std::vector<checkpoint_info> entries;
};

class checkpoint_store;

// An indexed checkpoint held for a restore: while any lease holds it, neither it nor the shorter
// checkpoints it extends are evicted, and erasing it is deferred until the last lease ends.
class checkpoint_lease {
 public:
  checkpoint_lease(checkpoint_lease&& other) noexcept;
  checkpoint_lease& operator=(checkpoint_lease&& other) noexcept;
  checkpoint_lease(const checkpoint_lease&) = delete;
  checkpoint_lease& operator=(const checkpoint_lease&) = delete;
  ~checkpoint_lease();

  // For POST /slots/{id}?action=restore {"filename": ...}.
  const std::string& file_name() const { return file_name_; }
  std::uint32_t n_tokens() const { return n_tokens_; }
  std::string id() const { return to_hex(id_); }
  bool active() const { return store_ != nullptr; }

  // The restore succeeded: one more hit, last used now.
  void record_hit();
  // The restore failed: the checkpoint is erased with its files (once no other lease holds it).
  // Ends the lease.
  void discard();
  // Ends the lease early.
  void release();

 private:
  friend class checkpoint_store;
  checkpoint_lease(checkpoint_store* store, radix_tree::node* node, const hash128& id, std::uint32_t n_tokens);

  checkpoint_store* store_ = nullptr;
  radix_tree::node* node_ = nullptr;
  hash128 id_;
  std::uint32_t n_tokens_ = 0;
  std::string file_name_;
};

// The right to have the backend write one checkpoint's slot file, until publish() or abandon().
// Dropping it unpublished removes whatever the backend may have written under its name.
class save_ticket {
 public:
  save_ticket(save_ticket&& other) noexcept;
  save_ticket& operator=(save_ticket&& other) noexcept;
  save_ticket(const save_ticket&) = delete;
  save_ticket& operator=(const save_ticket&) = delete;
  ~save_ticket();

  // For POST /slots/{id}?action=save {"filename": ...}.
  const std::string& file_name() const { return file_name_; }
  std::string id() const { return to_hex(id_); }
  bool active() const { return store_ != nullptr; }

  // The save did not happen or failed.
  void abandon();

 private:
  friend class checkpoint_store;
  save_ticket(checkpoint_store* store, const hash128& id);

  checkpoint_store* store_ = nullptr;
  hash128 id_;
  std::string file_name_;
};

class checkpoint_store {
 public:
  struct lookup_result {
    std::optional<checkpoint_lease> lease;  // the deepest usable checkpoint, locked; empty if none
    std::size_t common_len = 0;             // longest common prefix with any indexed checkpoint
  };

  struct published {
    checkpoint_info entry;
    std::size_t evicted = 0;  // checkpoints removed to make room for it
  };

  // `fingerprint_id` is model_fingerprint::id of the backend being served.
  checkpoint_store(store_options options, std::string fingerprint_id, const clock& clk, file_ops& fs);
  // Writes pending hit metadata.
  ~checkpoint_store();
  checkpoint_store(const checkpoint_store&) = delete;
  checkpoint_store& operator=(const checkpoint_store&) = delete;

  // Indexes the directory's valid checkpoints of this fingerprint, removes slotcache's broken
  // files, keeps other fingerprints' files, then enforces the budget. Meant for start-up; calling
  // it again only adds what is new on disk (e.g. saved by another process).
  rebuild_report rebuild();

  // The deepest checkpoint whose tokens are a prefix of `tokens` no longer than max_len.
  lookup_result acquire_longest_prefix(token_span tokens, std::size_t max_len);

  // A ticket to save `prefix` under its content-addressed name. A checkpoint of the same prefix
  // that another process completed in the meantime is indexed instead (already_indexed).
  result<save_ticket, store_error> reserve(token_span prefix);

  // After the backend's save answered n_written: verifies the file (n_written > 0, that size, a
  // slot header holding exactly `prefix`), commits its sidecar, indexes it and enforces the budget
  // (never evicting entries in use, nor this one). On failure the file is removed, the error
  // counted and returned.
  result<published, store_error> publish(save_ticket&& ticket, token_span prefix, std::uint64_t n_written);

  // By id (32 hex digits). In use: deferred until its last lease ends.
  erase_outcome erase(std::string_view id);
  clear_report clear(clear_scope scope);

  list_page list(const list_query& query) const;
  store_totals totals() const;

  // Writes changed hit counts and last-used times to the sidecars; returns how many. Meant for a
  // periodic background task; losing these in a crash only costs eviction accuracy.
  std::size_t flush();

  const std::filesystem::path& dir() const { return options_.dir; }
  const std::string& fingerprint_id() const { return fingerprint_; }

 private:
  friend class checkpoint_lease;
  friend class save_ticket;

  using node = radix_tree::node;

  bool claim(const hash128& id);
  void unclaim(const hash128& id);
  void record_hit(node* n);
  void release(node* n, const hash128& id, bool discard, bool lease);
  void abandon(const hash128& id);
  node* index_locked(token_span tokens, const checkpoint& cp);
  void unindex_locked(node* n);
  std::vector<hash128> enforce_budget_locked(node* keep);
  void delete_checkpoint_files(const std::vector<hash128>& ids);
  std::error_code write_sidecar(const checkpoint& cp);
  checkpoint_info info_of(const node* n, const checkpoint& cp, clock::time_point now) const;
  std::filesystem::path path_of(const std::string& name) const { return options_.dir / name; }

  const store_options options_;
  const std::string fingerprint_;
  const clock& clock_;
  file_ops& fs_;

  mutable std::mutex mu_;
  radix_tree tree_;
  std::unordered_map<hash128, node*, hash128_hasher> by_id_;
  std::unordered_set<hash128, hash128_hasher> reserved_;  // files being written or deleted
  std::unordered_set<hash128, hash128_hasher> doomed_;    // erase requested while in use
  std::unordered_set<hash128, hash128_hasher> dirty_;     // hit metadata newer than the sidecar
  std::uint64_t bytes_ = 0;
  std::size_t leases_ = 0;
  std::uint64_t hits_ = 0;
  std::uint64_t publishes_ = 0;
  std::uint64_t evictions_ = 0;
  std::uint64_t discards_ = 0;
  std::uint64_t errors_ = 0;
  std::size_t foreign_entries_ = 0;
  std::uint64_t foreign_bytes_ = 0;
  std::atomic<std::uint64_t> temp_seq_{0};
  std::mutex flush_mu_;  // one flush at a time, so an older snapshot never overwrites a newer one
};

}  // namespace slotcache
