#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "cache/tokens.h"

namespace slotcache {

// How the backend will turn a prompt-bearing request into tokens.
enum class prompt_form {
  chat,         // messages: rendered by /apply-template, then tokenized
  text,         // a prompt string: tokenized
  tokens,       // a prompt of token ids: used as it is
  unsupported,  // multimodal, several prompts, cache_prompt:false, unknown shapes: relayed uncached
};

struct prompt_request {
  prompt_form form = prompt_form::unsupported;
  std::string text;              // form == text
  std::vector<token_id> tokens;  // form == tokens
  std::string why;               // form == unsupported: why
};

// Pure: reads the request body as llama-server would, for the endpoint `path` (query stripped).
prompt_request classify_prompt(std::string_view path, const nlohmann::json& body);

}  // namespace slotcache
