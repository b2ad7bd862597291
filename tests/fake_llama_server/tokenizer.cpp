#include "tokenizer.h"

#include <array>
#include <utility>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace fake_llama {
namespace {

constexpr std::array<std::pair<std::string_view, token>, 4> specials{{
    {"<s>", bos_id}, {"</s>", eos_id}, {"<|im_start|>", im_start_id}, {"<|im_end|>", im_end_id}}};

// Bytes of multi-byte UTF-8 sequences count as letters so that non-ASCII words stay whole.
bool is_word_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

}  // namespace

tokenizer::tokenizer() {
  for (const auto& [text, id] : specials) pieces_.emplace(id, std::string(text));
  pieces_.emplace(0, "<unk>");
}

std::vector<std::string_view> tokenizer::split(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t j = i;
    if (text[i] == ' ' && i + 1 < text.size() && is_word_char(text[i + 1])) ++j;
    if (is_word_char(text[j])) {
      while (j < text.size() && is_word_char(text[j])) ++j;
    } else {
      j = i + 1;
    }
    out.push_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

token tokenizer::text_id(std::string_view piece) {
  return first_text_id + static_cast<token>(XXH64(piece.data(), piece.size(), 0) % (n_vocab - first_text_id));
}

void tokenizer::remember(std::string_view piece) { pieces_.try_emplace(text_id(piece), piece); }

tokens tokenizer::tokenize(std::string_view text, bool add_special, bool parse_special) {
  tokens out;
  if (add_special) out.push_back(bos_id);
  auto add_text = [&](std::string_view part) {
    for (auto piece : split(part)) {
      remember(piece);
      out.push_back(text_id(piece));
    }
  };
  while (!text.empty()) {
    std::size_t at = std::string_view::npos;
    std::pair<std::string_view, token> found{};
    if (parse_special) {
      for (const auto& special : specials) {
        auto pos = text.find(special.first);
        if (pos < at) at = pos, found = special;
      }
    }
    add_text(text.substr(0, at));
    if (at == std::string_view::npos) break;
    out.push_back(found.second);
    text.remove_prefix(at + found.first.size());
  }
  return out;
}

std::string tokenizer::piece(token id) const {
  auto it = pieces_.find(id);
  return it != pieces_.end() ? it->second : "<tok" + std::to_string(id) + ">";
}

std::string tokenizer::detokenize(const tokens& ids) const {
  std::string out;
  for (token id : ids) out += piece(id);
  return out;
}

}  // namespace fake_llama
