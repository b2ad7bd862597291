#pragma once
// The fake model's output: a pure function of the prompt tokens, so answers through slotcache
// and straight from the backend are identical.
#include "tokenizer.h"

#include <cstdint>

namespace fake_llama {

void register_generated_words(tokenizer& vocab);  // so that detokenize knows them
std::uint64_t generation_seed(const tokens& prompt);
token generated_token(std::uint64_t seed, std::size_t index);

}  // namespace fake_llama
