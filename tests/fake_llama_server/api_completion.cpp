// /completion, /v1/completions and /v1/chat/completions: the simulated model at work.
#include "api.h"

#include "chat_template.h"
#include "text_generator.h"

#include <ctime>
#include <random>

namespace fake_llama {
namespace {

std::string sse(const json& events) {
  std::string out;
  for (const json& e : events.is_array() ? events : json::array({events})) out += "data: " + to_text(e) + "\n\n";
  return out;
}

std::string completion_id() {
  static std::mt19937 rng{std::random_device{}()};
  static constexpr char alnum[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string id = "chatcmpl-";
  for (int i = 0; i < 32; ++i) id += alnum[rng() % 62];
  return id;
}

// Keeps the counters honest on every way out: an unfinished request was cancelled.
struct request_scope {
  counters& stats;
  bool finished = false;
  explicit request_scope(counters& s) : stats(s) {
    ++stats.requests;
    stats.max_concurrent_requests = std::max(stats.max_concurrent_requests, ++stats.in_flight);
  }
  void done() {
    if (!std::exchange(finished, true)) --stats.in_flight;
  }
  ~request_scope() {
    if (!finished) ++stats.cancelled, --stats.in_flight;
  }
};

// One OpenAI-style envelope around the format-specific part.
json oai_envelope(answer_format format, json choices, const std::string& id, const std::string& model, bool chunk) {
  if (format == answer_format::oai_chat)
    return json{{"choices", std::move(choices)}, {"created", std::time(nullptr)}, {"id", id}, {"model", model},
                {"system_fingerprint", "b0-unknown"}, {"object", chunk ? "chat.completion.chunk" : "chat.completion"}};
  return json{{"choices", std::move(choices)}, {"created", std::time(nullptr)}, {"model", model},
              {"system_fingerprint", "b0-unknown"}, {"object", "text_completion"}, {"id", id}};
}

}  // namespace

tokens api::prompt_tokens(const json& prompt) {
  tokens out;
  if (prompt.is_string()) return vocab_.tokenize(prompt.get<std::string>(), true, true);
  const bool has_number = prompt.is_array() && std::any_of(prompt.begin(), prompt.end(), [](const json& p) { return p.is_number(); });
  if (prompt.is_array() && !has_number) {
    if (prompt.empty()) throw std::runtime_error("\"prompt\" must not be empty");
    if (prompt.size() > 1) throw std::runtime_error("fake_llama_server: several prompts in one request are not supported");
    return prompt_tokens(prompt.front());
  }
  if (!prompt.is_array())
    throw std::runtime_error("\"prompt\" elements must be a string, a list of tokens, a JSON object containing a prompt "
                             "string, or a list of mixed strings & tokens.");
  for (const json& part : prompt) {
    if (part.is_string()) {
      auto more = vocab_.tokenize(part.get<std::string>(), out.empty(), true);
      out.insert(out.end(), more.begin(), more.end());
    } else {
      out.push_back(part.get<token>());
    }
  }
  return out;
}

asio::awaitable<void> api::completion(const http_request& req, http_exchange& ex, answer_format format) {
  const json body = json::parse(req.body);
  const bool chat = format == answer_format::oai_chat;
  const std::string chat_prompt = chat ? render_chat(body) : std::string();
  if (format == answer_format::oai_completion && !body.contains("prompt")) throw std::runtime_error("\"prompt\" is required");

  tokens prompt;
  std::string bad_prompt;
  try {
    prompt = chat ? vocab_.tokenize(chat_prompt, true, true) : prompt_tokens(body.at("prompt"));
    if (std::any_of(prompt.begin(), prompt.end(), [](token t) { return t < 0 || t >= n_vocab; }))
      bad_prompt = "Prompt contains invalid tokens";
  } catch (const std::exception& e) {
    bad_prompt = e.what();
  }
  if (!bad_prompt.empty()) {
    http_answer answer = error_answer(bad_prompt, error_kind::invalid_request);
    co_await ex.reply(std::move(answer));
    co_return;
  }

  const int n_predict = json_value(body, "n_predict", json_value(body, "max_tokens", -1));
  const bool stream = json_value(body, "stream", false);
  const bool cache_prompt = json_value(body, "cache_prompt", true);
  const int id_slot = json_value(body, "id_slot", -1);
  const bool include_usage = json_value(json_value(body, "stream_options", json::object()), "include_usage", false);
  sampling_settings settings;
  settings.temperature = json_value(body, "temperature", 0.800000011920929);
  settings.n_predict = n_predict;
  settings.stream = stream;
  settings.dry_penalty_last_n = opts_.n_ctx;
  if (chat) settings.chat_format = "peg-native", settings.generation_prompt = "<|im_start|>assistant\n";
  const std::string id = completion_id();

  request_scope scope(stats_);
  // llama-server wraps ids modulo the slot count; a negative remainder means "any slot".
  int pinned = -1;
  if (id_slot != -1) {
    if (id_slot < 0 || id_slot >= opts_.slots) ++stats_.slot_id_out_of_range;
    pinned = id_slot % opts_.slots >= 0 ? id_slot % opts_.slots : -1;
  }
  std::optional<slot_pool::lease> slot(co_await pool_.acquire(pinned, prompt));
  const int slot_id = (*slot)->id;

  if (prompt.size() >= std::size_t(opts_.n_ctx)) {
    slot.reset();
    scope.done();
    json error = error_object("request (" + std::to_string(prompt.size()) + " tokens) exceeds the available context size (" +
                                  std::to_string(opts_.n_ctx) + " tokens), try increasing it",
                              error_kind::exceed_context);
    error["n_prompt_tokens"] = prompt.size();
    error["n_ctx"] = opts_.n_ctx;
    http_answer answer = json_answer({{"error", error}}, 400);
    co_await ex.reply(std::move(answer));
    co_return;
  }

  // Prompt processing: what the cache cannot give is computed at us_per_prompt_token.
  const std::size_t n_cache = reusable_tokens(opts_.mode, (*slot)->cached, prompt, cache_prompt);
  const std::size_t n_processed = prompt.size() - n_cache;
  const int n_generate = std::min(n_predict < 0 ? opts_.default_n_predict : std::max(n_predict, 1),
                                  opts_.n_ctx - int(prompt.size()));
  (*slot)->cached.resize(n_cache);
  (*slot)->task = task_info{next_task_id_++, 0, n_cache, 0, n_generate, true, sampling_json(settings, false)};
  if (stream) co_await ex.start_stream();  // llama-server sends the headers once a slot starts the task

  const auto prompt_start = std::chrono::steady_clock::now();
  co_await sleep_us(double(n_processed) * opts_.us_per_prompt_token);
  (*slot)->cached = prompt;
  (*slot)->task->n_processed = n_processed;
  timing_values timings{n_cache, n_processed, 0, ms_since(prompt_start), 0};
  stats_.prompt_tokens_processed += n_processed;
  stats_.prompt_tokens_reused += n_cache;
  stats_.prompt_ms += timings.prompt_ms;
  stats_.n_decode += 1;
  stats_.n_tokens_max = std::max<std::uint64_t>(stats_.n_tokens_max, n_processed);

  // Generation: the slot keeps all but the last sampled token, which was never decoded.
  const std::uint64_t seed = generation_seed(prompt);
  const auto generation_start = std::chrono::steady_clock::now();
  tokens generated;
  std::string content;
  for (int k = 0; k < n_generate; ++k) {
    if (n_predict != 0) co_await sleep_us(opts_.us_per_gen_token);  // n_predict 0 samples from the prompt's logits
    if (k > 0) (*slot)->cached.push_back(generated.back()), ++stats_.n_decode;
    const token t = generated_token(seed, std::size_t(k));
    const std::string piece = vocab_.piece(t);
    generated.push_back(t);
    content += piece;
    ++stats_.generated_tokens;
    (*slot)->task->n_decoded = k + 1;
    (*slot)->task->n_remain = n_generate - k - 1;
    if (!stream) continue;

    json event;
    if (format == answer_format::native) {
      event = json{{"index", 0}, {"content", piece}, {"tokens", {t}}, {"stop", false}, {"id_slot", -1},
                   {"tokens_predicted", k + 1}, {"tokens_evaluated", prompt.size()}};
    } else if (format == answer_format::oai_completion) {
      event = oai_envelope(format, json::array({{{"text", piece}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", nullptr}}}),
                           id, meta_.path, true);
    } else {
      auto delta = [&](json d) {
        return oai_envelope(format, json::array({{{"finish_reason", nullptr}, {"index", 0}, {"delta", std::move(d)}}}), id,
                            meta_.path, true);
      };
      event = json::array();
      if (k == 0) event.push_back(delta({{"role", "assistant"}, {"content", nullptr}}));
      event.push_back(delta({{"content", piece}}));
    }
    co_await ex.send_chunk(sse(event));
    if (faults_.close_mid_stream > 0) {
      --faults_.close_mid_stream;
      slot.reset();
      scope.done();
      ex.drop();
      co_return;
    }
  }
  timings.predicted_n = generated.size();
  timings.predicted_ms = ms_since(generation_start);
  stats_.predicted_ms += timings.predicted_ms;
  (*slot)->task->has_next_token = false;
  const std::size_t n_cached = (*slot)->cached.size();
  slot.reset();  // free before answering, so a client's next request finds the slot idle
  scope.done();

  const json usage{{"completion_tokens", generated.size()}, {"prompt_tokens", prompt.size()},
                   {"total_tokens", generated.size() + prompt.size()},
                   {"prompt_tokens_details", {{"cached_tokens", n_cache}}}};
  json final_answer;
  if (format == answer_format::native) {
    final_answer = json{{"index", 0}, {"content", stream ? "" : content},
                        {"tokens", stream || !json_value(body, "return_tokens", false) ? tokens{} : generated},
                        {"id_slot", slot_id}, {"stop", true}, {"model", meta_.path},
                        {"tokens_predicted", generated.size()}, {"tokens_evaluated", prompt.size()},
                        {"generation_settings", sampling_json(settings, true)}, {"prompt", vocab_.detokenize(prompt)},
                        {"has_new_line", content.find('\n') != std::string::npos}, {"truncated", false},
                        {"stop_type", "limit"}, {"stopping_word", ""}, {"tokens_cached", n_cached},
                        {"timings", timings_json(timings)}};
  } else if (format == answer_format::oai_completion) {
    final_answer = oai_envelope(format, json::array({{{"text", stream ? "" : content}, {"index", 0}, {"logprobs", nullptr},
                                                      {"finish_reason", "length"}}}),
                                id, meta_.path, false);
    final_answer["usage"] = usage;
    final_answer.erase("id");  // usage comes before id in llama-server's answer
    final_answer["id"] = id;
    final_answer["timings"] = timings_json(timings);
  } else if (!stream) {
    final_answer = oai_envelope(format, json::array({{{"finish_reason", "length"}, {"index", 0},
                                                      {"message", {{"role", "assistant"}, {"content", content}}}}}),
                                id, meta_.path, false);
    final_answer.erase("id");
    final_answer["usage"] = usage;
    final_answer["id"] = id;
    final_answer["timings"] = timings_json(timings);
  } else {
    final_answer = json::array({oai_envelope(format, json::array({{{"finish_reason", "length"}, {"index", 0}, {"delta", json::object()}}}),
                                             id, meta_.path, true)});
    if (include_usage) {
      json usage_chunk = oai_envelope(format, json::array(), id, meta_.path, true);
      usage_chunk["usage"] = usage;
      final_answer.push_back(usage_chunk);
    }
    final_answer.back()["timings"] = timings_json(timings);
  }
  if (!stream) {
    http_answer answer = json_answer(final_answer);
    co_await ex.reply(std::move(answer));
    co_return;
  }
  co_await ex.send_chunk(sse(final_answer));
  if (format != answer_format::native) {
    std::string done = "data: [DONE]\n\n";
    co_await ex.send_chunk(std::move(done));
  }
  co_await ex.end_stream();
}

}  // namespace fake_llama
