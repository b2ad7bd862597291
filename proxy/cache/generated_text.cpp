#include "cache/generated_text.h"

#include <nlohmann/json.hpp>

namespace slotcache {
using nlohmann::json;

namespace {

// Appends what one answer object (or event) generated; false when it cannot be told exactly.
bool append_from(const json& doc, std::string& out) {
  if (!doc.is_object()) return false;
  if (auto c = doc.find("content"); c != doc.end() && !doc.contains("choices")) {  // /completion
    if (!c->is_string()) return false;
    out += c->get<std::string>();
    return true;
  }
  auto choices = doc.find("choices");
  if (choices == doc.end() || !choices->is_array()) return false;
  if (choices->empty()) return true;  // e.g. a usage-only event
  if (choices->size() != 1) return false;
  const json& choice = (*choices)[0];
  for (const char* part : {"message", "delta"}) {
    auto m = choice.find(part);
    if (m == choice.end()) continue;
    if (!m->is_object() || m->contains("tool_calls") || m->contains("reasoning_content")) return false;
    auto c = m->find("content");
    if (c != m->end() && c->is_string()) out += c->get<std::string>();
    else if (c != m->end() && !c->is_null()) return false;
    return true;
  }
  if (auto t = choice.find("text"); t != choice.end() && t->is_string()) {  // /v1/completions
    out += t->get<std::string>();
    return true;
  }
  return false;
}

}  // namespace

std::optional<std::string> generated_text(std::string_view body) {
  std::string out;
  if (body.substr(0, 6) != "data: " && body.find("\ndata: ") == std::string_view::npos) {
    auto doc = json::parse(body, nullptr, false);
    if (doc.is_discarded() || !append_from(doc, out)) return std::nullopt;
    return out;
  }
  bool any = false;
  std::size_t pos = 0;
  while (pos < body.size()) {
    auto end = body.find("\n\n", pos);
    if (end == std::string_view::npos) return std::nullopt;  // a cut event: not whole
    std::string_view event = body.substr(pos, end - pos);
    pos = end + 2;
    if (event.substr(0, 6) != "data: ") return std::nullopt;
    event.remove_prefix(6);
    if (event == "[DONE]") continue;
    auto doc = json::parse(event, nullptr, false);
    if (doc.is_discarded() || !append_from(doc, out)) return std::nullopt;
    any = true;
  }
  if (!any) return std::nullopt;
  return out;
}

}  // namespace slotcache
