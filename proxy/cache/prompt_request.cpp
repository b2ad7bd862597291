#include "cache/prompt_request.h"

#include <nlohmann/json.hpp>

namespace slotcache {
using nlohmann::json;

namespace {

prompt_request unsupported(std::string why) {
  prompt_request r;
  r.why = std::move(why);
  return r;
}

// Text parts only; images, audio and files are processed by the backend's multimodal path,
// whose tokens /tokenize cannot predict.
bool text_only(const json& content) {
  if (content.is_string() || content.is_null()) return true;
  if (!content.is_array()) return false;
  for (const auto& part : content)
    if (!part.is_object() || part.value("type", "") != "text") return false;
  return true;
}

}  // namespace

prompt_request classify_prompt(std::string_view path, const json& body) {
  if (!body.is_object()) return unsupported("body is not a JSON object");
  if (auto it = body.find("cache_prompt"); it != body.end() && it->is_boolean() && !it->get<bool>())
    return unsupported("cache_prompt is false");

  if (path.ends_with("chat/completions")) {
    auto messages = body.find("messages");
    if (messages == body.end() || !messages->is_array() || messages->empty()) return unsupported("no messages");
    for (const auto& m : *messages) {
      if (!m.is_object()) return unsupported("a message is not an object");
      if (auto c = m.find("content"); c != m.end() && !text_only(*c)) return unsupported("multimodal content");
    }
    prompt_request r;
    r.form = prompt_form::chat;
    return r;
  }

  auto prompt = body.find("prompt");
  if (prompt == body.end()) return unsupported("no prompt");
  // One prompt in an array is the same prompt; several are several tasks.
  const json* p = &*prompt;
  if (p->is_array() && p->size() == 1 && ((*p)[0].is_string() || (*p)[0].is_array())) p = &(*p)[0];
  if (p->is_string()) {
    prompt_request r;
    r.form = prompt_form::text;
    r.text = p->get<std::string>();
    if (r.text.empty()) return unsupported("empty prompt");
    return r;
  }
  if (p->is_array() && !p->empty()) {
    prompt_request r;
    r.form = prompt_form::tokens;
    r.tokens.reserve(p->size());
    for (const auto& t : *p) {
      if (!t.is_number_integer()) return unsupported("prompt mixes token ids with other values");
      r.tokens.push_back(t.get<token_id>());
    }
    return r;
  }
  return unsupported("prompt of an unknown shape");
}

}  // namespace slotcache
