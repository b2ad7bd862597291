#include "cache/sidecar.h"

#include <nlohmann/json.hpp>

namespace slotcache {
namespace {

using nlohmann::json;

constexpr std::string_view format_tag = "slotcache-checkpoint-1";

std::int64_t to_ms(clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

clock::time_point from_ms(std::int64_t ms) {
  return clock::time_point{std::chrono::duration_cast<clock::duration>(std::chrono::milliseconds{ms})};
}

}  // namespace

std::string encode_sidecar(const sidecar& s) {
  json doc = {
      {"format", format_tag},
      {"id", to_hex(s.cp.id)},
      {"fingerprint", s.fingerprint},
      {"n_tokens", s.cp.n_tokens},
      {"bytes", s.cp.bytes},
      {"created_ms", to_ms(s.cp.created)},
      {"last_used_ms", to_ms(s.cp.last_used)},
      {"hits", s.cp.hits},
  };
  return doc.dump() + "\n";
}

std::optional<sidecar> decode_sidecar(std::string_view text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return std::nullopt;
  auto string_field = [&](const char* key) -> const std::string* {
    auto it = doc.find(key);
    return it != doc.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
  };
  auto unsigned_field = [&](const char* key) -> std::optional<std::uint64_t> {
    auto it = doc.find(key);
    if (it == doc.end() || !it->is_number_unsigned()) return std::nullopt;
    return it->get<std::uint64_t>();
  };
  auto integer_field = [&](const char* key) -> std::optional<std::int64_t> {
    auto it = doc.find(key);
    if (it == doc.end() || !it->is_number_integer()) return std::nullopt;
    return it->get<std::int64_t>();
  };

  const std::string* format = string_field("format");
  const std::string* id_hex = string_field("id");
  const std::string* fingerprint = string_field("fingerprint");
  auto n_tokens = unsigned_field("n_tokens");
  auto bytes = unsigned_field("bytes");
  auto created = integer_field("created_ms");
  auto last_used = integer_field("last_used_ms");
  auto hits = unsigned_field("hits");
  if (!format || *format != format_tag || !id_hex || !fingerprint || !n_tokens || !bytes || !created ||
      !last_used || !hits || *n_tokens > UINT32_MAX) {
    return std::nullopt;
  }
  auto id = hash128_from_hex(*id_hex);
  if (!id) return std::nullopt;

  sidecar s;
  s.cp.id = *id;
  s.cp.n_tokens = static_cast<std::uint32_t>(*n_tokens);
  s.cp.bytes = *bytes;
  s.cp.created = from_ms(*created);
  s.cp.last_used = from_ms(*last_used);
  s.cp.hits = *hits;
  s.fingerprint = *fingerprint;
  return s;
}

}  // namespace slotcache
