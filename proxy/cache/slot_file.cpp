#include "cache/slot_file.h"

#include <bit>
#include <cstring>

namespace slotcache {
namespace {

static_assert(std::endian::native == std::endian::little, "slot files are read in place as little-endian");

std::uint32_t load_u32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

void append_u32(std::string& out, std::uint32_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }

}  // namespace

std::string_view to_string(slot_file_error e) {
  switch (e) {
    case slot_file_error::unreadable: return "unreadable";
    case slot_file_error::truncated: return "truncated";
    case slot_file_error::bad_magic: return "bad magic";
    case slot_file_error::bad_version: return "unsupported version";
  }
  return "unknown";
}

result<std::uint32_t, slot_file_error> parse_slot_header(std::string_view head) {
  if (head.size() < slot_header_bytes) return slot_file_error::truncated;
  if (load_u32(head.data()) != slot_file_magic) return slot_file_error::bad_magic;
  if (load_u32(head.data() + 4) != slot_file_version) return slot_file_error::bad_version;
  return load_u32(head.data() + 8);
}

result<std::vector<token_id>, slot_file_error> read_slot_tokens(file_ops& fs, const std::filesystem::path& file,
                                                                std::uint64_t file_size) {
  std::string head;
  if (fs.read(file, 0, slot_header_bytes, head)) return slot_file_error::unreadable;
  auto n = parse_slot_header(head);
  if (!n) return n.error();
  // Check against the size before allocating: a corrupt count must not become a huge allocation.
  const std::uint64_t token_bytes = std::uint64_t{n.value()} * sizeof(token_id);
  if (slot_header_bytes + token_bytes > file_size) return slot_file_error::truncated;
  std::string raw;
  if (fs.read(file, slot_header_bytes, static_cast<std::size_t>(token_bytes), raw)) return slot_file_error::unreadable;
  if (raw.size() != token_bytes) return slot_file_error::truncated;
  std::vector<token_id> tokens(n.value());
  std::memcpy(tokens.data(), raw.data(), raw.size());
  return tokens;
}

std::string encode_slot_file(token_span tokens, std::string_view state) {
  std::string out;
  out.reserve(slot_header_bytes + tokens.size_bytes() + state.size());
  append_u32(out, slot_file_magic);
  append_u32(out, slot_file_version);
  append_u32(out, static_cast<std::uint32_t>(tokens.size()));
  out.append(reinterpret_cast<const char*>(tokens.data()), tokens.size_bytes());
  out.append(state);
  return out;
}

}  // namespace slotcache
