#pragma once
// llama.cpp's sequence state file (llama_state_seq_save_file): u32 magic 'ggsq', u32 version 2,
// u32 n_tokens, int32 tokens[n_tokens], then the state. Here the state is bytes_per_token bytes
// per token, a function of the token prefix, so that a restore can verify them.
#include "tokenizer.h"

#include <optional>
#include <string>
#include <string_view>

namespace fake_llama {

inline constexpr std::uint32_t slot_file_magic = 0x67677371;
inline constexpr std::uint32_t slot_file_version = 2;

// llama.cpp's fs_validate_filename (no subdirectories): what POST /slots accepts as a filename.
bool valid_slot_filename(std::string_view name);

std::string encode_slot_file(const tokens& toks, std::size_t bytes_per_token);

struct decoded_slot_file {
  tokens toks;
  std::size_t n_read = 0;  // bytes consumed; trailing bytes are ignored like llama.cpp does
};

// nullopt for anything llama.cpp would refuse: bad magic or version, more tokens than n_ctx,
// short file, state that does not match the tokens.
std::optional<decoded_slot_file> decode_slot_file(std::string_view bytes, std::size_t n_ctx, std::size_t bytes_per_token);

}  // namespace fake_llama
