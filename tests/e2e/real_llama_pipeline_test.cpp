// The caching pipeline against a real llama-server: does slotcache count tokens as the backend
// does, and how much prompt does the backend compute with slotcache in front? Skipped unless
// SLOTCACHE_LLAMA_SERVER names the binary; models from ../shared/models (or SLOTCACHE_MODELS_DIR).
//
// What the backend computed is read from its own counters: `timings` of each answer and, to
// include the prefills slotcache sends before forwarding, the difference of /metrics
// `llamacpp:prompt_tokens_total` around a request. Backends run with `--cache-ram 0` so that
// llama-server's own RAM prompt cache cannot stand in for slotcache's checkpoints, and with
// `-t 1`: on two cores shared with builds, two spinning threads made prompt processing ten times
// slower.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "fixtures.h"
#include "skip.h"

using namespace slotcache::test;
using nlohmann::json;
using namespace std::chrono;

namespace {

using token_list = std::vector<std::int32_t>;

json post_json(int port, const std::string& target, const json& body) {
  auto res = http_call(port, "POST", target, body.dump());
  INFO(target, " answered ", res.status, ": ", res.body);
  REQUIRE(res.status == 200);
  return json::parse(res.body);
}

// slotcache's way of counting: /tokenize with the backend's prompt flags...
token_list tokenize(int backend_port, const std::string& text) {
  auto answer = post_json(backend_port, "/tokenize", {{"content", text}, {"add_special", true}, {"parse_special", true}});
  return answer["tokens"].get<token_list>();
}

// ...after /apply-template with the chat request's own body, for chat requests.
std::string rendered(int backend_port, const json& chat_body) {
  return post_json(backend_port, "/apply-template", chat_body)["prompt"].get<std::string>();
}

token_list chat_tokens(int backend_port, const json& chat_body) {
  return tokenize(backend_port, rendered(backend_port, chat_body));
}

std::uint64_t prompt_tokens_total(int backend_port) {
  auto res = http_call(backend_port, "GET", "/metrics");
  REQUIRE(res.status == 200);
  static const std::regex line_re(R"((^|\n)llamacpp:prompt_tokens_total ([0-9.e+]+))");
  std::smatch m;
  REQUIRE(std::regex_search(res.body, m, line_re));
  return static_cast<std::uint64_t>(std::stod(m[2]));
}

std::size_t common_prefix(const token_list& a, const token_list& b) {
  std::size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

bool is_prefix(const token_list& prefix, const token_list& of) {
  return prefix.size() <= of.size() && common_prefix(prefix, of) == prefix.size();
}

std::string words(const std::string& stem, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += (i ? " " : "") + stem + std::to_string(i);
  return out;
}

json message(const std::string& role, const std::string& content) { return {{"role", role}, {"content", content}}; }

std::vector<std::string> backend_args(const temp_dir& dir, std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"--cache-ram", "0", "-t", "1", "--metrics", "--slot-save-path", dir.path().string()};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

std::vector<std::string> proxy_args(const temp_dir& dir, std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"--cache-dir", dir.path().string(), "--log-level", "debug"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// ---------------------------------------------------------------------------------------------
// Token counts

// The prompt length slotcache logged for its next cached request ("cache: N tokens ..., slot ...",
// at debug level).
class count_log {
 public:
  explicit count_log(child_process& proxy) : proxy_(proxy) {}
  std::optional<std::size_t> next() {
    static const std::regex count_re(R"(cache: (\d+) tokens\b.*, slot )");
    auto deadline = steady_clock::now() + seconds(10);
    while (steady_clock::now() < deadline) {
      std::size_t seen = 0;
      for (const auto& line : proxy_.lines()) {
        std::smatch m;
        if (!std::regex_search(line, m, count_re)) continue;
        if (seen++ == consumed_) {
          ++consumed_;
          return std::stoul(m[1]);
        }
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    return std::nullopt;
  }

 private:
  child_process& proxy_;
  std::size_t consumed_ = 0;
};

// Random weights answer anything, and llama-server fails (500) an answer its chat parser cannot
// read ("does not match the expected peg-native format"): answers here repeat one plain token,
// which leaves the prompt as it was and the test the same on any machine.
json plain_answer(int backend_port, json body) {
  const auto ok = tokenize(backend_port, "ok");
  body["temperature"] = 0;
  body["logit_bias"] = json::array({json::array({ok.back(), 100})});
  return body;
}

// For each request: the count reproduced the way slotcache computes it equals what the backend
// reports for the same request sent directly, and so does the count slotcache itself logs for it.
void check_chat_counts(int backend_port, int proxy_port, count_log& log, const std::vector<json>& bodies) {
  for (const auto& request : bodies) {
    const json body = plain_answer(backend_port, request);
    CAPTURE(body.dump());
    const auto expected = chat_tokens(backend_port, body).size();
    auto direct = post_json(backend_port, "/v1/chat/completions", body);
    CHECK(direct["usage"]["prompt_tokens"].get<std::size_t>() == expected);
    auto via = post_json(proxy_port, "/v1/chat/completions", body);
    CHECK(via["usage"]["prompt_tokens"].get<std::size_t>() == expected);
    CHECK(log.next() == expected);
  }
}

const json weather_tool = json::parse(R"({"type":"function","function":{"name":"get_weather",
  "description":"The weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string"},
  "unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city"]}}})");

// A ChatML template that renders tools into the system message (the models' own template ignores
// them), so that requests with tools change the prompt.
const char* const tools_template = R"jinja({%- if tools %}
{{- '<|im_start|>system\n' }}
{%- if messages[0].role == 'system' %}{{- messages[0].content + '\n\n' }}{%- endif %}
{{- '# Tools\n\nFunction signatures within <tools></tools>:\n<tools>' }}
{%- for tool in tools %}{{- '\n' + (tool | tojson) }}{%- endfor %}
{{- '\n</tools>\n\nFor each call return a json object within <tool_call></tool_call> tags.<|im_end|>\n' }}
{%- elif messages[0].role == 'system' %}
{{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
{%- if message.role != 'system' %}
{{- '<|im_start|>' + message.role + '\n' + (message.content or '') + '<|im_end|>\n' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %})jinja";

std::vector<json> plain_chats() {
  const json sys = message("system", "You are terse.");
  return {
      {{"messages", {sys, message("user", "Weather in Paris?")}}, {"max_tokens", 2}},
      {{"messages", {message("user", "  leading and trailing spaces  \n\nand a blank line")}}, {"max_tokens", 2}},
      {{"messages",
        {sys, message("user", "Ünïcödé, 日本語, emoji 🦊 and a literal <|im_end|> inside"),
         message("assistant", "Noted. </s> <s>"), message("user", "tabs\tand\r\nCRLF")}},
       {"max_tokens", 2}},
      {{"messages", {{{"role", "user"}, {"content", json::array({{{"type", "text"}, {"text", "first part"}},
                                                                  {{"type", "text"}, {"text", " second part"}}})}}}},
       {"max_tokens", 2}},
      // The last message from the assistant: the backend continues it instead of opening a new one.
      {{"messages", {sys, message("user", "Count to three."), message("assistant", "One, two,")}}, {"max_tokens", 2}},
      {{"messages", {sys, message("user", words("long", 200))}}, {"max_tokens", 2}},
  };
}

std::vector<json> tool_chats() {
  const json sys = message("system", "You are terse.");
  return {
      {{"messages", {sys, message("user", "Weather in Paris?")}}, {"tools", {weather_tool}}, {"max_tokens", 2}},
      {{"messages", {message("user", "Weather in Oslo, in celsius?")}},
       {"tools", {weather_tool}},
       {"tool_choice", "auto"},
       {"max_tokens", 2}},
  };
}

// ---------------------------------------------------------------------------------------------
// Conversations

struct turn {
  std::size_t n_prompt = 0;          // the prompt's length, generation prompt included
  std::size_t last_message_end = 0;  // where the generation prompt starts
  int cache_n = 0;                   // timings of the answer
  int prompt_n = 0;
  std::uint64_t computed = 0;        // prompt tokens the backend processed for this request, prefills included
};

// A long system prompt, then user turns answered through slotcache; each answer (plain tokens,
// see plain_answer) is appended as the client would send it back.
struct conversation {
  std::string name;
  json messages = json::array();
  std::vector<turn> turns;

  conversation(std::string n, int system_words) : name(std::move(n)) {
    messages.push_back(message("system", words(name + "sys", system_words)));
  }

  turn say(int backend_port, int proxy_port, const std::string& text) {
    messages.push_back(message("user", text));
    const json body = plain_answer(backend_port, {{"messages", messages}, {"max_tokens", 4}});
    const auto full = chat_tokens(backend_port, body);
    json without_generation_prompt = body;
    without_generation_prompt["add_generation_prompt"] = false;
    const auto head = chat_tokens(backend_port, without_generation_prompt);
    // The arithmetic below needs the generation prompt to start a token of its own.
    REQUIRE(head.size() < full.size());
    REQUIRE(is_prefix(head, full));

    const auto before = prompt_tokens_total(backend_port);
    auto answer = post_json(proxy_port, "/v1/chat/completions", body);
    const auto after = prompt_tokens_total(backend_port);
    turn t;
    t.n_prompt = full.size();
    t.last_message_end = head.size();
    t.cache_n = answer["timings"]["cache_n"];
    t.prompt_n = answer["timings"]["prompt_n"];
    t.computed = after - before;
    MESSAGE(name, " turn ", turns.size() + 1, ": prompt ", t.n_prompt, " (last message ends at ", t.last_message_end,
            "), cache_n ", t.cache_n, ", prompt_n ", t.prompt_n, ", computed with prefills ", t.computed);
    messages.push_back(message("assistant", answer["choices"][0]["message"]["content"].get<std::string>()));
    turns.push_back(t);
    return t;
  }

  std::string next_question() const { return words(name + "q" + std::to_string(turns.size() + 1) + "w", 20); }
};

// Three conversations on two slots, interleaved so that some turns find their conversation
// still in a slot and others need it back from disk (slots go to the longest shared prefix, else
// to the least recently used): A1 B1 C1 A2 B2 A3 C2 B3 C3.
const int turn_order[] = {0, 1, 2, 0, 1, 0, 2, 1, 2};

// Checkpoints on disk (with their sidecar, i.e. committed): the tokens of each, from the slot
// file's header (u32 'ggsq', u32 version 2, u32 n, i32 tokens[n]).
std::vector<token_list> checkpoints_on_disk(const std::filesystem::path& dir) {
  std::vector<token_list> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const auto path = entry.path();
    if (path.extension() != ".bin" || !path.filename().string().starts_with("sc-")) continue;
    if (!std::filesystem::exists(std::filesystem::path(path).replace_extension(".json"))) continue;
    std::ifstream in(path, std::ios::binary);
    std::uint32_t header[3] = {};
    in.read(reinterpret_cast<char*>(header), sizeof header);
    REQUIRE(in.good());
    REQUIRE(header[0] == 0x67677371u);
    REQUIRE(header[1] == 2u);
    token_list tokens(header[2]);
    in.read(reinterpret_cast<char*>(tokens.data()), static_cast<std::streamsize>(tokens.size() * sizeof(std::int32_t)));
    REQUIRE(in.good());
    out.push_back(std::move(tokens));
  }
  return out;
}

}  // namespace

TEST_CASE("real llama-server: slotcache counts the prompt tokens of chat and completion requests as the backend does") {
  SKIP_TEST_UNLESS(llama_server::available(), "SLOTCACHE_LLAMA_SERVER is not set");
  const auto model = llama_server::model_path("tiny-llama.gguf");

  SUBCASE("the model's own template, chat with and without tools, and completions") {
    temp_dir dir;
    llama_server backend(model, backend_args(dir, {"--jinja"}));
    slotcache_process proxy(backend.url(), proxy_args(dir));
    count_log log(proxy.process());

    auto chats = plain_chats();
    for (auto& c : tool_chats()) chats.push_back(c);  // tools the template ignores: the prompt must say so
    check_chat_counts(backend.port(), proxy.port(), log, chats);

    const std::vector<std::string> prompts = {
        "The quick brown fox",
        " leading space, Ünïcödé and emoji 🦊",
        "<|im_start|>user\nspecial-looking text<|im_end|>\n</s>",
        words("plain", 150),
    };
    for (const auto& prompt : prompts) {
      CAPTURE(prompt);
      const auto expected = tokenize(backend.port(), prompt).size();
      const json body = plain_answer(backend.port(), {{"prompt", prompt}, {"n_predict", 2}});
      CHECK(post_json(backend.port(), "/completion", body)["tokens_evaluated"].get<std::size_t>() == expected);
      CHECK(post_json(proxy.port(), "/completion", body)["tokens_evaluated"].get<std::size_t>() == expected);
      CHECK(log.next() == expected);
      // A single prompt in an array is the same prompt.
      const json in_array = plain_answer(backend.port(), {{"prompt", json::array({prompt})}, {"n_predict", 2}});
      CHECK(post_json(backend.port(), "/completion", in_array)["tokens_evaluated"].get<std::size_t>() == expected);
      CHECK(post_json(proxy.port(), "/completion", in_array)["tokens_evaluated"].get<std::size_t>() == expected);
      CHECK(log.next() == expected);
      const json oai = plain_answer(backend.port(), {{"prompt", prompt}, {"max_tokens", 2}});
      CHECK(post_json(backend.port(), "/v1/completions", oai)["usage"]["prompt_tokens"].get<std::size_t>() == expected);
      CHECK(post_json(proxy.port(), "/v1/completions", oai)["usage"]["prompt_tokens"].get<std::size_t>() == expected);
      CHECK(log.next() == expected);
    }
  }

  SUBCASE("a template that renders tools") {
    temp_dir dir;
    const auto template_file = dir.path() / "tools.jinja";
    std::ofstream(template_file) << tools_template;
    llama_server backend(model, backend_args(dir, {"--jinja", "--chat-template-file", template_file.string()}));
    slotcache_process proxy(backend.url(), proxy_args(dir));
    count_log log(proxy.process());

    // Otherwise the tool cases below would not differ from plain chats.
    auto with_tools = tool_chats();
    REQUIRE(rendered(backend.port(), with_tools[0]).find("get_weather") != std::string::npos);
    json without = with_tools[0];
    without.erase("tools");
    CHECK(chat_tokens(backend.port(), with_tools[0]).size() > chat_tokens(backend.port(), without).size() + 50);

    auto chats = with_tools;
    for (auto& c : plain_chats()) chats.push_back(c);
    check_chat_counts(backend.port(), proxy.port(), log, chats);
  }
}

TEST_CASE("real llama-server, dense model: three conversations on two slots, each later turn computes only its new tokens") {
  SKIP_TEST_UNLESS(llama_server::available(), "SLOTCACHE_LLAMA_SERVER is not set");
  temp_dir dir;
  llama_server backend(llama_server::model_path("tiny-llama.gguf"), backend_args(dir, {"-np", "2"}));
  // No checkpoints of idle slots: their prefills would land in the counts of unrelated requests.
  slotcache_process proxy(backend.url(), proxy_args(dir, {"--save-idle-seconds", "0"}));
  REQUIRE(proxy.process().wait_for_line("model kind: dense").has_value());

  std::vector<conversation> convs = {{"alpha", 190}, {"beta", 190}, {"gamma", 190}};
  for (int i : turn_order) {
    auto& c = convs[i];
    const turn t = c.say(backend.port(), proxy.port(), c.next_question());
    CHECK(t.n_prompt >= 1000);
    if (c.turns.size() < 2) continue;
    const turn& prev = c.turns[c.turns.size() - 2];
    CAPTURE(c.name);
    CAPTURE(c.turns.size());
    // The whole previous prompt came back, from the slot or from a checkpoint on disk...
    CHECK(static_cast<std::size_t>(t.cache_n) >= prev.n_prompt);
    CHECK(static_cast<std::size_t>(t.prompt_n) <= t.n_prompt - prev.n_prompt);
    // ...and nothing else was computed, but for the one token llama-server evaluates again when
    // slotcache prefills a slot's old content to checkpoint it before another prompt replaces it.
    CHECK(t.computed <= t.n_prompt - prev.n_prompt + 1);
  }
  // Two slots cannot hold three conversations: some turns were served from disk.
  CHECK(!checkpoints_on_disk(dir.path()).empty());
}

namespace {

// What a turn of a hybrid model may compute: a checkpoint ends where the previous prompt's
// generation prompt began (it is the start of the answer the next turn carries), so the
// generation prompt is computed again along with the new tokens.
void check_hybrid_turn(const conversation& c, bool after_restart) {
  const turn& t = c.turns.back();
  const turn& prev = c.turns[c.turns.size() - 2];
  CAPTURE(c.name);
  CAPTURE(c.turns.size());
  if (after_restart)  // the previous prompt less its generation prompt
    CHECK(static_cast<std::size_t>(t.cache_n) >= prev.last_message_end);
  else
    CHECK(static_cast<std::size_t>(t.cache_n) >= prev.n_prompt);
  // slotcache's prefills to its checkpoint boundaries are part of this request's work: counted here.
  CHECK(t.computed <= t.n_prompt - prev.last_message_end);
}

}  // namespace

TEST_CASE("real llama-server, hybrid model: three conversations on two slots, and a backend restart between turns still reuses from disk") {
  SKIP_TEST_UNLESS(llama_server::available(), "SLOTCACHE_LLAMA_SERVER is not set");
  temp_dir dir;
  llama_server backend(llama_server::model_path("tiny-granitehybrid.gguf"), backend_args(dir, {"-np", "2"}));
  slotcache_process proxy(backend.url(), proxy_args(dir, {"--backend-check-seconds", "1"}));
  REQUIRE(proxy.process().wait_for_line("model kind: hybrid").has_value());

  std::vector<conversation> convs = {{"alpha", 190}, {"beta", 190}, {"gamma", 190}};
  std::size_t step = 0;
  for (int i : turn_order) {
    // After B2: alpha's third turn would find alpha's second still in its slot, had the backend
    // not lost its memory.
    const bool restart = step++ == 5;
    if (restart) {
      backend.restart();
      REQUIRE(proxy.process().wait_for_line("slots are treated as empty", seconds(15)).has_value());
    }
    auto& c = convs[i];
    const turn t = c.say(backend.port(), proxy.port(), c.next_question());
    CHECK(t.n_prompt >= 1000);
    if (c.turns.size() >= 2) check_hybrid_turn(c, restart);
    if (restart) CHECK(t.computed < t.n_prompt / 2);  // not the whole prompt: it came from disk
  }
}

TEST_CASE("real llama-server, hybrid model: an edit in the middle of a conversation computes only what follows the last checkpoint before it") {
  SKIP_TEST_UNLESS(llama_server::available(), "SLOTCACHE_LLAMA_SERVER is not set");
  temp_dir dir;
  // Without llama-server's own in-slot context checkpoints, whatever is not computed again was
  // restored by slotcache.
  llama_server backend(llama_server::model_path("tiny-granitehybrid.gguf"),
                       backend_args(dir, {"-np", "2", "--ctx-checkpoints", "0"}));
  slotcache_process proxy(backend.url(), proxy_args(dir, {"--chunk-tokens", "16"}));
  REQUIRE(proxy.process().wait_for_line("model kind: hybrid").has_value());

  conversation conv("delta", 190);
  for (int i = 0; i < 4; ++i) {
    conv.say(backend.port(), proxy.port(), conv.next_question());
    if (conv.turns.size() >= 2) check_hybrid_turn(conv, false);
  }

  // The fourth request again, with the third user message changed: messages are
  // system u1 a1 u2 a2 [u3] a3 u4.
  json edited = conv.messages;
  edited.erase(edited.size() - 1);  // the fourth answer
  edited[5]["content"] = words("edited", 20);
  const json body = plain_answer(backend.port(), {{"messages", edited}, {"max_tokens", 4}});
  const auto tokens = chat_tokens(backend.port(), body);
  json original_body = body;
  original_body["messages"] = conv.messages;
  original_body["messages"].erase(original_body["messages"].size() - 1);
  const auto original = chat_tokens(backend.port(), original_body);
  const std::size_t shared = common_prefix(tokens, original);

  // The last checkpoint before the edit: the longest on disk that the edited prompt extends.
  std::size_t last_checkpoint = 0;
  for (const auto& cp : checkpoints_on_disk(dir.path()))
    if (cp.size() < tokens.size() && is_prefix(cp, tokens)) last_checkpoint = std::max(last_checkpoint, cp.size());
  // Where the design puts one at the latest: the end of the second turn's last message, u2.
  CHECK(last_checkpoint >= conv.turns[1].last_message_end);
  CHECK(last_checkpoint <= shared);

  const auto before = prompt_tokens_total(backend.port());
  auto answer = post_json(proxy.port(), "/v1/chat/completions", body);
  const auto computed = prompt_tokens_total(backend.port()) - before;
  MESSAGE("edited prompt ", tokens.size(), " tokens, shared with the original ", shared, ", last checkpoint before the edit ",
          last_checkpoint, ": computed with prefills ", computed, " (answer: cache_n ", answer["timings"]["cache_n"],
          ", prompt_n ", answer["timings"]["prompt_n"], ")");
  CHECK(computed <= tokens.size() - last_checkpoint);
  CHECK(computed < tokens.size());
  // No cache can spare what follows the edit.
  CHECK(computed >= tokens.size() - shared);
}
