#pragma once

#include <cstdint>

#include "cache/hash.h"
#include "util/clock.h"

namespace slotcache {

// What the index knows about one saved slot state. The file is slot_file_name(id) in the cache
// directory; the token prefix itself is the entry's key in the radix tree (and the file's header).
struct checkpoint {
  hash128 id;
  std::uint32_t n_tokens = 0;  // full prefix length
  std::uint64_t bytes = 0;     // slot file size, as llama-server reported writing it
  clock::time_point created{};
  clock::time_point last_used{};  // creation or last successful restore
  std::uint64_t hits = 0;         // successful restores
};

}  // namespace slotcache
