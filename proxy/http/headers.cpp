#include "http/headers.h"

#include <string>
#include <vector>

#include <boost/beast/http/field.hpp>

namespace slotcache {
namespace http = boost::beast::http;

namespace {

std::vector<std::string> connection_tokens(const http::fields& fields) {
  std::vector<std::string> tokens;
  for (auto it = fields.find(http::field::connection); it != fields.end() && it->name() == http::field::connection;
       ++it) {
    std::string_view value = it->value();
    while (!value.empty()) {
      auto comma = value.find(',');
      std::string_view token = value.substr(0, comma);
      while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
      if (!token.empty()) tokens.emplace_back(token);
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  return tokens;
}

}  // namespace

void strip_hop_by_hop(http::fields& fields, bool keep_framing) {
  for (const auto& token : connection_tokens(fields)) {
    // "Connection: close/keep-alive" are options, not field names, but erasing them is harmless;
    // framing fields must survive a "Connection: transfer-encoding" trick when asked to.
    if (keep_framing && http::string_to_field(token) == http::field::transfer_encoding) continue;
    fields.erase(token);
  }
  for (auto f : {http::field::connection, http::field::keep_alive, http::field::proxy_connection, http::field::te,
                 http::field::trailer, http::field::upgrade, http::field::proxy_authorization,
                 http::field::proxy_authenticate})
    fields.erase(f);
  if (!keep_framing) fields.erase(http::field::transfer_encoding);
}

void append_via(http::fields& fields, unsigned version) {
  std::string hop = std::to_string(version / 10) + "." + std::to_string(version % 10) + " slotcache";
  auto it = fields.find(http::field::via);
  if (it == fields.end()) {
    fields.set(http::field::via, hop);
  } else {
    std::string value(it->value());
    fields.set(http::field::via, value + ", " + hop);
  }
}

}  // namespace slotcache
