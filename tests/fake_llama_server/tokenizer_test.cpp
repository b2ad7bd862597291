#include "tokenizer.h"

#include "chat_template.h"
#include "text_generator.h"

#include <doctest/doctest.h>

#include <algorithm>

using namespace fake_llama;

TEST_CASE("split keeps a word's leading space and separates punctuation and newlines") {
  const auto pieces = tokenizer::split("Hello there, world!\n  x\tyz");
  const std::vector<std::string_view> expected{"Hello", " there", ",", " world", "!", "\n", " ", " x", "\t", "yz"};
  CHECK(pieces == expected);
}

TEST_CASE("ids are a fixed function of the piece, the same in every process") {
  // Slot files on disk hold these ids across restarts: changing the hash breaks them.
  CHECK(tokenizer::text_id(" Hello") == tokenizer::text_id(std::string(" Hel") + "lo"));
  CHECK(tokenizer::text_id(" Hello") != tokenizer::text_id("Hello"));
  CHECK(tokenizer::text_id(" Hello") == 3005);
  tokenizer a, b;
  CHECK(a.tokenize("The quick brown fox", true, true) == b.tokenize("The quick brown fox", true, true));
}

TEST_CASE("every text id lies in the vocabulary above the special tokens") {
  tokenizer vocab;
  for (token t : vocab.tokenize("a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 . , ; ä ö ü", false, false)) {
    CHECK(t >= first_text_id);
    CHECK(t < n_vocab);
  }
}

TEST_CASE("special tokens are single ids only when parsed") {
  tokenizer vocab;
  const tokens parsed = vocab.tokenize("<|im_start|>user\nHi<|im_end|>\n</s>", true, true);
  const tokens expected{bos_id, im_start_id, tokenizer::text_id("user"), tokenizer::text_id("\n"),
                        tokenizer::text_id("Hi"), im_end_id, tokenizer::text_id("\n"), eos_id};
  CHECK(parsed == expected);

  const tokens plain = vocab.tokenize("<|im_start|>user", false, false);
  CHECK(plain.size() == 8);  // < | im _ start | > user
  CHECK(std::find(plain.begin(), plain.end(), im_start_id) == plain.end());
}

TEST_CASE("detokenize gives back the text, specials included") {
  tokenizer vocab;
  const std::string text = "<|im_start|>system\nYou are terse.<|im_end|>\n";
  CHECK(vocab.detokenize(vocab.tokenize(text, true, true)) == "<s>" + text);
  CHECK(vocab.piece(31999).starts_with("<tok"));
}

TEST_CASE("a rendered chat tokenizes to a prefix of any longer chat at message boundaries") {
  tokenizer vocab;
  json body{{"messages", json::array()}, {"add_generation_prompt", false}};
  const std::vector<std::pair<std::string, std::string>> turns{
      {"system", "You are terse."}, {"user", "Hello there, how are you?"}, {"assistant", "Fine. And you?"},
      {"user", "Good:  thanks!\n\nBye"}};
  std::vector<tokens> prefixes;
  for (const auto& [role, content] : turns) {
    body["messages"].push_back({{"role", role}, {"content", content}});
    prefixes.push_back(vocab.tokenize(render_chat(body), true, true));
  }
  body["add_generation_prompt"] = true;
  const tokens full = vocab.tokenize(render_chat(body), true, true);
  for (std::size_t i = 0; i + 1 < prefixes.size(); ++i) {
    CAPTURE(i);
    REQUIRE(prefixes[i].size() < full.size());
    CHECK(std::equal(prefixes[i].begin(), prefixes[i].end(), full.begin()));
  }
}

TEST_CASE("generated tokens depend only on the prompt and re-tokenize to themselves") {
  tokenizer vocab;
  register_generated_words(vocab);
  const tokens prompt = vocab.tokenize("The quick brown fox", true, true);
  const auto seed = generation_seed(prompt);
  CHECK(seed == generation_seed(tokens(prompt)));
  CHECK(seed != generation_seed(vocab.tokenize("The quick brown cat", true, true)));
  tokens generated;
  for (std::size_t i = 0; i < 16; ++i) generated.push_back(generated_token(seed, i));
  CHECK(vocab.tokenize(vocab.detokenize(generated), false, true) == generated);
}
