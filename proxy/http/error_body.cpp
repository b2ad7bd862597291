#include "http/error_body.h"

#include <nlohmann/json.hpp>

namespace slotcache {

std::string_view error_type_for(unsigned code) {
  switch (code) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 501: return "not_supported_error";
    case 502:
    case 503:
    case 504: return "unavailable_error";
    default: return code >= 500 ? "server_error" : "invalid_request_error";
  }
}

std::string error_body(unsigned code, std::string_view message) {
  return error_body(code, message, error_type_for(code));
}

std::string error_body(unsigned code, std::string_view message, std::string_view type) {
  nlohmann::ordered_json doc;
  doc["error"]["code"] = code;
  doc["error"]["message"] = message;
  doc["error"]["type"] = type;
  // Messages may quote bytes from a malformed request; never fail on invalid UTF-8.
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace slotcache
