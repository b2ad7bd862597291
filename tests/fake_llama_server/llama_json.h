#pragma once
// llama-server's JSON shapes (field names and order), free of any I/O.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace fake_llama {

using json = nlohmann::ordered_json;  // llama-server keeps insertion order too

// Like safe_json_to_str: invalid UTF-8 is replaced rather than thrown on.
std::string to_text(const json& value);

enum class error_kind { invalid_request, authentication, not_found, server, not_supported, unavailable, exceed_context };

// format_error_response: {"code","message","type"}; callers wrap it in {"error": ...}.
json error_object(const std::string& message, error_kind kind);
int error_status(error_kind kind);

struct sampling_settings {
  double temperature = 0.800000011920929;
  int n_predict = -1;
  bool stream = false;
  int dry_penalty_last_n = -1;
  std::string chat_format = "Content-only";
  std::string reasoning_format = "deepseek";
  std::string generation_prompt;
};
// full: as in a completion's generation_settings; otherwise the shorter /slots and /props form.
json sampling_json(const sampling_settings& s, bool full);

struct timing_values {
  std::size_t cache_n = 0, prompt_n = 0, predicted_n = 0;
  double prompt_ms = 0, predicted_ms = 0;
};
json timings_json(const timing_values& t);

// What /props and /v1/models say about the (fake) model, derived from its path.
struct model_meta {
  std::string path;
  int n_ctx = 4096;
  std::uint64_t n_params = 0, size = 0;
  int n_ctx_train = 0, n_embd = 0;
  std::string media_marker;
};
model_meta make_model_meta(const std::string& path, int n_ctx);
json models_json(const model_meta& meta, std::int64_t created);
json props_json(const model_meta& meta, int total_slots, bool metrics);

}  // namespace fake_llama
