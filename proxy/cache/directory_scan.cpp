#include "cache/directory_scan.h"

#include <algorithm>
#include <map>

#include "cache/cache_file_names.h"
#include "cache/slot_file.h"

namespace slotcache {
namespace {

// Sidecars are a few hundred bytes; anything much larger is not one of ours.
constexpr std::size_t max_sidecar_bytes = 64 * 1024;

}  // namespace

std::string_view to_string(checkpoint_state s) {
  switch (s) {
    case checkpoint_state::valid: return "valid";
    case checkpoint_state::other_fingerprint: return "written for another model fingerprint";
    case checkpoint_state::no_sidecar: return "slot file without sidecar";
    case checkpoint_state::no_slot_file: return "sidecar without slot file";
    case checkpoint_state::bad_sidecar: return "unreadable or inconsistent sidecar";
    case checkpoint_state::size_mismatch: return "slot file size differs from the sidecar";
    case checkpoint_state::bad_header: return "bad slot file header";
    case checkpoint_state::tokens_mismatch: return "slot file tokens do not match its name";
    case checkpoint_state::unreadable: return "unreadable";
  }
  return "unknown";
}

result<directory_listing, std::error_code> list_cache_directory(file_ops& fs, const std::filesystem::path& dir) {
  std::vector<dir_entry> entries;
  if (auto ec = fs.list(dir, entries)) return ec;
  directory_listing listing;
  std::map<hash128, cache_file_group> groups;
  for (auto& e : entries) {
    auto name = parse_cache_file_name(e.name);
    if (!name) {
      ++listing.other_files;
      continue;
    }
    cache_file_group& g = groups[name->id];
    g.id = name->id;
    switch (name->kind) {
      case cache_file_kind::slot_file: g.slot_file = e.stat; break;
      case cache_file_kind::sidecar: g.sidecar = e.stat; break;
      case cache_file_kind::temp_sidecar: g.temp_sidecars.push_back(std::move(e)); break;
    }
  }
  listing.groups.reserve(groups.size());
  for (auto& [id, g] : groups) listing.groups.push_back(std::move(g));
  return listing;
}

inspection inspect_checkpoint(file_ops& fs, const std::filesystem::path& dir, const cache_file_group& group,
                              std::string_view fingerprint_id) {
  inspection out;
  if (!group.sidecar) {
    out.state = group.slot_file ? checkpoint_state::no_sidecar : checkpoint_state::unreadable;
    return out;
  }
  if (!group.slot_file) {
    out.state = checkpoint_state::no_slot_file;
    return out;
  }

  std::string text;
  if (fs.read(dir / sidecar_file_name(group.id), 0, max_sidecar_bytes + 1, text)) {
    out.state = checkpoint_state::unreadable;
    return out;
  }
  auto meta = text.size() <= max_sidecar_bytes ? decode_sidecar(text) : std::nullopt;
  if (!meta || meta->cp.id != group.id) {
    out.state = checkpoint_state::bad_sidecar;
    return out;
  }
  out.meta = std::move(*meta);
  if (out.meta.fingerprint != fingerprint_id) {
    out.state = checkpoint_state::other_fingerprint;
    return out;
  }
  if (group.slot_file->size != out.meta.cp.bytes) {
    out.state = checkpoint_state::size_mismatch;
    return out;
  }
  auto tokens = read_slot_tokens(fs, dir / slot_file_name(group.id), group.slot_file->size);
  if (!tokens) {
    out.state = tokens.error() == slot_file_error::unreadable ? checkpoint_state::unreadable : checkpoint_state::bad_header;
    return out;
  }
  if (tokens->size() != out.meta.cp.n_tokens || hash_prefix(fingerprint_id, tokens.value()) != group.id) {
    out.state = checkpoint_state::tokens_mismatch;
    return out;
  }
  out.tokens = std::move(tokens).value();
  out.state = checkpoint_state::valid;
  return out;
}

}  // namespace slotcache
