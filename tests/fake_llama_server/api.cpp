#include "api.h"

#include "chat_template.h"
#include "text_generator.h"

#include <boost/asio/use_awaitable.hpp>

#include <ctime>
#include <optional>
#include <set>
#include <sstream>

namespace fake_llama {

http_answer json_answer(const json& body, unsigned status) {
  http_answer a;
  a.status = status;
  a.body = to_text(body);
  return a;
}

http_answer error_answer(const std::string& message, error_kind kind) {
  return json_answer(json{{"error", error_object(message, kind)}}, unsigned(error_status(kind)));
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

api::api(const options& opts, asio::any_io_executor executor)
    : opts_(opts), executor_(executor), pool_(executor, opts.slots), meta_(make_model_meta(opts.model_path, opts.n_ctx)),
      start_time_(std::time(nullptr)) {
  register_generated_words(vocab_);
}

asio::awaitable<void> api::sleep_us(double us) {
  if (us <= 0) co_return;
  asio::steady_timer timer(executor_, std::chrono::microseconds(std::llround(us)));
  co_await timer.async_wait(asio::use_awaitable);
}

asio::awaitable<void> api::handle(const http_request& req, http_exchange& ex) {
  if (req.path.starts_with("/fake/")) {
    co_await fake_hook(req, ex);
    co_return;
  }
  json headers = json::object();
  for (const auto& [name, value] : req.headers)
    headers[name] = headers.contains(name) ? headers[name].get<std::string>() + ", " + value : value;
  last_request_ = json{{"method", req.method}, {"target", req.target}, {"headers", headers}, {"body", req.body}};

  if (std::optional<http_answer> refused = gate(req)) {
    co_await ex.reply(std::move(*refused));
    last_response_ = json{{"status", ex.status_sent()}, {"body", ex.body_sent()}};
    co_return;
  }
  if (faults_.drop_connection > 0) {
    --faults_.drop_connection;
    ex.drop();
    co_return;
  }
  co_await sleep_us(faults_.delay_response_ms * 1000.0);

  // ex_wrapper: invalid_argument is the client's fault (400), anything else a server error.
  std::optional<http_answer> failure;
  try {
    co_await route(req, ex);
  } catch (const boost::system::system_error&) {
    throw;  // the connection is gone or the request was cancelled
  } catch (const std::invalid_argument& e) {
    failure = error_answer(e.what(), error_kind::invalid_request);
  } catch (const std::exception& e) {
    failure = error_answer(e.what(), error_kind::server);
  }
  if (failure && !ex.answered()) co_await ex.reply(std::move(*failure));
  last_response_ = json{{"status", ex.status_sent()}, {"body", ex.body_sent()}};
}

std::optional<http_answer> api::gate(const http_request& req) const {
  if (req.method == "OPTIONS") {  // CORS preflight skips every other check
    http_answer a;
    a.content_type = "text/html";
    a.headers = {{"Access-Control-Allow-Credentials", "true"},
                 {"Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS"},
                 {"Access-Control-Allow-Headers", "*"}};
    return a;
  }
  // The middlewares build these two bodies themselves, hence another key order.
  if (!loaded_ && req.path != "/")
    return json_answer(json{{"error", {{"message", "Loading model"}, {"type", "unavailable_error"}, {"code", 503}}}}, 503);
  static const std::set<std::string> public_paths{"/", "/health", "/v1/health", "/models", "/v1/models"};
  if (opts_.api_key.empty() || public_paths.contains(req.path)) return std::nullopt;
  std::string key = req.header("Authorization");
  if (key.empty()) key = req.header("X-Api-Key");
  if (key.starts_with("Bearer ")) key = key.substr(7);
  if (key == opts_.api_key) return std::nullopt;
  return json_answer(json{{"error", {{"message", "Invalid API Key"}, {"type", "authentication_error"}, {"code", 401}}}}, 401);
}

asio::awaitable<void> api::route(const http_request& req, http_exchange& ex) {
  const std::string& p = req.path;
  if (req.method == "POST" && (p == "/completion" || p == "/completions")) {
    co_await completion(req, ex, answer_format::native);
  } else if (req.method == "POST" && p == "/v1/completions") {
    co_await completion(req, ex, answer_format::oai_completion);
  } else if (req.method == "POST" && (p == "/chat/completions" || p == "/v1/chat/completions")) {
    co_await completion(req, ex, answer_format::oai_chat);
  } else if (req.method == "POST" && p.starts_with("/slots/") && p.find('/', 7) == std::string::npos) {
    co_await slot_action(req, ex);
  } else {
    http_answer answer = immediate_answer(req);
    co_await ex.reply(std::move(answer));
  }
}

http_answer api::immediate_answer(const http_request& req) {
  const std::string& p = req.path;
  const bool get = req.method == "GET", post = req.method == "POST";
  if (get && (p == "/health" || p == "/v1/health")) return json_answer({{"status", "ok"}});
  if (get && p == "/props") return json_answer(props_json(meta_, opts_.slots, opts_.metrics));
  if (get && (p == "/models" || p == "/v1/models")) return json_answer(models_json(meta_, std::time(nullptr)));
  if (get && p == "/slots") {
    const auto flag = req.query.find("fail_on_no_slot");
    if (flag != req.query.end() && !flag->second.empty() && pool_.busy() == opts_.slots)
      return error_answer("no slot available", error_kind::unavailable);
    return json_answer(slots_json());
  }
  if (get && p == "/metrics") {
    if (!opts_.metrics)
      return error_answer("This server does not support metrics endpoint. Start it with `--metrics`", error_kind::not_supported);
    http_answer a;
    a.content_type = "text/plain; version=0.0.4";
    a.headers = {{"Process-Start-Time-Unix", std::to_string(start_time_)}};
    a.body = metrics_text();
    return a;
  }
  if (post && p == "/apply-template") return json_answer({{"prompt", render_chat(json::parse(req.body))}});
  if (post && p == "/tokenize") {
    const json body = json::parse(req.body);
    json out = json::array();
    if (body.contains("content")) {
      const bool add_special = json_value(body, "add_special", false);
      const bool parse_special = json_value(body, "parse_special", true);
      const json& content = body.at("content");
      tokens toks;
      if (content.is_string()) {
        toks = vocab_.tokenize(content.get<std::string>(), add_special, parse_special);
      } else {  // mixed strings and ids, as tokenize_mixed accepts
        for (const json& part : content) {
          if (part.is_string()) {
            auto more = vocab_.tokenize(part.get<std::string>(), add_special && toks.empty(), parse_special);
            toks.insert(toks.end(), more.begin(), more.end());
          } else {
            toks.push_back(part.get<token>());
          }
        }
      }
      for (token t : toks)
        out.push_back(json_value(body, "with_pieces", false) ? json{{"id", t}, {"piece", vocab_.piece(t)}} : json(t));
    }
    return json_answer({{"tokens", out}});
  }
  if (post && p == "/detokenize") {
    const json body = json::parse(req.body);
    std::string content;
    if (body.contains("tokens")) content = vocab_.detokenize(body.at("tokens").get<tokens>());
    return json_answer({{"content", content}});
  }
  return json_answer(json{{"error", {{"message", "File Not Found"}, {"type", "not_found_error"}, {"code", 404}}}}, 404);
}

json api::slots_json() const {
  json out = json::array();
  for (const auto& s : pool_.slots()) {
    json j{{"id", s.id}, {"n_ctx", opts_.n_ctx}, {"speculative", false}, {"is_processing", s.busy}};
    if (s.task) {
      j["id_task"] = s.task->id_task;
      j["n_prompt_tokens"] = s.cached.size();
      j["n_prompt_tokens_processed"] = s.task->n_processed;
      j["n_prompt_tokens_cache"] = s.task->n_cache;
      j["params"] = s.task->params;
      j["next_token"] = json::array({{{"has_next_token", s.task->has_next_token}, {"has_new_line", false},
                                      {"n_remain", s.task->n_remain}, {"n_decoded", s.task->n_decoded}}});
    }
    out.push_back(j);
  }
  return out;
}

std::string api::metrics_text() const {
  struct metric { const char* name; const char* help; const char* type; double value; };
  const double busy = pool_.busy();
  const metric all[] = {
      {"prompt_tokens_total", "Number of prompt tokens processed.", "counter", double(stats_.prompt_tokens_processed)},
      {"prompt_seconds_total", "Prompt process time", "counter", double(std::uint64_t(stats_.prompt_ms)) / 1e3},
      {"tokens_predicted_total", "Number of generation tokens processed.", "counter", double(stats_.generated_tokens)},
      {"tokens_predicted_seconds_total", "Predict process time", "counter", double(std::uint64_t(stats_.predicted_ms)) / 1e3},
      {"n_decode_total", "Total number of llama_decode() calls", "counter", double(stats_.n_decode)},
      {"n_tokens_max", "Largest observed n_tokens.", "counter", double(stats_.n_tokens_max)},
      {"prompt_tokens_seconds", "Average prompt throughput in tokens/s.", "gauge",
       stats_.prompt_tokens_processed ? 1e3 / std::max(stats_.prompt_ms, 0.001) * double(stats_.prompt_tokens_processed) : 0.},
      {"predicted_tokens_seconds", "Average generation throughput in tokens/s.", "gauge",
       stats_.generated_tokens ? 1e3 / std::max(stats_.predicted_ms, 0.001) * double(stats_.generated_tokens) : 0.},
      {"requests_processing", "Number of requests processing.", "gauge", busy},
      {"requests_deferred", "Number of requests deferred.", "gauge", double(pool_.waiting())},
      {"n_busy_slots_per_decode", "Average number of busy slots per llama_decode() call", "gauge",
       stats_.n_decode ? 1.0 : 0.0},
  };
  std::ostringstream out;
  for (const auto& m : all)
    out << "# HELP llamacpp:" << m.name << " " << m.help << "\n# TYPE llamacpp:" << m.name << " " << m.type
        << "\nllamacpp:" << m.name << " " << m.value << "\n";
  return out.str();
}

json api::stats_json() const {
  json slots = json::array();
  for (const auto& s : pool_.slots())
    slots.push_back({{"id", s.id}, {"n_tokens", s.cached.size()}, {"busy", s.busy}});
  return json{{"requests", stats_.requests},
              {"prompt_tokens_processed", stats_.prompt_tokens_processed},
              {"prompt_tokens_reused", stats_.prompt_tokens_reused},
              {"generated_tokens", stats_.generated_tokens},
              {"restores", stats_.restores},
              {"restore_failures", stats_.restore_failures},
              {"saves", stats_.saves},
              {"save_bytes", stats_.save_bytes},
              {"erases", stats_.erases},
              {"cancelled", stats_.cancelled},
              {"slot_id_out_of_range", stats_.slot_id_out_of_range},
              {"max_concurrent_requests", stats_.max_concurrent_requests},
              {"in_flight", stats_.in_flight},
              {"waiting", pool_.waiting()},
              {"slots", slots}};
}

asio::awaitable<void> api::fake_hook(const http_request& req, http_exchange& ex) {
  http_answer answer = fake_answer(req);
  co_await ex.reply(std::move(answer));
}

http_answer api::fake_answer(const http_request& req) {
  const std::string& p = req.path;
  std::optional<http_answer> answer;
  try {
    if (req.method == "GET" && p == "/fake/stats") {
      answer = json_answer(stats_json());
    } else if (req.method == "GET" && p == "/fake/last-request") {
      answer = json_answer(last_request_);
    } else if (req.method == "GET" && p == "/fake/last-response") {
      answer = json_answer(last_response_);
    } else if (req.method == "GET" && p.starts_with("/fake/slots/") && p.ends_with("/tokens")) {
      const int id = std::stoi(p.substr(12));
      if (id < 0 || id >= opts_.slots) throw std::invalid_argument("no such slot");
      const auto& cached = pool_.slots()[std::size_t(id)].cached;
      answer = json_answer({{"id", id}, {"n_tokens", cached.size()}, {"tokens", cached}});
    } else if (req.method == "POST" && p == "/fake/faults") {
      const json body = json::parse(req.body);
      for (const auto& [key, value] : body.items()) {
        int* field = key == "fail_restore" ? &faults_.fail_restore
                     : key == "save_written_zero" ? &faults_.save_written_zero
                     : key == "close_mid_stream" ? &faults_.close_mid_stream
                     : key == "drop_connection" ? &faults_.drop_connection
                     : key == "delay_response_ms" ? &faults_.delay_response_ms : nullptr;
        if (!field) throw std::invalid_argument("unknown fault: " + key);
        *field = value.get<int>();
      }
      answer = json_answer({{"fail_restore", faults_.fail_restore}, {"save_written_zero", faults_.save_written_zero},
                            {"close_mid_stream", faults_.close_mid_stream}, {"drop_connection", faults_.drop_connection},
                            {"delay_response_ms", faults_.delay_response_ms}});
    } else if (req.method == "POST" && p == "/fake/reset") {
      const int in_flight = stats_.in_flight;
      stats_ = counters{};
      stats_.in_flight = stats_.max_concurrent_requests = in_flight;
      faults_ = faults{};
      answer = json_answer({{"reset", true}});
    } else {
      answer = error_answer("File Not Found", error_kind::not_found);
    }
  } catch (const std::exception& e) {
    answer = error_answer(e.what(), error_kind::invalid_request);
  }
  return *answer;
}

}  // namespace fake_llama
