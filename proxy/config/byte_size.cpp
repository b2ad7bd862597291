#include "config/byte_size.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>

namespace slotcache {

std::optional<std::uint64_t> parse_byte_size(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  double multiplier = 1;
  char last = static_cast<char>(std::toupper(static_cast<unsigned char>(text.back())));
  if (last == 'B' && text.size() >= 2 && std::isalpha(static_cast<unsigned char>(text[text.size() - 2]))) {
    text.remove_suffix(1);  // "64MB", "64MiB" are read as "64M"
    last = static_cast<char>(std::toupper(static_cast<unsigned char>(text.back())));
    if (last == 'I') {
      text.remove_suffix(1);
      last = static_cast<char>(std::toupper(static_cast<unsigned char>(text.back())));
    }
  }
  switch (last) {
    case 'K': multiplier = 1024.0; break;
    case 'M': multiplier = 1024.0 * 1024; break;
    case 'G': multiplier = 1024.0 * 1024 * 1024; break;
    case 'T': multiplier = 1024.0 * 1024 * 1024 * 1024; break;
    default: break;
  }
  if (multiplier != 1) text.remove_suffix(1);
  if (text.empty() || !(std::isdigit(static_cast<unsigned char>(text.front())))) return std::nullopt;
  std::string number(text);
  char* end = nullptr;
  double value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !std::isfinite(value) || value < 0) return std::nullopt;
  double bytes = std::floor(value * multiplier);
  if (bytes >= 18446744073709551615.0) return std::nullopt;
  return static_cast<std::uint64_t>(bytes);
}

}  // namespace slotcache
