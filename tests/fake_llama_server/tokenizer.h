#pragma once
// A word-level tokenizer whose ids are a stable hash of each piece, so that every process and
// every restart agrees on them (slotcache persists token ids on disk across restarts).
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fake_llama {

using token = std::int32_t;
using tokens = std::vector<token>;

inline constexpr token bos_id = 1;
inline constexpr token eos_id = 2;
inline constexpr token im_start_id = 3;
inline constexpr token im_end_id = 4;
inline constexpr token first_text_id = 5;
inline constexpr token n_vocab = 32000;

class tokenizer {
public:
  tokenizer();

  // Like llama_tokenize: add_special prepends BOS, parse_special turns special-token text into
  // single ids (otherwise that text is split like any other).
  tokens tokenize(std::string_view text, bool add_special, bool parse_special);

  // Pieces of plain text. A piece never spans a newline or punctuation, so the tokens of a text
  // ending in a newline are a prefix of the tokens of any longer text starting with it.
  static std::vector<std::string_view> split(std::string_view text);
  static token text_id(std::string_view piece);

  // Pieces seen by this process (plus specials and generated words); other ids render as <tokN>.
  std::string piece(token id) const;
  std::string detokenize(const tokens& ids) const;
  void remember(std::string_view piece);

private:
  std::unordered_map<token, std::string> pieces_;
};

}  // namespace fake_llama
