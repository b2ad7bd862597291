#pragma once
// ChatML rendering of an OpenAI-style chat body, with llama-server's validation messages.
#include <nlohmann/json.hpp>

#include <string>

namespace fake_llama {

using json = nlohmann::ordered_json;

// The template /props advertises; render_chat applies it (plus tools and assistant prefill).
extern const char* const chatml_template;

// Throws std::invalid_argument (llama-server answers 400) or std::runtime_error (500).
std::string render_chat(const json& body);

}  // namespace fake_llama
