#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cache/result.h"

namespace slotcache {

// Identity of the model and memory layout a checkpoint was written by: a slot file restores only
// into a backend with the same fingerprint.
struct model_fingerprint {
  std::string id;          // 32 hex digits (XXH3-128 of `fields` in canonical JSON)
  std::string summary;     // for logs and the admin API
  nlohmann::json fields;   // what was hashed
};

// From the backend's GET /props and GET /v1/models answers (parsed), plus what changes the state
// layout but the backend does not report (KV cache types, flash attention, ...), as free text.
//
// Hashed: props.model_path, props.total_slots, props.default_generation_settings.n_ctx (per slot),
// props.build_info, props.model_ftype, /v1/models data[0].meta.{n_params, size, n_vocab,
// n_ctx_train, n_embd}, and layout_options. Missing optional values hash as null. Fails (with a
// message) when props lacks model_path, total_slots or the per-slot n_ctx.
result<model_fingerprint, std::string> make_fingerprint(const nlohmann::json& props, const nlohmann::json& models,
                                                         std::string_view layout_options = {});

}  // namespace slotcache
