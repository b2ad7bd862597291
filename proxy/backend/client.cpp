#include "backend/client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>

#include "backend/connection_pool.h"
#include "config/config.h"

namespace slotcache {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using nlohmann::json;

namespace {

constexpr auto token = net::as_tuple(net::use_awaitable);


std::string error_message_of(const json& doc, std::string_view fallback) {
  if (doc.is_object() && doc.contains("error") && doc["error"].is_object() && doc["error"].contains("message") &&
      doc["error"]["message"].is_string())
    return doc["error"]["message"].get<std::string>();
  return std::string(fallback);
}

template <class T>
T number_at(const json& doc, const char* key, T fallback = T{}) {
  auto it = doc.find(key);
  return it != doc.end() && it->is_number() ? it->get<T>() : fallback;
}

}  // namespace

net::awaitable<backend_client::outcome<json>> backend_client::call(std::string_view method, std::string_view target,
                                                                    const json* body) {
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, config_.backend.host);
  req.set(http::field::user_agent, "slotcache");
  if (!config_.backend_api_key.empty()) req.set(http::field::authorization, "Bearer " + config_.backend_api_key);
  if (body) {
    req.set(http::field::content_type, "application/json");
    req.body() = body->dump(-1, ' ', false, json::error_handler_t::replace);
  }
  req.keep_alive(true);
  req.prepare_payload();

  for (int attempt = 0;; ++attempt) {
    auto acquired = co_await pool_.acquire(/*fresh=*/attempt > 0);
    if (!acquired.connection)
      co_return backend_error{0, fmt::format("backend {} unreachable: {}", config_.backend_url,
                                             acquired.timed_out ? "connect timed out" : acquired.error.message())};
    auto conn = std::move(acquired.connection);
    const auto sent = std::chrono::steady_clock::now();
    arm(conn->stream, config_.backend_idle_timeout);
    auto [write_ec, written] = co_await http::async_write(conn->stream, req, token);
    boost::system::error_code ec = write_ec;
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);
    if (!ec) {
      arm(conn->stream, config_.backend_idle_timeout);
      auto [read_ec, n] = co_await http::async_read(conn->stream, conn->buffer, parser, token);
      ec = read_ec;
    }
    if (ec) {
      if (conn->reused && attempt == 0 && !parser.is_header_done() &&
          stale_connection_error(ec, std::chrono::steady_clock::now() - sent))
        continue;
      co_return backend_error{0, fmt::format("{} {} failed: {}", method, target, ec.message())};
    }
    auto& res = parser.get();
    if (res.keep_alive()) pool_.release(std::move(conn));

    json doc = json::parse(res.body(), nullptr, /*allow_exceptions=*/false);
    unsigned status = res.result_int();
    if (status / 100 != 2)
      co_return backend_error{status, error_message_of(doc, fmt::format("{} {} answered {}", method, target, status))};
    if (doc.is_discarded())
      co_return backend_error{status, fmt::format("{} {} answered with something that is not JSON", method, target)};
    co_return doc;
  }
}

net::awaitable<backend_client::outcome<json>> backend_client::props() { co_return co_await call("GET", "/props"); }

net::awaitable<backend_client::outcome<json>> backend_client::models() {
  co_return co_await call("GET", "/v1/models");
}

net::awaitable<backend_client::outcome<std::string>> backend_client::apply_template(const json& chat_request) {
  auto answer = co_await call("POST", "/apply-template", &chat_request);
  if (!answer) co_return answer.error();
  const json& doc = answer.value();
  if (!doc.contains("prompt") || !doc["prompt"].is_string())
    co_return backend_error{200, "/apply-template answered without a prompt"};
  co_return doc["prompt"].get<std::string>();
}

net::awaitable<backend_client::outcome<std::vector<token_id>>> backend_client::tokenize(std::string_view content,
                                                                                       bool add_special) {
  const json body = {{"content", content}, {"add_special", add_special}, {"parse_special", true}};
  auto answer = co_await call("POST", "/tokenize", &body);
  if (!answer) co_return answer.error();
  const json& doc = answer.value();
  if (!doc.contains("tokens") || !doc["tokens"].is_array())
    co_return backend_error{200, "/tokenize answered without tokens"};
  std::vector<token_id> tokens;
  tokens.reserve(doc["tokens"].size());
  for (const auto& t : doc["tokens"]) {
    if (!t.is_number_integer()) co_return backend_error{200, "/tokenize answered a token that is not a number"};
    tokens.push_back(t.get<token_id>());
  }
  co_return tokens;
}

net::awaitable<backend_client::outcome<prefill_result>> backend_client::prefill(int slot, token_span tokens) {
  const json body = {{"prompt", tokens}, {"n_predict", 0}, {"id_slot", slot}, {"cache_prompt", true}};
  auto answer = co_await call("POST", "/completion", &body);
  if (!answer) co_return answer.error();
  const json& doc = answer.value();
  if (!doc.contains("timings") || !doc["timings"].is_object())
    co_return backend_error{200, "/completion answered without timings"};
  co_return prefill_result{number_at<int>(doc["timings"], "cache_n"), number_at<int>(doc["timings"], "prompt_n")};
}

net::awaitable<backend_client::outcome<save_result>> backend_client::slot_save(int slot, std::string_view filename) {
  const json body = {{"filename", filename}};
  const std::string target = fmt::format("/slots/{}?action=save", slot);
  auto answer = co_await call("POST", target, &body);
  if (!answer) co_return answer.error();
  const json& doc = answer.value();
  save_result r;
  r.n_written = number_at<std::uint64_t>(doc, "n_written");
  r.n_saved = number_at<int>(doc, "n_saved");
  if (doc.contains("timings") && doc["timings"].is_object()) r.save_ms = number_at<double>(doc["timings"], "save_ms");
  co_return r;
}

net::awaitable<backend_client::outcome<restore_result>> backend_client::slot_restore(int slot,
                                                                                     std::string_view filename) {
  const json body = {{"filename", filename}};
  const std::string target = fmt::format("/slots/{}?action=restore", slot);
  auto answer = co_await call("POST", target, &body);
  if (!answer) co_return answer.error();
  const json& doc = answer.value();
  restore_result r;
  r.n_restored = number_at<int>(doc, "n_restored");
  r.n_read = number_at<std::uint64_t>(doc, "n_read");
  if (doc.contains("timings") && doc["timings"].is_object())
    r.restore_ms = number_at<double>(doc["timings"], "restore_ms");
  co_return r;
}

net::awaitable<backend_client::outcome<int>> backend_client::slot_erase(int slot) {
  const json body = json::object();
  const std::string target = fmt::format("/slots/{}?action=erase", slot);
  auto answer = co_await call("POST", target, &body);
  if (!answer) co_return answer.error();
  co_return number_at<int>(answer.value(), "n_erased");
}

}  // namespace slotcache
