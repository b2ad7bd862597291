#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "cache/cache_file_names.h"
#include "cache/checkpoint_store.h"
#include "cache/slot_file.h"
#include "support/fake_backend.h"
#include "support/temp_dir.h"

namespace slotcache::test {

inline const std::string fingerprint_a = "0123456789abcdef0123456789abcdef";
inline const std::string fingerprint_b = "fedcba9876543210fedcba9876543210";

// A cache directory, a manual clock starting at the real time (so that file modification times and
// the store's clock agree), and helpers that play the backend's part.
struct store_fixture {
  temp_dir dir;
  // Whole milliseconds, as sidecars store them.
  manual_clock clk{std::chrono::time_point_cast<clock::duration>(
      std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now()))};
  posix_file_ops fs;

  store_options options(std::uint64_t max_bytes = std::uint64_t{1} << 30, std::size_t max_entries = 0) const {
    store_options o;
    o.dir = dir.path();
    o.max_bytes = max_bytes;
    o.max_entries = max_entries;
    o.orphan_grace = std::chrono::seconds{0};
    return o;
  }

  // reserve, the backend's save, publish.
  result<checkpoint_store::published, store_error> save(checkpoint_store& store, const std::vector<token_id>& tokens,
                                                        std::size_t state_bytes = 1000) {
    auto ticket = store.reserve(tokens);
    REQUIRE(ticket);
    const auto n = backend_save(dir / ticket->file_name(), tokens, state_bytes);
    return store.publish(std::move(ticket).value(), tokens, n);
  }

  checkpoint_store::published saved(checkpoint_store& store, const std::vector<token_id>& tokens,
                                    std::size_t state_bytes = 1000) {
    auto p = save(store, tokens, state_bytes);
    REQUIRE(p);
    return p.value();
  }

  std::set<std::string> files() const {
    std::set<std::string> out;
    for (auto& e : std::filesystem::directory_iterator(dir.path())) out.insert(e.path().filename().string());
    return out;
  }

  std::set<std::string> ids(const checkpoint_store& store) const {
    std::set<std::string> out;
    list_query q;
    q.limit = 1'000'000;
    for (auto& e : store.list(q).entries) out.insert(e.id);
    return out;
  }

  // Checks, independently of the store, that every listed entry is a complete pair on disk whose
  // header holds tokens hashing to its id.
  void check_entries_on_disk(const checkpoint_store& store, const std::string& fingerprint) const {
    list_query q;
    q.limit = 1'000'000;
    for (auto& e : store.list(q).entries) {
      CAPTURE(e.id);
      const auto slot = dir / e.file_name;
      REQUIRE(std::filesystem::exists(slot));
      CHECK(std::filesystem::file_size(slot) == e.bytes);
      CHECK(std::filesystem::exists(dir / (e.file_name.substr(0, e.file_name.size() - 4) + ".json")));
      posix_file_ops fs_copy;
      auto tokens = read_slot_tokens(fs_copy, slot, e.bytes);
      REQUIRE(tokens);
      CHECK(tokens->size() == e.n_tokens);
      CHECK(to_hex(hash_prefix(fingerprint, tokens.value())) == e.id);
    }
  }
};

inline std::string id_of(const std::vector<token_id>& tokens, const std::string& fingerprint = fingerprint_a) {
  return to_hex(hash_prefix(fingerprint, tokens));
}

inline std::string slot_name(const std::vector<token_id>& tokens, const std::string& fingerprint = fingerprint_a) {
  return slot_file_name(hash_prefix(fingerprint, tokens));
}

inline std::string sidecar_name(const std::vector<token_id>& tokens, const std::string& fingerprint = fingerprint_a) {
  return sidecar_file_name(hash_prefix(fingerprint, tokens));
}

}  // namespace slotcache::test
