#include "chat_template.h"

#include <stdexcept>

namespace fake_llama {

const char* const chatml_template =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

namespace {

// Text parts are joined with newlines, as llama-server does for string-only templates.
std::string content_text(const json& message) {
  if (!message.contains("content")) return {};
  const json& content = message.at("content");
  if (content.is_null()) return {};
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) throw std::invalid_argument("Expected 'content' to be a string or an array");
  std::string text;
  for (const json& part : content) {
    const std::string type = part.is_object() ? part.value("type", "") : "";
    if (type == "image_url" || type == "input_audio" || type == "input_video")
      throw std::runtime_error("image input is not supported - hint: if this is unexpected, you may need to provide the mmproj");
    if (type != "text") throw std::invalid_argument("unsupported content[].type");
    if (!text.empty()) text += '\n';
    text += part.value("text", "");
  }
  return text;
}

// Tool definitions go into the system turn so that they change the prompt deterministically.
std::string tools_text(const json& tools) {
  std::string text = "# Tools\n\n";
  for (const json& tool : tools) text += tool.dump() + "\n";
  return text;
}

}  // namespace

std::string render_chat(const json& body) {
  if (!body.contains("messages")) throw std::invalid_argument("'messages' is required");
  const json& messages = body.at("messages");
  if (!messages.is_array()) throw std::invalid_argument("Expected 'messages' to be an array");

  struct turn { std::string role, text; };
  std::vector<turn> turns;
  for (const json& message : messages) {
    const std::string role = message.is_object() && message.contains("role") && message["role"].is_string()
                                 ? message["role"].get<std::string>() : "";
    if (role != "assistant" && !message.contains("content"))
      throw std::invalid_argument("All non-assistant messages must contain 'content'");
    if (role == "assistant" && !message.contains("content") && !message.contains("tool_calls"))
      throw std::invalid_argument("Assistant message must contain either 'content' or 'tool_calls'!");
    turns.push_back({role, content_text(message)});
  }

  const json tools = body.contains("tools") ? body.at("tools") : json();
  if (tools.is_array() && !tools.empty()) {
    if (!turns.empty() && turns.front().role == "system")
      turns.front().text += "\n\n" + tools_text(tools);
    else
      turns.insert(turns.begin(), {"system", tools_text(tools)});
  }

  bool add_generation_prompt = body.value("add_generation_prompt", true);
  // A trailing assistant message is continued (llama-server's default assistant prefill).
  const bool prefill = !turns.empty() && turns.back().role == "assistant";
  if (prefill) {
    if (turns.size() >= 2 && turns[turns.size() - 2].role == "assistant")
      throw std::invalid_argument("Cannot have 2 or more assistant messages at the end of the list.");
    add_generation_prompt = false;
  }

  std::string prompt;
  for (std::size_t i = 0; i < turns.size(); ++i) {
    prompt += "<|im_start|>" + turns[i].role + "\n" + turns[i].text;
    if (!(prefill && i + 1 == turns.size())) prompt += "<|im_end|>\n";
  }
  if (add_generation_prompt) prompt += "<|im_start|>assistant\n";
  return prompt;
}

}  // namespace fake_llama
