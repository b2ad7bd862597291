#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "cache/result.h"
#include "cache/tokens.h"

namespace slotcache {

struct config;
class connection_pool;

// Why a backend call gave no usable answer.
struct backend_error {
  unsigned status = 0;   // HTTP status, 0 when there was no answer at all
  std::string message;   // the backend's error message, or what went wrong on the way
};

struct prefill_result {
  int cache_n = 0;   // tokens the backend reused
  int prompt_n = 0;  // tokens it computed
};

struct save_result {
  std::uint64_t n_written = 0;  // 0: nothing was written, whatever the status said
  int n_saved = 0;
  double save_ms = 0;
};

struct restore_result {
  int n_restored = 0;
  std::uint64_t n_read = 0;
  double restore_ms = 0;
};

// slotcache's own calls to llama-server, over the calling thread's connection pool. Expected
// failures (refused, unreachable, HTTP errors, odd answers) are values, never exceptions.
class backend_client {
 public:
  backend_client(connection_pool& pool, const config& cfg) : pool_(pool), config_(cfg) {}

  template <class T>
  using outcome = result<T, backend_error>;

  // Any call; a JSON answer with status 2xx, else an error carrying the backend's message.
  boost::asio::awaitable<outcome<nlohmann::json>> call(std::string_view method, std::string_view target,
                                                       const nlohmann::json* body = nullptr);

  boost::asio::awaitable<outcome<nlohmann::json>> props();
  boost::asio::awaitable<outcome<nlohmann::json>> models();
  // POST /apply-template with the chat request's own fields; the rendered prompt.
  boost::asio::awaitable<outcome<std::string>> apply_template(const nlohmann::json& chat_request);
  // POST /tokenize with parse_special and (by default) add_special, as the backend tokenizes a prompt.
  boost::asio::awaitable<outcome<std::vector<token_id>>> tokenize(std::string_view content, bool add_special = true);
  // Processes the tokens into the slot without generating (n_predict 0); the slot then holds them.
  boost::asio::awaitable<outcome<prefill_result>> prefill(int slot, token_span tokens);
  boost::asio::awaitable<outcome<save_result>> slot_save(int slot, std::string_view filename);
  boost::asio::awaitable<outcome<restore_result>> slot_restore(int slot, std::string_view filename);
  boost::asio::awaitable<outcome<int>> slot_erase(int slot);

 private:
  connection_pool& pool_;
  const config& config_;
};

}  // namespace slotcache
