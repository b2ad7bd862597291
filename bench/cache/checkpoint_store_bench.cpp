// Checkpoint store figures: start-up rebuild of 10,000 small synthetic checkpoints, publish and
// lookup cost. Prints; asserts nothing.
//
//   bench_checkpoint_store [checkpoints=10000] [dir=<new temp dir>]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "cache/cache_file_names.h"
#include "cache/checkpoint_store.h"
#include "cache/sidecar.h"
#include "cache/slot_file.h"

using namespace slotcache;
using bench_clock = std::chrono::steady_clock;

namespace {

const std::string fingerprint = "0123456789abcdef0123456789abcdef";

double ms_since(bench_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(bench_clock::now() - start).count();
}

void write(const std::filesystem::path& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 10000;
  std::filesystem::path dir;
  bool own_dir = false;
  if (argc > 2) {
    dir = argv[2];
    std::filesystem::create_directories(dir);
  } else {
    std::string pattern = (std::filesystem::temp_directory_path() / "slotcache-bench-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) return 1;
    dir = pattern;
    own_dir = true;
  }

  // 100 conversations; checkpoints every 64 tokens along each, 100 per conversation (64 to 6400
  // tokens), 4 KiB of state each: small files, realistic token headers.
  std::mt19937 rng(7);
  std::uniform_int_distribution<token_id> vocab(0, 31999);
  const std::size_t per_conv = 100;
  const std::size_t convs = (n + per_conv - 1) / per_conv;
  std::vector<std::vector<token_id>> conversations(convs, std::vector<token_id>(64 * per_conv));
  for (auto& c : conversations)
    for (auto& t : c) t = vocab(rng);
  const std::string state(4096, 's');
  const auto now = std::chrono::system_clock::now();

  auto start = bench_clock::now();
  std::uint64_t bytes = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& conv = conversations[i / per_conv];
    const token_span tokens = token_span(conv).first(64 * (i % per_conv + 1));
    const hash128 id = hash_prefix(fingerprint, tokens);
    const std::string slot = encode_slot_file(tokens, state);
    write(dir / slot_file_name(id), slot);
    sidecar s;
    s.cp.id = id;
    s.cp.n_tokens = static_cast<std::uint32_t>(tokens.size());
    s.cp.bytes = slot.size();
    s.cp.created = s.cp.last_used = now;
    s.fingerprint = fingerprint;
    write(dir / sidecar_file_name(id), encode_sidecar(s));
    bytes += slot.size();
  }
  const double setup_ms = ms_since(start);

  real_clock clk;
  posix_file_ops fs;
  store_options options;
  options.dir = dir;
  options.max_bytes = std::uint64_t{1} << 40;

  double rebuild_ms = 0;
  std::size_t indexed = 0;
  {
    checkpoint_store store(options, fingerprint, clk, fs);
    start = bench_clock::now();
    const auto report = store.rebuild();
    rebuild_ms = ms_since(start);
    indexed = report.indexed;

    // Lookup through the store (mutex, tree, lease) for a 6400-token prompt.
    const int rounds = 20000;
    start = bench_clock::now();
    std::size_t sink = 0;
    for (int r = 0; r < rounds; ++r) {
      const auto& conv = conversations[static_cast<std::size_t>(r) % convs];
      auto found = store.acquire_longest_prefix(conv, conv.size() - 1);
      sink += found.lease ? found.lease->n_tokens() : 0;
    }
    const double lookup_us = ms_since(start) * 1000 / rounds;

    // Publish (verify, fsync, atomic sidecar) of new checkpoints, file already written by "the backend".
    const int publishes = 200;
    std::vector<std::vector<token_id>> fresh(publishes, std::vector<token_id>(512));
    for (auto& f : fresh)
      for (auto& t : f) t = vocab(rng);
    double publish_ms = 0;
    for (auto& f : fresh) {
      auto ticket = store.reserve(f);
      if (!ticket) continue;
      const std::string slot = encode_slot_file(f, state);
      write(dir / ticket->file_name(), slot);
      const auto t0 = bench_clock::now();
      store.publish(std::move(ticket).value(), f, slot.size());
      publish_ms += ms_since(t0);
    }

    std::printf("checkpoint store: %zu checkpoints, %.1f MiB, in %s\n", n, bytes / 1048576.0, dir.c_str());
    std::printf("  writing the synthetic files: %.0f ms\n", setup_ms);
    std::printf("  rebuild (list, read sidecars and token headers, verify, index): %.0f ms for %zu indexed"
                " (%.1f us each; page cache warm)\n",
                rebuild_ms, indexed, rebuild_ms * 1000 / static_cast<double>(indexed ? indexed : 1));
    std::printf("  acquire_longest_prefix + release, 6400-token prompt: %.1f us\n", lookup_us);
    std::printf("  publish (stat, header check, 2 fsyncs + dir fsync, index): %.2f ms each\n",
                publish_ms / publishes);
    std::printf("(checksum %zu)\n", sink);
  }
  if (own_dir) std::filesystem::remove_all(dir);
  return 0;
}
