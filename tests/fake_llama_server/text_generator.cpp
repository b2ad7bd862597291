#include "text_generator.h"

#include <array>
#include <string_view>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace fake_llama {
namespace {

// Each word is a single piece of the tokenizer, so re-tokenizing generated text gives back the
// generated ids (multi-turn chats then share their prefix with the previous answer).
constexpr std::array<std::string_view, 32> words{
    " lorem", " ipsum", " dolor", " sit", " amet", " consectetur", " adipiscing", " elit",
    " sed", " do", " eiusmod", " tempor", " incididunt", " ut", " labore", " et",
    " dolore", " magna", " aliqua", " enim", " ad", " minim", " veniam", " quis",
    " nostrud", " exercitation", " ullamco", " laboris", " nisi", " aliquip", " ex", " commodo"};

}  // namespace

void register_generated_words(tokenizer& vocab) {
  for (auto word : words) vocab.remember(word);
}

std::uint64_t generation_seed(const tokens& prompt) {
  return XXH64(prompt.data(), prompt.size() * sizeof(token), 0x5eed);
}

token generated_token(std::uint64_t seed, std::size_t index) {
  const std::uint64_t h = XXH64(&index, sizeof index, seed);
  return tokenizer::text_id(words[h % words.size()]);
}

}  // namespace fake_llama
