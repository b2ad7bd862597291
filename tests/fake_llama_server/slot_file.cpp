#include "slot_file.h"

#include <utility>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace fake_llama {
namespace {

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}

std::uint32_t get_u32(std::string_view in, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}

// Each token's bytes depend on every token before it, like a KV cache entry does.
std::string state_bytes(const tokens& toks, std::size_t bytes_per_token) {
  std::string out;
  out.reserve(toks.size() * bytes_per_token);
  std::uint64_t chain = 0;
  for (token t : toks) {
    chain = XXH64(&t, sizeof t, chain);
    for (std::size_t i = 0; i < bytes_per_token; i += 8) {
      const std::uint64_t word = XXH64(&i, sizeof i, chain);
      for (std::size_t b = 0; b < 8 && i + b < bytes_per_token; ++b) out.push_back(char((word >> (8 * b)) & 0xff));
    }
  }
  return out;
}

// Code point at `at` and its length in bytes; length 0 for malformed or truncated UTF-8.
std::pair<std::uint32_t, std::size_t> utf8_at(std::string_view s, std::size_t at) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[at + i]); };
  const unsigned char lead = byte(0);
  std::size_t len = lead < 0x80 ? 1 : (lead & 0xe0) == 0xc0 ? 2 : (lead & 0xf0) == 0xe0 ? 3 : (lead & 0xf8) == 0xf0 ? 4 : 0;
  if (len == 0 || at + len > s.size()) return {0, 0};
  std::uint32_t cp = len == 1 ? lead : lead & (0x7f >> len);
  for (std::size_t i = 1; i < len; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return {0, 0};
    cp = (cp << 6) | (byte(i) & 0x3f);
  }
  return {cp, len};
}

}  // namespace

bool valid_slot_filename(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  for (std::size_t at = 0; at < name.size();) {
    const auto [c, len] = utf8_at(name, at);
    if (len == 0) return false;
    if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000)) return false;  // overlong
    if (c <= 0x1f || c == 0x7f || (c >= 0x80 && c <= 0x9f) || c == 0xff0e || c == 0x2215 || c == 0x2216 ||
        (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff || c == 0xfffd || c == 0xfeff || c == ':' || c == '*' ||
        c == '?' || c == '"' || c == '<' || c == '>' || c == '|' || c == '/' || c == '\\')
      return false;
    at += len;
  }
  if (name.front() == ' ' || name.back() == ' ' || name.back() == '.') return false;
  return name.find("..") == std::string_view::npos && name != ".";
}

std::string encode_slot_file(const tokens& toks, std::size_t bytes_per_token) {
  std::string out;
  put_u32(out, slot_file_magic);
  put_u32(out, slot_file_version);
  put_u32(out, std::uint32_t(toks.size()));
  for (token t : toks) put_u32(out, std::uint32_t(t));
  out += state_bytes(toks, bytes_per_token);
  return out;
}

std::optional<decoded_slot_file> decode_slot_file(std::string_view bytes, std::size_t n_ctx, std::size_t bytes_per_token) {
  if (bytes.size() < 12 || get_u32(bytes, 0) != slot_file_magic || get_u32(bytes, 4) != slot_file_version) return std::nullopt;
  const std::size_t n = get_u32(bytes, 8);
  const std::size_t size = 12 + 4 * n + n * bytes_per_token;
  if (n > n_ctx || bytes.size() < size) return std::nullopt;
  decoded_slot_file out;
  out.toks.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.toks.push_back(token(get_u32(bytes, 12 + 4 * i)));
  if (bytes.substr(12 + 4 * n, n * bytes_per_token) != state_bytes(out.toks, bytes_per_token)) return std::nullopt;
  out.n_read = size;
  return out;
}

}  // namespace fake_llama
