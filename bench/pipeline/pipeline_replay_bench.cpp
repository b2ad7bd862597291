// Replays interleaved long conversations on fewer slots than conversations, against llama-server
// directly and through slotcache, and prints what the backend computed and how long the first
// token took. Needs a real backend: SLOTCACHE_LLAMA_SERVER (binary) and a model (default
// tiny-granitehybrid.gguf from ../shared/models, or --model PATH).
//
// Usage: pipeline_replay_bench [--model PATH] [--conversations 8] [--slots 2] [--context 16000]
//                              [--turns 4] [--turn-tokens 600]
// Both arms use the same backend flags (-np SLOTS --no-cache-idle-slots --cache-ram 0) and a fresh
// backend process, so neither inherits the other's state.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "fixtures.h"

using namespace slotcache::test;
using nlohmann::json;
using namespace std::chrono;

namespace {

struct options {
  std::string model;
  int conversations = 8;
  int slots = 2;
  int context = 16000;  // tokens a conversation reaches by its last turn, roughly
  int turns = 4;
  int turn_tokens = 600;
};

struct arm_result {
  std::vector<double> ttft_ms;
  long long prompt_tokens = 0;    // of the requests
  long long computed_tokens = 0;  // by the backend, prefills included (llamacpp:prompt_tokens_total)
  long long reused_tokens = 0;    // timings.cache_n summed
  double seconds = 0;
  std::uintmax_t cache_bytes = 0;
  double save_ms = 0, restore_ms = 0, tokenize_ms = 0;
  int saves = 0, restores = 0;
};

// About one token a word on a llama-style vocabulary; `seed` makes each text its own.
std::string words(unsigned seed, int n) {
  static const char* vocab[] = {"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "and", "then",
                                "runs", "into", "green", "field", "where", "small", "birds", "sing", "every",
                                "morning", "under", "bright", "blue", "sky", "while", "old", "trees", "stand",
                                "still", "near", "river", "bank"};
  std::string out;
  unsigned x = seed * 2654435761u + 1;
  for (int i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    out += (i ? " " : "");
    out += vocab[(x >> 16) % (sizeof vocab / sizeof *vocab)];
  }
  return out;
}

long long metric(int port, const std::string& name) {
  auto res = http_call(port, "GET", "/metrics");
  std::regex re("\n" + name + " ([0-9.e+]+)");
  std::smatch m;
  return std::regex_search(res.body, m, re) ? static_cast<long long>(std::stod(m[1])) : -1;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// One streamed chat turn: time to the first content event, and the final timings.
void turn(int port, json& messages, arm_result& r) {
  test_connection c(port);
  json body = {{"messages", messages}, {"max_tokens", 8}, {"temperature", 0}, {"stream", true}};
  auto t0 = steady_clock::now();
  c.send_request("POST", "/v1/chat/completions", body.dump());
  auto head = c.read_header(seconds(600));
  if (head.status != 200) {
    std::string body;
    while (auto piece = c.read_body_piece(seconds(10))) body += *piece;
    throw std::runtime_error("status " + std::to_string(head.status) + ": " + body);
  }
  std::string all;
  bool first = false;
  while (auto piece = c.read_body_piece(seconds(600))) {
    all += *piece;
    if (!first && all.find("\"content\":\"") != std::string::npos) {
      first = true;
      r.ttft_ms.push_back(duration<double, std::milli>(steady_clock::now() - t0).count());
    }
  }
  std::string content;
  for (std::size_t pos = 0; (pos = all.find("data: {", pos)) != std::string::npos; ++pos) {
    auto end = all.find("\n\n", pos);
    auto ev = json::parse(all.substr(pos + 6, end - pos - 6), nullptr, false);
    if (ev.is_discarded()) continue;
    if (ev.contains("choices") && !ev["choices"].empty() && ev["choices"][0]["delta"].contains("content") &&
        ev["choices"][0]["delta"]["content"].is_string())
      content += ev["choices"][0]["delta"]["content"].get<std::string>();
    if (ev.contains("timings")) {
      r.reused_tokens += ev["timings"]["cache_n"].get<long long>();
      r.prompt_tokens += ev["timings"]["cache_n"].get<long long>() + ev["timings"]["prompt_n"].get<long long>();
    }
  }
  messages.push_back({{"role", "assistant"}, {"content", content}});
}

arm_result run_arm(const options& opt, bool via) {
  temp_dir cache;
  std::vector<std::string> backend_args = {"-np", std::to_string(opt.slots), "--cache-ram", "0", "--metrics",
                                           "--slot-save-path", cache.path().string(), "-c",
                                           std::to_string(opt.slots * (opt.context + 2000))};
  llama_server backend(opt.model, backend_args);
  std::unique_ptr<slotcache_process> proxy;
  if (via)
    proxy = std::make_unique<slotcache_process>(
        backend.url(), std::vector<std::string>{"--cache-dir", cache.path().string(), "--log-level", "debug",
                                                "--access-log", "false"});
  const int port = via ? proxy->port() : backend.port();

  // Each conversation: a long document of its own, then user turns, interleaved round robin.
  const int doc_words = std::max(100, opt.context - opt.turns * (opt.turn_tokens + 30));
  std::vector<json> convs;
  for (int i = 0; i < opt.conversations; ++i)
    convs.push_back(json::array({{{"role", "system"}, {"content", words(static_cast<unsigned>(i + 1), doc_words)}}}));
  arm_result r;
  auto t0 = steady_clock::now();
  for (int t = 0; t < opt.turns; ++t)
    for (int i = 0; i < opt.conversations; ++i) {
      convs[static_cast<std::size_t>(i)].push_back(
          {{"role", "user"}, {"content", words(static_cast<unsigned>(1000 * (t + 1) + i), opt.turn_tokens)}});
      turn(port, convs[static_cast<std::size_t>(i)], r);
      std::fprintf(stderr, "\r  %s: turn %d/%d, conversation %d/%d   ", via ? "via   " : "direct", t + 1, opt.turns, i + 1,
                   opt.conversations);
    }
  r.seconds = duration<double>(steady_clock::now() - t0).count();
  r.computed_tokens = metric(backend.port(), "llamacpp:prompt_tokens_total");
  for (const auto& f : std::filesystem::directory_iterator(cache.path()))
    if (f.is_regular_file()) r.cache_bytes += f.file_size();
  if (proxy) {
    static const std::regex saved(R"(saved .* bytes, ([0-9.]+) ms\))"), restored(R"(restored .* \(([0-9.]+) ms\))"),
        tokenized(R"(tokenized in ([0-9.]+) ms)");
    for (const auto& line : proxy->process().lines()) {
      std::smatch m;
      if (std::regex_search(line, m, saved)) r.save_ms += std::stod(m[1]), ++r.saves;
      if (std::regex_search(line, m, restored)) r.restore_ms += std::stod(m[1]), ++r.restores;
      if (std::regex_search(line, m, tokenized)) r.tokenize_ms += std::stod(m[1]);
    }
  }
  std::fprintf(stderr, "\n");
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  opt.model = llama_server::model_path("tiny-granitehybrid.gguf");
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") opt.model = v;
    else if (k == "--conversations") opt.conversations = std::stoi(v);
    else if (k == "--slots") opt.slots = std::stoi(v);
    else if (k == "--context") opt.context = std::stoi(v);
    else if (k == "--turns") opt.turns = std::stoi(v);
    else if (k == "--turn-tokens") opt.turn_tokens = std::stoi(v);
  }
  if (!llama_server::available()) {
    std::printf("pipeline_replay_bench: set SLOTCACHE_LLAMA_SERVER to a llama-server binary to run it\n");
    return 0;
  }
  std::printf("replay: %d conversations x %d turns on %d slots, contexts up to ~%d tokens, model %s\n",
              opt.conversations, opt.turns, opt.slots, opt.context,
              std::filesystem::path(opt.model).filename().c_str());
  auto direct = run_arm(opt, false);
  auto via = run_arm(opt, true);
  auto row = [](const char* name, const arm_result& r) {
    std::printf("  %-7s prompt tokens %8lld  computed %8lld  reused %8lld  median TTFT %8.1f ms  wall %6.1f s\n", name,
                r.prompt_tokens, r.computed_tokens, r.reused_tokens, median(r.ttft_ms), r.seconds);
  };
  row("direct", direct);
  row("via", via);
  std::printf("  tokens computed: %.1fx fewer (target >= 5x); median TTFT %.1fx lower (target >= 3x)\n",
              static_cast<double>(direct.computed_tokens) / std::max(1LL, via.computed_tokens),
              median(direct.ttft_ms) / std::max(0.001, median(via.ttft_ms)));
  const int requests = opt.conversations * opt.turns;
  std::printf("  cache: %.1f MiB written in all, %.2f MiB per request; %d saves (%.0f ms in the backend), "
              "%d restores (%.0f ms)\n",
              via.cache_bytes / 1048576.0, via.cache_bytes / 1048576.0 / requests, via.saves, via.save_ms,
              via.restores, via.restore_ms);
  std::printf("  tokenizing through the backend: %.1f ms per request, %.2f us per prompt token\n",
              via.tokenize_ms / requests, 1000.0 * via.tokenize_ms / std::max(1LL, via.prompt_tokens));
  return 0;
}
