// The caching pipeline end to end on the fake backend, in both reuse modes: what the backend
// computes (timings.prompt_n of each answer, and its counters) with slotcache in front.
#include <doctest/doctest.h>

#include <csignal>
#include <thread>
#include <string>
#include <vector>

#include "fixtures.h"

using namespace slotcache::test;
using nlohmann::json;
using namespace std::chrono;

namespace {

std::string words(const std::string& stem, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += (i ? " " : "") + stem + std::to_string(i);
  return out;
}

json message(const std::string& role, const std::string& content) { return {{"role", role}, {"content", content}}; }

// Prompt length as the backend counts it.
std::size_t prompt_tokens(int backend_port, const json& messages) {
  auto rendered = json::parse(http_call(backend_port, "POST", "/apply-template", json{{"messages", messages}}.dump()).body);
  json tok = {{"content", rendered["prompt"]}, {"add_special", true}, {"parse_special", true}};
  return json::parse(http_call(backend_port, "POST", "/tokenize", tok.dump()).body)["tokens"].size();
}

struct turn_result {
  json answer;
  int cache_n = 0;
  int prompt_n = 0;
  std::string content;
  std::size_t n_prompt = 0;  // the prompt's length, as the backend counts it
};

turn_result chat(int port, const json& messages, int max_tokens = 4) {
  auto res = http_call(port, "POST", "/v1/chat/completions", json{{"messages", messages}, {"max_tokens", max_tokens}}.dump());
  REQUIRE(res.status == 200);
  turn_result t;
  t.answer = json::parse(res.body);
  t.cache_n = t.answer["timings"]["cache_n"];
  t.prompt_n = t.answer["timings"]["prompt_n"];
  t.content = t.answer["choices"][0]["message"]["content"];
  return t;
}

// One conversation: a long system prompt, then user turns; answers are appended as they come.
struct conversation {
  json messages = json::array();
  int backend_port;
  conversation(const std::string& name, int system_words, int backend) : backend_port(backend) {
    messages.push_back(message("system", words(name + "sys", system_words)));
  }
  turn_result say(int port, const std::string& text) {
    messages.push_back(message("user", text));
    auto n = prompt_tokens(backend_port, messages);
    auto t = chat(port, messages);
    t.n_prompt = n;
    messages.push_back(message("assistant", t.content));
    return t;
  }
};

std::vector<std::string> cache_args(const temp_dir& dir, std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"--cache-dir", dir.path().string(), "--log-level", "debug"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

}  // namespace

TEST_CASE("dense: more conversations than slots, each later turn computes only its new tokens") {
  temp_dir dir;
  fake_backend backend({"--mode", "dense", "--slots", "2", "--slot-save-path", dir.path().string()});
  slotcache_process proxy(backend.url(), cache_args(dir));
  REQUIRE(proxy.process().wait_for_line("model kind: dense").has_value());

  std::vector<conversation> convs;
  std::vector<turn_result> first;
  for (const char* name : {"alpha", "beta", "gamma", "delta"}) convs.emplace_back(name, 300, backend.port());
  for (auto& c : convs) first.push_back(c.say(proxy.port(), words("first", 20)));

  for (std::size_t i = 0; i < convs.size(); ++i) {
    CAPTURE(i);
    auto t = convs[i].say(proxy.port(), words("second", 20));
    // The whole previous prompt came back, from a slot or from a checkpoint on disk.
    CHECK(static_cast<std::size_t>(t.cache_n) >= first[i].n_prompt);
    CHECK(static_cast<std::size_t>(t.prompt_n) <= t.n_prompt - first[i].n_prompt);
  }
  CHECK(backend.stats()["restores"].get<int>() >= 2);
  CHECK(backend.stats()["slot_id_out_of_range"].get<int>() == 0);
}

TEST_CASE("dense: a restart of slotcache and of the backend between turns still hits from disk") {
  temp_dir dir;
  conversation conv("restart", 300, 0);
  turn_result first;
  {
    fake_backend backend({"--mode", "dense", "--slot-save-path", dir.path().string()});
    conv.backend_port = backend.port();
    slotcache_process proxy(backend.url(), cache_args(dir));
    first = conv.say(proxy.port(), words("first", 20));
    // On SIGTERM slotcache checkpoints what the slots hold before it exits.
    proxy.process().signal(SIGTERM);
    CHECK(proxy.process().wait_exit(seconds(20)) == 0);
    CHECK(backend.stats()["saves"].get<int>() >= 1);
  }  // the backend goes too: its slot memory is gone
  fake_backend backend({"--mode", "dense", "--slot-save-path", dir.path().string()});
  conv.backend_port = backend.port();
  slotcache_process proxy(backend.url(), cache_args(dir));
  auto indexed = proxy.process().wait_for_line("checkpoint store ");
  REQUIRE(indexed.has_value());
  CHECK(indexed->find(" 0 checkpoint(s) indexed") == std::string::npos);
  auto second = conv.say(proxy.port(), words("second", 20));
  CHECK(static_cast<std::size_t>(second.cache_n) >= first.n_prompt);
  CHECK(backend.stats()["restores"].get<int>() == 1);
}

TEST_CASE("hybrid: checkpoints sit before where prompts part and an edit in the middle restores the last one before it") {
  temp_dir dir;
  fake_backend backend({"--mode", "hybrid", "--slots", "1", "--slot-save-path", dir.path().string()});
  slotcache_process proxy(backend.url(), cache_args(dir, {"--chunk-tokens", "16"}));
  REQUIRE(proxy.process().wait_for_line("model kind: hybrid").has_value());

  conversation conv("hybrid", 200, backend.port());
  auto t1 = conv.say(proxy.port(), words("one", 30));
  auto t2 = conv.say(proxy.port(), words("two", 30));
  // The next turn extends the previous prompt: nothing before it is computed again.
  CHECK(static_cast<std::size_t>(t2.cache_n) >= t1.n_prompt - 1);
  auto t3 = conv.say(proxy.port(), words("three", 30));
  CHECK(static_cast<std::size_t>(t3.cache_n) >= t2.n_prompt - 1);

  // Another conversation takes the only slot; then the first comes back with its second user
  // message edited: the prompt parts there, and the checkpoint at that message's start is restored.
  conversation other("other", 200, backend.port());
  other.say(proxy.port(), words("elsewhere", 30));
  json edited = conv.messages;
  edited[3]["content"] = words("edited", 30);  // system, user, assistant, [user] ...
  json upto_edit = json::array({edited[0], edited[1], edited[2]});
  auto n_before_edit = prompt_tokens(backend.port(), upto_edit);  // ends with a generation prompt
  auto n_edited = prompt_tokens(backend.port(), edited);
  auto before = backend.stats();
  chat(proxy.port(), edited);
  auto after = backend.stats();
  CHECK(after["restores"].get<int>() == before["restores"].get<int>() + 1);
  // Computed for this request (boundary prefills included): everything after the last checkpoint
  // before the edit, which is turn one's (its prompt less the 3-token generation prompt), and
  // nothing before it. Without slotcache the hybrid backend would compute all n_edited tokens.
  auto computed = after["prompt_tokens_processed"].get<std::size_t>() - before["prompt_tokens_processed"].get<std::size_t>();
  CHECK(computed <= n_edited - (t1.n_prompt - 3));
  CHECK(computed >= n_edited - n_before_edit);
  CHECK(backend.stats()["slot_id_out_of_range"].get<int>() == 0);
}

TEST_CASE("a request naming its own slot is pinned there while an invalid one is never sent on") {
  temp_dir dir;
  fake_backend backend({"--slots", "2", "--slot-save-path", dir.path().string()});
  slotcache_process proxy(backend.url(), cache_args(dir));
  auto pinned = http_call(proxy.port(), "POST", "/completion",
                          json{{"prompt", words("pin", 40)}, {"n_predict", 2}, {"id_slot", 1}}.dump());
  REQUIRE(pinned.status == 200);
  CHECK(json::parse(pinned.body)["id_slot"] == 1);
  auto wild = http_call(proxy.port(), "POST", "/completion",
                        json{{"prompt", words("wild", 40)}, {"n_predict", 2}, {"id_slot", 7}}.dump());
  REQUIRE(wild.status == 200);
  CHECK(backend.stats()["slot_id_out_of_range"].get<int>() == 0);
}

TEST_CASE("a failed restore drops that checkpoint and the request still succeeds") {
  temp_dir dir;
  fake_backend backend({"--mode", "dense", "--slots", "1", "--slot-save-path", dir.path().string()});
  slotcache_process proxy(backend.url(), cache_args(dir));
  conversation a("fail", 300, backend.port());
  conversation b("other", 300, backend.port());
  a.say(proxy.port(), words("first", 20));
  b.say(proxy.port(), words("first", 20));  // a's content is checkpointed before b replaces it
  REQUIRE(http_call(backend.port(), "POST", "/fake/faults", R"({"fail_restore":1})").status == 200);
  auto t = a.say(proxy.port(), words("second", 20));
  CHECK(t.answer["choices"][0]["message"]["content"].is_string());
  CHECK(backend.stats()["restore_failures"].get<int>() == 1);
  CHECK(proxy.process().wait_for_line("dropping that checkpoint", seconds(5)).has_value());
}

TEST_CASE("more waiting requests than the queue holds are answered 503 with Retry-After") {
  temp_dir dir;
  fake_backend backend({"--slots", "1", "--slot-save-path", dir.path().string(), "--us-per-gen-token", "200000"});
  slotcache_process proxy(backend.url(), cache_args(dir, {"--queue-size", "1"}));
  std::vector<std::unique_ptr<test_connection>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<test_connection>(proxy.port()));
    clients.back()->send_request("POST", "/completion",
                                 json{{"prompt", words("busy" + std::to_string(i), 10)}, {"n_predict", 5}}.dump());
    std::this_thread::sleep_for(milliseconds(150));
  }
  // One holds the slot, one waits, the third finds the queue full.
  auto refused = clients[2]->read_response(seconds(10));
  CHECK(refused.status == 503);
  CHECK(refused.header("Retry-After") == "1");
  CHECK(json::parse(refused.body)["error"]["type"] == "unavailable_error");
  CHECK(clients[0]->read_response(seconds(20)).status == 200);
  CHECK(clients[1]->read_response(seconds(20)).status == 200);
}

TEST_CASE("a backend restart empties slotcache's picture of the slots, and checkpoints still hit") {
  temp_dir dir;
  conversation conv("phoenix", 300, 0);
  auto backend = std::make_unique<fake_backend>(
      std::vector<std::string>{"--mode", "hybrid", "--slots", "1", "--slot-save-path", dir.path().string()});
  const int port = backend->port();
  conv.backend_port = port;
  slotcache_process proxy(backend->url(), cache_args(dir, {"--chunk-tokens", "16", "--backend-check-seconds", "1"}));
  auto first = conv.say(proxy.port(), words("first", 30));

  backend.reset();  // the backend dies with its slot memory...
  child_process again(fake_backend_program(), {"--port", std::to_string(port), "--mode", "hybrid", "--slots", "1",
                                               "--slot-save-path", dir.path().string()});
  REQUIRE(again.wait_for_port() == port);  // ...and comes back on the same address
  CHECK(proxy.process().wait_for_line("slots are treated as empty", seconds(10)).has_value());

  auto second = conv.say(proxy.port(), words("second", 30));
  // Restored from the checkpoint at the end of the first prompt's last message.
  CHECK(static_cast<std::size_t>(second.cache_n) >= first.n_prompt - 3);
  auto stats = nlohmann::json::parse(http_call(port, "GET", "/fake/stats").body);
  CHECK(stats["restores"].get<int>() == 1);
}

TEST_CASE("dense: a slot idle for save_idle_seconds is checkpointed once") {
  temp_dir dir;
  fake_backend backend({"--mode", "dense", "--slots", "1", "--slot-save-path", dir.path().string()});
  slotcache_process proxy(backend.url(), cache_args(dir, {"--save-idle-seconds", "1"}));
  conversation conv("idle", 300, backend.port());
  conv.say(proxy.port(), words("first", 20));
  auto saved = proxy.process().wait_for_line("slot content", seconds(10));
  REQUIRE(saved.has_value());
  std::this_thread::sleep_for(seconds(3));
  CHECK(backend.stats()["saves"].get<int>() == 1);  // the same content is not saved again
}
