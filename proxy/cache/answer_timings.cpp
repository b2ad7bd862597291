#include "cache/answer_timings.h"

#include <nlohmann/json.hpp>

namespace slotcache {

namespace {

std::optional<answer_timings> parse_at(std::string_view tail, std::size_t start) {
  while (start < tail.size() && tail[start] == ' ') ++start;
  if (start >= tail.size() || tail[start] != '{') return std::nullopt;
  // The object holds only numbers, so its end is the first closing brace.
  auto end = tail.find('}', start);
  if (end == std::string_view::npos) return std::nullopt;
  auto doc = nlohmann::json::parse(tail.substr(start, end - start + 1), nullptr, false);
  if (!doc.is_object() || !doc.contains("cache_n") || !doc.contains("prompt_n")) return std::nullopt;
  answer_timings t;
  t.cache_n = doc.value("cache_n", 0);
  t.prompt_n = doc.value("prompt_n", 0);
  t.predicted_n = doc.value("predicted_n", 0);
  return t;
}

}  // namespace

std::optional<answer_timings> find_timings(std::string_view tail) {
  static constexpr std::string_view key = "\"timings\":";
  for (auto pos = tail.rfind(key); pos != std::string_view::npos; pos = tail.rfind(key, pos - 1)) {
    if (auto t = parse_at(tail, pos + key.size())) return t;
    if (pos == 0) break;
  }
  return std::nullopt;
}

}  // namespace slotcache
