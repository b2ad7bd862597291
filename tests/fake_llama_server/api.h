#pragma once
// The fake llama-server's endpoints, its simulated model and the /fake/* test hooks.
#include "http_exchange.h"
#include "llama_json.h"
#include "options.h"
#include "slot_pool.h"
#include "tokenizer.h"

#include <chrono>
#include <cstdint>
#include <optional>

namespace fake_llama {

// GET /fake/stats; also the source of /metrics.
struct counters {
  std::uint64_t requests = 0, prompt_tokens_processed = 0, prompt_tokens_reused = 0, generated_tokens = 0;
  std::uint64_t restores = 0, restore_failures = 0, saves = 0, save_bytes = 0, erases = 0;
  std::uint64_t cancelled = 0, slot_id_out_of_range = 0;
  int in_flight = 0, max_concurrent_requests = 0;
  double prompt_ms = 0, predicted_ms = 0;
  std::uint64_t n_decode = 0, n_tokens_max = 0;
};

// POST /fake/faults: counts are consumed one per matching operation.
struct faults {
  int fail_restore = 0, save_written_zero = 0, close_mid_stream = 0, drop_connection = 0;
  int delay_response_ms = 0;  // every request until reset
};

enum class answer_format { native, oai_completion, oai_chat };

class api {
public:
  api(const options& opts, asio::any_io_executor executor);

  // Answers one request, like llama-server's middlewares, routes and ex_wrapper together.
  asio::awaitable<void> handle(const http_request& req, http_exchange& ex);
  void finish_loading() { loaded_ = true; }

private:
  std::optional<http_answer> gate(const http_request& req) const;  // CORS preflight, loading, API key
  asio::awaitable<void> route(const http_request& req, http_exchange& ex);
  http_answer immediate_answer(const http_request& req);
  asio::awaitable<void> completion(const http_request& req, http_exchange& ex, answer_format format);
  asio::awaitable<void> slot_action(const http_request& req, http_exchange& ex);
  asio::awaitable<void> fake_hook(const http_request& req, http_exchange& ex);
  http_answer fake_answer(const http_request& req);

  tokens prompt_tokens(const json& prompt);
  json slots_json() const;
  std::string metrics_text() const;
  json stats_json() const;
  asio::awaitable<void> sleep_us(double us);
  asio::awaitable<bool> finish_anyway(double us);  // true if the client went away meanwhile

  options opts_;
  asio::any_io_executor executor_;
  tokenizer vocab_;
  slot_pool pool_;
  model_meta meta_;
  counters stats_;
  faults faults_;
  json last_request_ = json::object();
  json last_response_ = json::object();
  bool loaded_ = false;
  int next_task_id_ = 0;
  std::int64_t start_time_ = 0;
};

// A JSON answer; errors are {"error": error_object(...)} with the status from their kind.
http_answer json_answer(const json& body, unsigned status = 200);
http_answer error_answer(const std::string& message, error_kind kind);
double ms_since(std::chrono::steady_clock::time_point start);

// llama-server's json_value: the default when the key is absent, null or of another type.
template <class T>
T json_value(const json& body, const char* key, T fallback) {
  if (!body.is_object() || !body.contains(key) || body.at(key).is_null()) return fallback;
  try {
    return body.at(key).get<T>();
  } catch (const json::exception&) {
    return fallback;
  }
}

}  // namespace fake_llama
