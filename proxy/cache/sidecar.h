#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cache/checkpoint.h"

namespace slotcache {

// The metadata file next to a slot file. Its presence commits the checkpoint: it is written
// (temporary name, fsync, rename, fsync of the directory) only after the slot file is complete.
// One JSON object, e.g.
//
//   {"format":"slotcache-checkpoint-1","id":"<32 hex>","fingerprint":"<32 hex>","n_tokens":9,
//    "bytes":842116,"created_ms":1795867462000,"last_used_ms":1795867462000,"hits":0}
//
// Times are Unix milliseconds. The token list is not repeated here: the slot file's header holds it.
struct sidecar {
  checkpoint cp;
  std::string fingerprint;
};

std::string encode_sidecar(const sidecar& s);

// nullopt unless every field is present with the right type and the format is known.
std::optional<sidecar> decode_sidecar(std::string_view text);

}  // namespace slotcache
