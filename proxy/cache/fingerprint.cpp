#include "cache/fingerprint.h"

#include <fmt/format.h>

#include "cache/hash.h"

namespace slotcache {
namespace {

using nlohmann::json;

// Bump when the hashed fields change meaning: existing checkpoints then stop matching, as they must.
constexpr int fingerprint_version = 1;

const json* at_path(const json& doc, std::initializer_list<const char*> path) {
  const json* cur = &doc;
  for (const char* key : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

json value_or_null(const json* v) { return v && !v->is_null() ? *v : json(nullptr); }

const json* first_model_meta(const json& models) {
  const json* data = at_path(models, {"data"});
  if (!data || !data->is_array() || data->empty()) return nullptr;
  return at_path((*data)[0], {"meta"});
}

std::string text_of(const json& v) {
  if (v.is_null()) return "?";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

std::string human_count(const json& v) {
  if (!v.is_number()) return text_of(v);
  const double n = v.get<double>();
  if (n >= 1e9) return fmt::format("{:.1f}B", n / 1e9);
  if (n >= 1e6) return fmt::format("{:.1f}M", n / 1e6);
  if (n >= 1e3) return fmt::format("{:.1f}K", n / 1e3);
  return fmt::format("{}", n);
}

std::string human_bytes(const json& v) {
  if (!v.is_number()) return text_of(v);
  const double n = v.get<double>();
  if (n >= 1024.0 * 1024 * 1024) return fmt::format("{:.1f} GiB", n / (1024.0 * 1024 * 1024));
  return fmt::format("{:.1f} MiB", n / (1024.0 * 1024));
}

}  // namespace

result<model_fingerprint, std::string> make_fingerprint(const json& props, const json& models,
                                                         std::string_view layout_options) {
  const json* model_path = at_path(props, {"model_path"});
  const json* total_slots = at_path(props, {"total_slots"});
  const json* n_ctx = at_path(props, {"default_generation_settings", "n_ctx"});
  if (!model_path || !model_path->is_string()) return std::string("/props has no model_path");
  if (!total_slots || !total_slots->is_number_integer()) return std::string("/props has no total_slots");
  if (!n_ctx || !n_ctx->is_number_integer()) return std::string("/props has no default_generation_settings.n_ctx");

  static const json no_meta = json::object();
  const json* meta_ptr = first_model_meta(models);
  const json& meta = meta_ptr && meta_ptr->is_object() ? *meta_ptr : no_meta;

  // An object's keys serialise in sorted order, so dump() is canonical for these scalar values.
  json fields = {
      {"fingerprint_version", fingerprint_version},
      {"model_path", *model_path},
      {"total_slots", *total_slots},
      {"n_ctx_per_slot", *n_ctx},
      {"build_info", value_or_null(at_path(props, {"build_info"}))},
      {"model_ftype", value_or_null(at_path(props, {"model_ftype"}))},
      {"n_params", value_or_null(at_path(meta, {"n_params"}))},
      {"model_size", value_or_null(at_path(meta, {"size"}))},
      {"n_vocab", value_or_null(at_path(meta, {"n_vocab"}))},
      {"n_ctx_train", value_or_null(at_path(meta, {"n_ctx_train"}))},
      {"n_embd", value_or_null(at_path(meta, {"n_embd"}))},
      {"layout_options", layout_options.empty() ? json(nullptr) : json(std::string(layout_options))},
  };

  model_fingerprint fp;
  fp.id = to_hex(hash_bytes(fields.dump()));
  fp.summary = fmt::format("{} ({} params, {}, {}), n_ctx {} per slot x {} slots, n_embd {}, n_vocab {}, build {}{}",
                           text_of(fields["model_path"]), human_count(fields["n_params"]),
                           human_bytes(fields["model_size"]), text_of(fields["model_ftype"]),
                           text_of(fields["n_ctx_per_slot"]), text_of(fields["total_slots"]),
                           text_of(fields["n_embd"]), text_of(fields["n_vocab"]), text_of(fields["build_info"]),
                           layout_options.empty() ? std::string() : fmt::format(", {}", layout_options));
  fp.fields = std::move(fields);
  return fp;
}

}  // namespace slotcache
