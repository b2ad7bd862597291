#include "cache/cache_file_names.h"

namespace slotcache {
namespace {

constexpr std::string_view prefix = "sc-";
constexpr std::string_view bin_suffix = ".bin";
constexpr std::string_view sidecar_suffix = ".json";
constexpr std::string_view temp_suffix = ".tmp";
constexpr std::size_t hex_len = 32;

}  // namespace

std::string slot_file_name(const hash128& id) {
  return std::string(prefix) + to_hex(id) + std::string(bin_suffix);
}

std::string sidecar_file_name(const hash128& id) {
  return std::string(prefix) + to_hex(id) + std::string(sidecar_suffix);
}

std::string temp_sidecar_file_name(const hash128& id, std::string_view tag) {
  return sidecar_file_name(id) + "." + std::string(tag) + std::string(temp_suffix);
}

std::optional<cache_file_name> parse_cache_file_name(std::string_view name) {
  if (!name.starts_with(prefix) || name.size() < prefix.size() + hex_len) return std::nullopt;
  auto id = hash128_from_hex(name.substr(prefix.size(), hex_len));
  if (!id) return std::nullopt;
  std::string_view rest = name.substr(prefix.size() + hex_len);
  if (rest == bin_suffix) return cache_file_name{cache_file_kind::slot_file, *id};
  if (rest == sidecar_suffix) return cache_file_name{cache_file_kind::sidecar, *id};
  if (rest.starts_with(sidecar_suffix) && rest.ends_with(temp_suffix) &&
      rest.size() > sidecar_suffix.size() + 1 + temp_suffix.size() && rest[sidecar_suffix.size()] == '.') {
    return cache_file_name{cache_file_kind::temp_sidecar, *id};
  }
  return std::nullopt;
}

}  // namespace slotcache
