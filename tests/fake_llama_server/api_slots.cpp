// POST /slots/{id}?action=save|restore|erase, with real files in --slot-save-path.
#include "api.h"

#include "slot_file.h"

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fstream>
#include <iterator>

namespace fake_llama {

// llama-server runs a save or restore to its end once it started, even if the client left.
asio::awaitable<bool> api::finish_anyway(double us) {
  if (us <= 0) co_return false;
  asio::steady_timer timer(executor_, std::chrono::microseconds(std::llround(us)));
  bool cancelled = false;
  try {
    co_await timer.async_wait(asio::use_awaitable);
  } catch (const boost::system::system_error&) {
    cancelled = true;
  }
  if (cancelled) {  // spend the rest of the time regardless
    co_await asio::this_coro::reset_cancellation_state();
    co_await timer.async_wait(asio::use_awaitable);
  }
  co_return cancelled;
}

asio::awaitable<void> api::slot_action(const http_request& req, http_exchange& ex) {
  if (opts_.slot_save_path.empty()) {
    http_answer answer = error_answer(
        "This server does not support slots action. Start it with `--slot-save-path`", error_kind::not_supported);
    co_await ex.reply(std::move(answer));
    co_return;
  }
  std::optional<int> parsed;
  try {
    parsed = std::stoi(req.path.substr(7));  // like std::stoi in llama-server: "1abc" is 1
  } catch (const std::exception&) {
  }
  const auto action_it = req.query.find("action");
  const std::string action = action_it == req.query.end() ? "" : action_it->second;
  if (!parsed) {
    http_answer answer = error_answer("Invalid slot ID", error_kind::invalid_request);
    co_await ex.reply(std::move(answer));
    co_return;
  }
  const int id = *parsed;
  if (action != "save" && action != "restore" && action != "erase") {
    http_answer answer = error_answer("Invalid action", error_kind::invalid_request);
    co_await ex.reply(std::move(answer));
    co_return;
  }
  std::string filename;
  if (action != "erase") {
    filename = json::parse(req.body).at("filename").get<std::string>();
    if (!valid_slot_filename(filename)) {
      http_answer answer = error_answer("Invalid filename", error_kind::invalid_request);
      co_await ex.reply(std::move(answer));
      co_return;
    }
  }
  // get_slot_by_id: ids wrap modulo the slot count, negative remainders match no slot.
  const int wrapped = id % opts_.slots;
  if (wrapped < 0) {
    http_answer answer = error_answer("Invalid slot ID", error_kind::invalid_request);
    co_await ex.reply(std::move(answer));
    co_return;
  }
  if (id >= opts_.slots || id < 0) ++stats_.slot_id_out_of_range;
  const std::string path = opts_.slot_save_path + filename;
  ++next_task_id_;
  const tokens no_prompt;
  std::optional<slot_pool::lease> slot(co_await pool_.acquire(wrapped, no_prompt));  // a busy slot defers the action
  const auto start = std::chrono::steady_clock::now();

  if (action == "erase") {
    const std::size_t n_erased = (*slot)->cached.size();
    (*slot)->cached.clear();
    slot.reset();
    ++stats_.erases;
    http_answer answer = json_answer({{"id_slot", id}, {"n_erased", n_erased}});
    co_await ex.reply(std::move(answer));
  } else if (action == "save") {
    const tokens toks = (*slot)->cached;
    const bool write = faults_.save_written_zero <= 0;
    if (!write) --faults_.save_written_zero;
    // Written in place like llama_state_seq_save_file: the file is truncated first and stays
    // incomplete while the (simulated) write takes its time.
    std::ofstream file;
    if (write) file.open(path, std::ios::binary | std::ios::trunc);
    const bool client_gone = co_await finish_anyway(double(toks.size()) * opts_.us_per_saved_token);
    std::size_t written = 0;
    if (write && file) {
      const std::string bytes = encode_slot_file(toks, opts_.bytes_per_token);
      if (file.write(bytes.data(), std::streamsize(bytes.size())) && file.flush()) written = bytes.size();
    }
    file.close();
    slot.reset();
    ++stats_.saves;
    stats_.save_bytes += written;
    if (client_gone) co_return;
    http_answer answer = json_answer({{"id_slot", id}, {"filename", filename}, {"n_saved", toks.size()},
                                      {"n_written", written}, {"timings", {{"save_ms", ms_since(start)}}}});
    co_await ex.reply(std::move(answer));
  } else {
    std::ifstream file(path, std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
    auto decoded = file.is_open() ? decode_slot_file(bytes, std::size_t(opts_.n_ctx), opts_.bytes_per_token) : std::nullopt;
    const bool client_gone = co_await finish_anyway(double(decoded ? decoded->toks.size() : 0) * opts_.us_per_saved_token);
    if (faults_.fail_restore > 0) --faults_.fail_restore, decoded.reset();
    (*slot)->cached.clear();  // a failed restore leaves the slot empty
    if (!decoded) {
      slot.reset();
      ++stats_.restore_failures;
      if (client_gone) co_return;
      http_answer answer = error_answer(
          "Unable to restore slot, no available space in KV cache or invalid slot save file", error_kind::invalid_request);
      co_await ex.reply(std::move(answer));
      co_return;
    }
    (*slot)->cached = decoded->toks;
    slot.reset();
    ++stats_.restores;
    if (client_gone) co_return;
    http_answer answer = json_answer({{"id_slot", id}, {"filename", filename}, {"n_restored", decoded->toks.size()},
                                      {"n_read", decoded->n_read}, {"timings", {{"restore_ms", ms_since(start)}}}});
    co_await ex.reply(std::move(answer));
  }
}

}  // namespace fake_llama
