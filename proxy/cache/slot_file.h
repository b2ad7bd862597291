#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "cache/file_ops.h"
#include "cache/result.h"
#include "cache/tokens.h"

namespace slotcache {

// The head of a llama-server slot file (llama_state_seq_save_file), all little-endian:
//
//   u32 magic 0x67677371 ('ggsq') | u32 version 2 | u32 n_tokens | i32 tokens[n_tokens] | opaque state
inline constexpr std::uint32_t slot_file_magic = 0x67677371;
inline constexpr std::uint32_t slot_file_version = 2;
inline constexpr std::size_t slot_header_bytes = 12;

enum class slot_file_error {
  unreadable,   // I/O error (or the file vanished)
  truncated,    // shorter than its header says
  bad_magic,
  bad_version,
};

std::string_view to_string(slot_file_error e);

// n_tokens from the first 12 bytes.
result<std::uint32_t, slot_file_error> parse_slot_header(std::string_view head);

// The token list of a slot file of `file_size` bytes, read through `fs`: two small reads, never the
// state itself.
result<std::vector<token_id>, slot_file_error> read_slot_tokens(file_ops& fs, const std::filesystem::path& file,
                                                                std::uint64_t file_size);

// A slot file as llama-server writes it, for tests, benchmarks and the fake backend.
std::string encode_slot_file(token_span tokens, std::string_view state);

}  // namespace slotcache
