#pragma once

#include <string>
#include <string_view>

namespace slotcache {

// llama-server's error shape: {"error":{"code":N,"message":"...","type":"..."}}.
std::string error_body(unsigned code, std::string_view message);
std::string error_body(unsigned code, std::string_view message, std::string_view type);

// The "type" llama-server uses for a status code.
std::string_view error_type_for(unsigned code);

}  // namespace slotcache
