#include "cache/fingerprint.h"

#include <doctest/doctest.h>

using namespace slotcache;
using nlohmann::json;

namespace {

// Bodies of GET /props and GET /v1/models from a real llama-server (llama-server-samples/).
const char* const props_body = R"json({"default_generation_settings":{"params":{"seed":4294967295,"temperature":0.800000011920929,"dynatemp_range":0.0,"dynatemp_exponent":1.0,"top_k":40,"top_p":0.949999988079071,"min_p":0.05000000074505806,"top_n_sigma":-1.0,"xtc_probability":0.0,"xtc_threshold":0.10000000149011612,"typical_p":1.0,"repeat_last_n":64,"repeat_penalty":1.0,"presence_penalty":0.0,"frequency_penalty":0.0,"dry_multiplier":0.0,"dry_base":1.75,"dry_allowed_length":2,"dry_penalty_last_n":-1,"mirostat":0,"mirostat_tau":5.0,"mirostat_eta":0.10000000149011612,"max_tokens":-1,"n_predict":-1,"n_keep":0,"n_discard":0,"ignore_eos":false,"stream":false,"n_probs":0,"min_keep":0,"chat_format":"Content-only","reasoning_format":"none","reasoning_in_content":false,"generation_prompt":"","samplers":["penalties","dry","top_n_sigma","top_k","typ_p","top_p","min_p","xtc","temperature"],"speculative.types":"none","timings_per_token":false,"post_sampling_probs":false,"backend_sampling":false,"lora":[]},"n_ctx":4096},"total_slots":2,"model_alias":"/models/tiny-granitehybrid.gguf","model_ftype":"F16","model_path":"/models/tiny-granitehybrid.gguf","modalities":{"vision":false,"video":false,"audio":false},"media_marker":"<__media_BaT6zvVXpmu6HKeyDR7Y7U1U4fVACKoh__>","endpoint_slots":true,"endpoint_props":false,"endpoint_metrics":true,"ui":true,"ui_settings":{},"chat_template":"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}","chat_template_caps":{"supports_object_arguments":false,"supports_parallel_tool_calls":false,"supports_preserve_reasoning":false,"supports_string_content":true,"supports_system_role":true,"supports_tool_calls":false,"supports_tools":false,"supports_typed_content":false},"bos_token":"<s>","eos_token":"</s>","build_info":"b0-unknown","is_sleeping":false,"cors_proxy_enabled":false})json";

const char* const models_body = R"json({"models":[{"name":"/models/tiny-granitehybrid.gguf","model":"/models/tiny-granitehybrid.gguf","modified_at":"","size":"","digest":"","type":"model","description":"","tags":[""],"capabilities":["completion"],"parameters":"","details":{"parent_model":"","format":"gguf","family":"","families":[""],"parameter_size":"","quantization_level":""}}],"object":"list","data":[{"id":"/models/tiny-granitehybrid.gguf","aliases":["/models/tiny-granitehybrid.gguf"],"tags":[],"object":"model","created":1795867462,"owned_by":"llamacpp","meta":{"vocab_type":1,"n_vocab":32000,"n_ctx":4096,"n_ctx_train":131072,"n_embd":256,"n_params":15898768,"size":31851072,"ftype":"F16"}}]})json";

const json props = json::parse(props_body);
const json models = json::parse(models_body);

std::string id_of(const json& p, const json& m, std::string_view layout = {}) {
  auto fp = make_fingerprint(p, m, layout);
  REQUIRE(fp);
  return fp->id;
}

}  // namespace

TEST_CASE("fingerprint: from the real samples") {
  auto fp = make_fingerprint(props, models, "kv=f16/f16");
  REQUIRE(fp);
  CHECK(fp->id.size() == 32);
  CHECK(fp->fields["model_path"] == "/models/tiny-granitehybrid.gguf");
  CHECK(fp->fields["total_slots"] == 2);
  CHECK(fp->fields["n_ctx_per_slot"] == 4096);
  CHECK(fp->fields["build_info"] == "b0-unknown");
  CHECK(fp->fields["n_params"] == 15898768);
  CHECK(fp->fields["model_size"] == 31851072);
  CHECK(fp->fields["n_vocab"] == 32000);
  CHECK(fp->fields["n_ctx_train"] == 131072);
  CHECK(fp->fields["n_embd"] == 256);
  CHECK(fp->fields["layout_options"] == "kv=f16/f16");
  CHECK(fp->summary ==
        "/models/tiny-granitehybrid.gguf (15.9M params, 30.4 MiB, F16), n_ctx 4096 per slot x 2 slots, n_embd 256, "
        "n_vocab 32000, build b0-unknown, kv=f16/f16");
}

TEST_CASE("fingerprint: the id of the samples is pinned (a change orphans every cache on disk)") {
  CHECK(id_of(props, models) == "4f03151c422a70cd32a3f4262098e483");
}

TEST_CASE("fingerprint: stable across calls, key order and fields that do not matter") {
  const std::string id = id_of(props, models);
  CHECK(id_of(props, models) == id);
  json p = props;
  p["default_generation_settings"]["params"]["temperature"] = 0.1;
  p["is_sleeping"] = true;
  p["chat_template"] = "other";
  json m = models;
  m["models"] = json::array();
  m["data"][0]["created"] = 1;
  CHECK(id_of(p, m) == id);
  // Re-serialised with other key order and spacing.
  CHECK(id_of(json::parse(p.dump(2)), json::parse(m.dump())) == id);
}

TEST_CASE("fingerprint: another model, context, slot count, build or layout is another fingerprint") {
  const std::string id = id_of(props, models);
  auto changed_props = [&](auto edit) {
    json p = props;
    edit(p);
    return id_of(p, models);
  };
  auto changed_meta = [&](const char* key, json value) {
    json m = models;
    m["data"][0]["meta"][key] = value;
    return id_of(props, m);
  };
  CHECK(changed_props([](json& p) { p["model_path"] = "/models/other.gguf"; }) != id);
  CHECK(changed_props([](json& p) { p["total_slots"] = 4; }) != id);
  CHECK(changed_props([](json& p) { p["default_generation_settings"]["n_ctx"] = 8192; }) != id);
  CHECK(changed_props([](json& p) { p["build_info"] = "b6000-abc"; }) != id);
  CHECK(changed_props([](json& p) { p["model_ftype"] = "Q8_0"; }) != id);
  CHECK(changed_meta("n_params", 1) != id);
  CHECK(changed_meta("size", 1) != id);
  CHECK(changed_meta("n_vocab", 1) != id);
  CHECK(changed_meta("n_ctx_train", 1) != id);
  CHECK(changed_meta("n_embd", 1) != id);
  CHECK(id_of(props, models, "kv=q8_0/q8_0") != id);
  CHECK(id_of(props, models, "kv=q8_0/q8_0") != id_of(props, models, "kv=f16/f16"));
}

TEST_CASE("fingerprint: missing optional values hash as null, missing identity is an error") {
  auto fp = make_fingerprint(props, json());
  REQUIRE(fp);
  CHECK(fp->fields["n_params"].is_null());
  CHECK(fp->id != id_of(props, models));
  CHECK(make_fingerprint(props, json::parse(R"({"data":[]})"))->id == fp->id);

  for (auto edit : {+[](json& p) { p.erase("model_path"); }, +[](json& p) { p.erase("total_slots"); },
                    +[](json& p) { p["default_generation_settings"].erase("n_ctx"); },
                    +[](json& p) { p["total_slots"] = "2"; }}) {
    json p = props;
    edit(p);
    auto bad = make_fingerprint(p, models);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().find("/props has no") == 0);
  }
  CHECK_FALSE(make_fingerprint(json::array(), models));
}
