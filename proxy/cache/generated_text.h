#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace slotcache {

// Pure: the text a completion generated, from the whole body of its answer (JSON, or server-sent
// events for a stream): chat `message.content` / `delta.content`, `/v1/completions` `text`,
// `/completion` `content`. nullopt when it cannot be told exactly (reasoning or tool calls, which
// templates render differently, several choices, or an answer that is not whole).
std::optional<std::string> generated_text(std::string_view body);

}  // namespace slotcache
