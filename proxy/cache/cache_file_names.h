#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cache/hash.h"

namespace slotcache {

// Which files in the shared directory are slotcache's. Everything else there is left alone.
//
//   sc-<32 hex>.bin                 slot file, written by llama-server on our request
//   sc-<32 hex>.json                sidecar: its metadata; its presence is what commits the checkpoint
//   sc-<32 hex>.json.<tag>.tmp      sidecar being written (renamed onto .json when complete)
enum class cache_file_kind { slot_file, sidecar, temp_sidecar };

struct cache_file_name {
  cache_file_kind kind;
  hash128 id;
};

std::string slot_file_name(const hash128& id);
std::string sidecar_file_name(const hash128& id);
// `tag` makes concurrent writers (threads, processes) use distinct temporary names.
std::string temp_sidecar_file_name(const hash128& id, std::string_view tag);

// nullopt for a name slotcache does not write.
std::optional<cache_file_name> parse_cache_file_name(std::string_view name);

}  // namespace slotcache
