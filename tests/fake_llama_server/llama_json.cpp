#include "llama_json.h"

#include "chat_template.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace fake_llama {
namespace {

double as_float(double v) { return static_cast<double>(static_cast<float>(v)); }

}  // namespace

std::string to_text(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

int error_status(error_kind kind) {
  switch (kind) {
    case error_kind::invalid_request: case error_kind::exceed_context: return 400;
    case error_kind::authentication: return 401;
    case error_kind::not_found: return 404;
    case error_kind::not_supported: return 501;
    case error_kind::unavailable: return 503;
    case error_kind::server: break;
  }
  return 500;
}

json error_object(const std::string& message, error_kind kind) {
  static constexpr const char* types[] = {"invalid_request_error", "authentication_error", "not_found_error",
                                          "server_error", "not_supported_error", "unavailable_error",
                                          "exceed_context_size_error"};
  return json{{"code", error_status(kind)}, {"message", message}, {"type", types[static_cast<int>(kind)]}};
}

json sampling_json(const sampling_settings& s, bool full) {
  json j{{"seed", 4294967295u}, {"temperature", as_float(s.temperature)}, {"dynatemp_range", 0.0},
         {"dynatemp_exponent", 1.0}, {"top_k", 40}, {"top_p", as_float(0.95)}, {"min_p", as_float(0.05)},
         {"top_n_sigma", -1.0}, {"xtc_probability", 0.0}, {"xtc_threshold", as_float(0.1)}, {"typical_p", 1.0},
         {"repeat_last_n", 64}, {"repeat_penalty", 1.0}, {"presence_penalty", 0.0}, {"frequency_penalty", 0.0},
         {"dry_multiplier", 0.0}, {"dry_base", 1.75}, {"dry_allowed_length", 2},
         {"dry_penalty_last_n", s.dry_penalty_last_n}};
  if (full) j["dry_sequence_breakers"] = {"\n", ":", "\"", "*"};
  j["mirostat"] = 0;
  j["mirostat_tau"] = 5.0;
  j["mirostat_eta"] = as_float(0.1);
  if (full) j["stop"] = json::array();
  j["max_tokens"] = s.n_predict;
  j["n_predict"] = s.n_predict;
  j["n_keep"] = 0;
  j["n_discard"] = 0;
  j["ignore_eos"] = false;
  j["stream"] = s.stream;
  if (full) j["logit_bias"] = json::array();
  j["n_probs"] = 0;
  j["min_keep"] = 0;
  if (full) {
    j["grammar"] = "";
    j["grammar_lazy"] = false;
    j["grammar_triggers"] = json::array();
    j["preserved_tokens"] = json::array();
  }
  j["chat_format"] = s.chat_format;
  j["reasoning_format"] = s.reasoning_format;
  j["reasoning_in_content"] = false;
  j["generation_prompt"] = s.generation_prompt;
  j["samplers"] = {"penalties", "dry", "top_n_sigma", "top_k", "typ_p", "top_p", "min_p", "xtc", "temperature"};
  j["speculative.types"] = "none";
  j["timings_per_token"] = false;
  j["post_sampling_probs"] = false;
  j["backend_sampling"] = false;
  j["lora"] = json::array();
  return j;
}

json timings_json(const timing_values& t) {
  const double prompt_ms = std::max(t.prompt_ms, 0.001), predicted_ms = std::max(t.predicted_ms, 0.001);
  return json{{"cache_n", t.cache_n},
              {"prompt_n", t.prompt_n},
              {"prompt_ms", prompt_ms},
              {"prompt_per_token_ms", prompt_ms / double(t.prompt_n)},
              {"prompt_per_second", 1e3 / prompt_ms * double(t.prompt_n)},
              {"predicted_n", t.predicted_n},
              {"predicted_ms", predicted_ms},
              {"predicted_per_token_ms", predicted_ms / double(t.predicted_n)},
              {"predicted_per_second", 1e3 / predicted_ms * double(t.predicted_n)}};
}

model_meta make_model_meta(const std::string& path, int n_ctx) {
  const std::uint64_t h = XXH64(path.data(), path.size(), 0);
  model_meta m;
  m.path = path;
  m.n_ctx = n_ctx;
  m.n_params = 10'000'000 + h % 990'000'000;
  m.size = m.n_params * 2 + 4096;  // F16 weights plus a header
  static constexpr int ctx_train[] = {4096, 8192, 32768, 131072};
  static constexpr int embd[] = {256, 512, 1024, 2048, 4096};
  m.n_ctx_train = ctx_train[(h >> 32) % 4];
  m.n_embd = embd[(h >> 40) % 5];
  static constexpr char alnum[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  m.media_marker = "<__media_";
  for (std::uint64_t i = 0, x = h; i < 32; ++i, x = XXH64(&i, sizeof i, h)) m.media_marker += alnum[x % 62];
  m.media_marker += "__>";
  return m;
}

json models_json(const model_meta& m, std::int64_t created) {
  json model{{"name", m.path}, {"model", m.path}, {"modified_at", ""}, {"size", ""}, {"digest", ""},
             {"type", "model"}, {"description", ""}, {"tags", {""}}, {"capabilities", {"completion"}},
             {"parameters", ""},
             {"details", {{"parent_model", ""}, {"format", "gguf"}, {"family", ""}, {"families", {""}},
                          {"parameter_size", ""}, {"quantization_level", ""}}}};
  json data{{"id", m.path}, {"aliases", {m.path}}, {"tags", json::array()}, {"object", "model"},
            {"created", created}, {"owned_by", "llamacpp"},
            {"meta", {{"vocab_type", 1}, {"n_vocab", 32000}, {"n_ctx", m.n_ctx}, {"n_ctx_train", m.n_ctx_train},
                      {"n_embd", m.n_embd}, {"n_params", m.n_params}, {"size", m.size}, {"ftype", "F16"}}}};
  return json{{"models", json::array({model})}, {"object", "list"}, {"data", json::array({data})}};
}

json props_json(const model_meta& m, int total_slots, bool metrics) {
  sampling_settings defaults;
  defaults.reasoning_format = "none";
  return json{
      {"default_generation_settings", {{"params", sampling_json(defaults, false)}, {"n_ctx", m.n_ctx}}},
      {"total_slots", total_slots},
      {"model_alias", m.path},
      {"model_ftype", "F16"},
      {"model_path", m.path},
      {"modalities", {{"vision", false}, {"video", false}, {"audio", false}}},
      {"media_marker", m.media_marker},
      {"endpoint_slots", true},
      {"endpoint_props", false},
      {"endpoint_metrics", metrics},
      {"ui", true},
      {"ui_settings", json::object()},
      {"chat_template", chatml_template},
      {"chat_template_caps",
       {{"supports_object_arguments", false}, {"supports_parallel_tool_calls", false},
        {"supports_preserve_reasoning", false}, {"supports_string_content", true}, {"supports_system_role", true},
        {"supports_tool_calls", false}, {"supports_tools", false}, {"supports_typed_content", false}}},
      {"bos_token", "<s>"},
      {"eos_token", "</s>"},
      {"build_info", "b0-unknown"},
      {"is_sleeping", false},
      {"cors_proxy_enabled", false}};
}

}  // namespace fake_llama
