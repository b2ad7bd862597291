#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "cache/file_ops.h"
#include "cache/hash.h"
#include "cache/result.h"
#include "cache/sidecar.h"
#include "cache/tokens.h"

namespace slotcache {

// slotcache's files for one checkpoint id, as found in the directory.
struct cache_file_group {
  hash128 id;
  std::optional<file_stat> slot_file;
  std::optional<file_stat> sidecar;
  std::vector<dir_entry> temp_sidecars;
};

struct directory_listing {
  std::vector<cache_file_group> groups;  // ordered by id
  std::size_t other_files = 0;           // files slotcache did not write: never touched
};

result<directory_listing, std::error_code> list_cache_directory(file_ops& fs, const std::filesystem::path& dir);

enum class checkpoint_state {
  valid,              // complete, consistent, of this fingerprint: indexable
  other_fingerprint,  // the sidecar names another model or layout: kept, never restored
  no_sidecar,         // slot file alone: a save in progress, or one interrupted before its commit
  no_slot_file,       // sidecar alone: its slot file was deleted
  bad_sidecar,        // unparsable, or describing another checkpoint than its name
  size_mismatch,      // slot file size differs from the recorded one
  bad_header,         // slot file header truncated, wrong magic or version
  tokens_mismatch,    // header tokens do not hash to the file's name
  unreadable,         // I/O error or a file vanished while being read: neither kept nor removed
};

std::string_view to_string(checkpoint_state s);

struct inspection {
  checkpoint_state state = checkpoint_state::unreadable;
  sidecar meta;                  // valid and other_fingerprint
  std::vector<token_id> tokens;  // valid only
};

// Reads the sidecar and the slot file's header of a group that has a slot file or a sidecar.
inspection inspect_checkpoint(file_ops& fs, const std::filesystem::path& dir, const cache_file_group& group,
                              std::string_view fingerprint_id);

}  // namespace slotcache
