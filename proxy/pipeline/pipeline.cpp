#include "pipeline/pipeline.h"

#include <algorithm>
#include <optional>
#include <variant>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "backend/backend_monitor.h"
#include "backend/client.h"
#include "cache/answer_timings.h"
#include "cache/boundaries.h"
#include "cache/generated_text.h"
#include "cache/prompt_request.h"
#include "config/config.h"
#include "server/reply.h"
#include "server/router.h"
#include "server/worker.h"

namespace slotcache {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using nlohmann::json;
using namespace net::experimental::awaitable_operators;

namespace {

// Saving costs the backend's main loop time (every slot waits) and 50-130 KiB per token on real
// models: a slot's old content is kept only when it holds this much beyond what the new prompt
// shares with it.
constexpr std::size_t min_saved_tokens = 64;

// What steps 1-4 leave for forwarding.
struct prepared {
  std::vector<token_id> tokens;
  slot_lease lease;               // inactive: relay without pinning
  std::size_t expected_reuse = 0; // tokens the backend should reuse from the slot
  std::size_t restored = 0;       // restored from a checkpoint (0: none)
  std::string degraded;           // why caching was given up for this request
  std::optional<unsigned> refuse; // answer this status instead (no slot in time)
  std::string refuse_message;
  double tokenize_ms = 0;         // rendering and tokenizing through the backend
};

std::vector<std::size_t> positions_of(const std::vector<token_id>& tokens, const std::vector<token_id>& marker) {
  std::vector<std::size_t> at;
  if (marker.empty() || marker.size() > tokens.size()) return at;
  for (std::size_t i = 0; i + marker.size() <= tokens.size(); ++i)
    if (std::equal(marker.begin(), marker.end(), tokens.begin() + static_cast<std::ptrdiff_t>(i))) at.push_back(i);
  return at;
}

class pipeline_run {
 public:
  pipeline_run(worker& w, const backend_identity& id, pipeline_stats& stats, const config& cfg)
      : client_(w.client), id_(id), store_(*id.store), stats_(stats), cfg_(cfg) {}

  net::awaitable<void> prepare(prepared& p, const prompt_request& shape, const json& body) {
    const auto started = std::chrono::steady_clock::now();
    const bool tokenized = co_await tokens_of(p, shape, body);
    p.tokenize_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    if (!tokenized) co_return;
    if (!co_await lease_slot(p, body)) co_return;
    const int slot = p.lease.slot();
    auto held = p.lease.held_tokens();
    std::size_t reuse = 0;
    if (id_.kind == model_kind::dense)
      reuse = p.lease.common_prefix();
    else if (held && p.lease.extends() && held->size() < p.tokens.size())
      reuse = held->size();

    // Dense: a slot's content is about to be replaced by a prompt that does not extend it.
    if (id_.kind == model_kind::dense && held && !p.lease.extends() && held->size() >= reuse + min_saved_tokens)
      co_await save_prefix(slot, std::vector<token_id>(held->begin(), held->end()), "slot content");

    for (int attempt = 0; attempt < 3; ++attempt) {
      auto found = store_.acquire_longest_prefix(p.tokens, p.tokens.size() - 1);
      if (!found.lease || found.lease->n_tokens() <= reuse) break;
      ++stats_.restores;
      auto restored = co_await client_.slot_restore(slot, found.lease->file_name());
      if (restored) {
        found.lease->record_hit();
        reuse = p.restored = found.lease->n_tokens();
        spdlog::debug("cache: restored {} tokens into slot {} ({:.1f} ms)", reuse, slot, restored.value().restore_ms);
        break;
      }
      ++stats_.restore_failures;
      spdlog::warn("cache: restoring {} into slot {} failed: {}; dropping that checkpoint", found.lease->file_name(),
                   slot, restored.error().message);
      found.lease->discard();
      reuse = 0;  // a failed restore leaves the slot empty
    }

    if (id_.kind == model_kind::hybrid) {
      auto starts = positions_of(p.tokens, id_.message_marker);
      boundary_input in;
      in.n_tokens = p.tokens.size();
      in.message_starts = starts;
      if (!starts.empty() && starts.back() > 0) in.last_message_end = starts.back();
      in.reused = reuse;
      in.chunk_tokens = cfg_.chunk_tokens;
      for (std::size_t b : checkpoint_boundaries(in)) {
        std::vector<token_id> prefix(p.tokens.begin(), p.tokens.begin() + static_cast<std::ptrdiff_t>(b));
        if (!co_await save_prefix(slot, std::move(prefix), "boundary", reuse)) break;
        reuse = b;
      }
    }
    p.expected_reuse = std::min(reuse, p.tokens.size() - 1);
  }

  // Leaves exactly `prefix` in the slot (prefill) and checkpoints it, unless already on disk.
  // `expected_reuse`: what the slot should let the backend skip; less means slotcache's picture of
  // the slot was wrong (a restarted backend, an answer the client changed), which is counted.
  net::awaitable<bool> save_prefix(int slot, std::vector<token_id> prefix, const char* what,
                                   std::size_t expected_reuse = 0) {
    auto ticket = store_.reserve(prefix);
    if (!ticket) co_return ticket.error() == store_error::already_indexed || ticket.error() == store_error::busy;
    auto filled = co_await client_.prefill(slot, prefix);
    if (!filled) {
      ++stats_.save_failures;
      spdlog::warn("cache: prefill of {} tokens in slot {} failed: {}", prefix.size(), slot, filled.error().message);
      co_return false;
    }
    if (static_cast<std::size_t>(filled.value().cache_n) + 1 < expected_reuse) {
      ++stats_.restore_ineffective;
      spdlog::warn("cache: slot {} let the backend reuse {} tokens where {} were expected", slot,
                   filled.value().cache_n, expected_reuse);
    }
    const std::string file = ticket.value().file_name();
    auto saved = co_await client_.slot_save(slot, file);
    if (!saved || saved.value().n_written == 0) {
      ++stats_.save_failures;
      spdlog::warn("cache: saving slot {} to {} failed: {}", slot, file,
                   saved ? std::string("nothing written") : saved.error().message);
      co_return true;  // the slot holds the prefix all the same
    }
    auto published = store_.publish(std::move(ticket).value(), prefix, saved.value().n_written);
    if (!published) {
      ++stats_.save_failures;
      spdlog::warn("cache: checkpoint {} refused: {}", file, to_string(published.error()));
      co_return true;
    }
    ++stats_.saves;
    stats_.saved_bytes += saved.value().n_written;
    spdlog::debug("cache: saved {} ({} tokens, {} bytes, {:.1f} ms) from slot {}", what, prefix.size(),
                  saved.value().n_written, saved.value().save_ms, slot);
    co_return true;
  }

 private:
  net::awaitable<bool> tokens_of(prepared& p, const prompt_request& shape, const json& body) {
    if (shape.form == prompt_form::tokens) {
      p.tokens = shape.tokens;
    } else {
      std::string text = shape.text;
      if (shape.form == prompt_form::chat) {
        auto rendered = co_await client_.apply_template(body);
        if (!rendered) {
          p.degraded = "apply-template: " + rendered.error().message;
          co_return false;
        }
        text = std::move(rendered).value();
      }
      auto tokens = co_await client_.tokenize(text);
      if (!tokens) {
        p.degraded = "tokenize: " + tokens.error().message;
        co_return false;
      }
      p.tokens = std::move(tokens).value();
    }
    if (p.tokens.size() < 2) {
      p.degraded = "prompt too short to cache";
      co_return false;
    }
    co_return true;
  }

  net::awaitable<bool> lease_slot(prepared& p, const json& body) {
    std::optional<int> wanted;
    if (auto it = body.find("id_slot"); it != body.end() && it->is_number_integer()) {
      int k = it->get<int>();
      if (k >= 0 && k < id_.total_slots) wanted = k;  // anything else is "any slot": never sent as given
    }
    auto acquired = co_await id_.slots->acquire(p.tokens, wanted);
    if (acquired) {
      p.lease = std::move(acquired).value();
      co_return true;
    }
    switch (acquired.error()) {
      case slot_error::queue_full:
      case slot_error::timeout:
      case slot_error::shutting_down:
        ++stats_.rejected;
        p.refuse = 503;
        p.refuse_message = fmt::format("no backend slot available ({}); try again later", to_string(acquired.error()));
        break;
      default:
        p.degraded = fmt::format("slot lease: {}", to_string(acquired.error()));
        break;
    }
    co_return false;
  }

  backend_client& client_;
  const backend_identity& id_;
  checkpoint_store& store_;
  pipeline_stats& stats_;
  const config& cfg_;
};

}  // namespace

net::awaitable<void> save_slots(worker& w, backend_monitor& monitor, pipeline_stats& stats, const config& cfg,
                                std::chrono::seconds min_idle) {
  auto identity = monitor.current();
  if (!identity || !identity->caching()) co_return;
  pipeline_run run(w, *identity, stats, cfg);
  const auto snapshot = identity->slots->snapshot();
  for (int slot = 0; slot < identity->total_slots; ++slot) {
    const auto& view = snapshot.slots[static_cast<std::size_t>(slot)];
    if (view.leased || !view.n_tokens || *view.n_tokens < min_saved_tokens || view.idle_age < min_idle) continue;
    auto lease = co_await identity->slots->acquire({}, slot);
    if (!lease) continue;
    auto held = lease.value().held_tokens();
    // Dense only: a hybrid slot holds generated tokens slotcache cannot name after its prompt.
    if (identity->kind != model_kind::dense || !held || held->size() < min_saved_tokens) continue;
    std::vector<token_id> content(held->begin(), held->end());
    if (co_await run.save_prefix(slot, content, "slot content at shutdown"))
      lease.value().release(std::move(content));
  }
}

net::awaitable<void> save_idle_slots(worker& w, backend_monitor& monitor, pipeline_stats& stats, const config& cfg) {
  if (cfg.save_idle.count() == 0) co_return;
  net::steady_timer timer(co_await net::this_coro::executor);
  for (;;) {
    timer.expires_after(std::max(std::chrono::seconds(1), cfg.save_idle / 4));
    auto [ec] = co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    if (ec) co_return;
    // A content already checkpointed is found in the index and not saved again.
    co_await save_slots(w, monitor, stats, cfg, cfg.save_idle);
  }
}

net::awaitable<relay_result> run_pipeline(beast::tcp_stream& client, http::request<http::string_body> req, worker& w,
                                          backend_monitor& monitor, pipeline_stats& stats, const config& cfg,
                                          bool client_keep_alive) {
  auto identity = monitor.current();
  if (!identity || !identity->caching())
    co_return co_await relay(client, std::move(req), w.pool, cfg, client_keep_alive);
  ++stats.requests;

  json body = json::parse(req.body(), nullptr, false);
  const std::string path(path_of(req.target()));
  prompt_request shape = classify_prompt(path, body);
  if (shape.form == prompt_form::unsupported) {
    ++stats.bypass;
    spdlog::debug("cache: bypass {}: {}", path, shape.why);
    co_return co_await relay(client, std::move(req), w.pool, cfg, client_keep_alive);
  }

  // Steps 1-4 are pointless once the client has gone: they run beside a watch on it.
  prepared p;
  pipeline_run run(w, *identity, stats, cfg);
  std::variant<std::monostate, std::monostate> first;
  try {
    first = co_await (run.prepare(p, shape, body) || watch_client(client));
  } catch (const std::exception& e) {
    // The cache never fails a request: whatever went wrong, the request is relayed as it came.
    p.lease.release_unknown();
    p.degraded = std::string("unexpected: ") + e.what();
  }
  if (first.index() == 1) {
    relay_result gone;
    gone.client_gone = true;
    co_return gone;  // the lease, if any, goes back as unknown
  }
  if (p.refuse) {
    auto r = co_await send_error(client, req.version(), client_keep_alive, *p.refuse, p.refuse_message);
    relay_result refused;
    refused.status = *p.refuse;
    refused.bytes_out = r.body_bytes;
    refused.keep_alive = client_keep_alive && !r.error;
    co_return refused;
  }
  if (!p.lease) {
    ++(p.degraded.empty() ? stats.bypass : stats.errors);
    spdlog::warn("cache: relaying {} uncached: {}", path, p.degraded);
    co_return co_await relay(client, std::move(req), w.pool, cfg, client_keep_alive);
  }

  body["id_slot"] = p.lease.slot();
  body["cache_prompt"] = true;
  req.body() = body.dump(-1, ' ', false, json::error_handler_t::replace);
  req.prepare_payload();
  std::string tail;
  auto result = co_await relay(client, std::move(req), w.pool, cfg, client_keep_alive, &tail);

  // A backend that failed may be restarting: whatever slotcache believed its slots hold is void.
  if (result.backend_failed || result.backend_cut) identity->slots->mark_all_unknown();
  auto timings = find_timings(tail);
  stats.prompt_tokens += p.tokens.size();
  if (timings) {
    stats.reused_tokens += static_cast<std::uint64_t>(timings->cache_n);
    stats.computed_tokens += static_cast<std::uint64_t>(timings->prompt_n);
    if (static_cast<std::size_t>(timings->cache_n) < p.expected_reuse) {
      ++stats.restore_ineffective;
      spdlog::warn("cache: slot {} reused {} tokens where {} were expected ({} restored)", p.lease.slot(),
                   timings->cache_n, p.expected_reuse, p.restored);
    }
  }
  spdlog::debug("cache: {} tokens (tokenized in {:.1f} ms), slot {}, restored {}, reused {}, computed {}",
                p.tokens.size(), p.tokenize_ms, p.lease.slot(), p.restored, timings ? timings->cache_n : -1,
                timings ? timings->prompt_n : -1);
  if (result.status != 200 || result.client_gone || result.backend_cut) {
    p.lease.release_unknown();
    co_return result;
  }
  // The slot holds the prompt and all but the last generated token. A hybrid slot is reusable
  // only by prompts that extend all of it, so slotcache names those tokens when it can: the
  // answer's text, tokenized. When it cannot, it records the prompt alone, and may trust a slot
  // whose tail the next prompt does not share (counted as restore_ineffective).
  if (identity->kind == model_kind::hybrid && timings && timings->predicted_n > 1 && tail.size() == result.bytes_out) {
    if (auto text = generated_text(tail)) {
      auto generated = co_await w.client.tokenize(*text, /*add_special=*/false);
      const auto kept = static_cast<std::size_t>(timings->predicted_n - 1);
      if (generated && generated.value().size() >= kept)
        p.tokens.insert(p.tokens.end(), generated.value().begin(),
                        generated.value().begin() + static_cast<std::ptrdiff_t>(kept));
    }
  }
  p.lease.release(std::move(p.tokens));
  co_return result;
}

}  // namespace slotcache
