#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cache/slot_file.h"
#include "cache/tokens.h"

namespace slotcache::test {

// What llama-server does on POST /slots/{id}?action=save: writes the slot file itself into the
// shared directory and answers n_written.
inline std::string fake_state(std::size_t bytes, std::uint32_t seed = 7) {
  std::string state(bytes, '\0');
  for (std::size_t i = 0; i < bytes; ++i) state[i] = static_cast<char>((i * 131 + seed * 17) & 0xff);
  return state;
}

inline void write_file(const std::filesystem::path& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::uint64_t backend_save(const std::filesystem::path& file, const std::vector<token_id>& tokens,
                                  std::size_t state_bytes) {
  const std::string bytes = encode_slot_file(tokens, fake_state(state_bytes, static_cast<std::uint32_t>(tokens.size())));
  write_file(file, bytes);
  return bytes.size();
}

inline std::vector<token_id> iota_tokens(std::size_t n, token_id first = 1) {
  std::vector<token_id> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = first + static_cast<token_id>(i);
  return v;
}

inline std::vector<token_id> concat(std::vector<token_id> a, const std::vector<token_id>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace slotcache::test
