#include "backend/backend_monitor.h"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "backend/client.h"
#include "config/config.h"

namespace slotcache {
namespace net = boost::asio;

namespace {

void log_rebuild(const rebuild_report& r, const std::string& dir) {
  if (r.error) {
    spdlog::error("checkpoint store: cannot list {}: {}", dir, r.error.message());
    return;
  }
  spdlog::info(
      "checkpoint store {}: {} checkpoint(s) indexed ({} bytes), {} of other fingerprints kept, {} in progress, "
      "{} evicted, {} problem(s)",
      dir, r.indexed, r.indexed_bytes, r.foreign_entries, r.pending, r.evicted, r.problems.size());
  for (const auto& p : r.problems)
    spdlog::warn("checkpoint store: {}: {}{}", p.file, p.reason, p.removed ? " (removed)" : "");
}

const char* kind_name(model_kind k) { return k == model_kind::dense ? "dense" : "hybrid"; }

// Leading ids the backend adds to any tokenized text (BOS), from tokenizing nothing.
net::awaitable<std::vector<token_id>> special_prefix(backend_client& client) {
  auto empty = co_await client.tokenize("");
  co_return empty ? std::move(empty).value() : std::vector<token_id>{};
}

// The tokens that open a message, learned from the template itself: the generation prompt (what
// opens the assistant's next message, role included) and the opening of a later user message
// share exactly the marker, e.g. <|im_start|>, or its pieces where the vocabulary lacks it.
net::awaitable<std::vector<token_id>> find_message_marker(backend_client& client) {
  const nlohmann::json u1 = {{"role", "user"}, {"content", "Hello"}};
  const nlohmann::json a1 = {{"role", "assistant"}, {"content", "Hi"}};
  const nlohmann::json u2 = {{"role", "user"}, {"content", "Bye"}};
  struct render_spec {
    nlohmann::json messages;
    bool generation_prompt;
  };
  const std::vector<render_spec> specs = {
      {nlohmann::json::array({u1}), false}, {nlohmann::json::array({u1}), true}, {nlohmann::json::array({u1, a1, u2}), false}};
  std::vector<std::vector<token_id>> renders;
  for (const auto& spec : specs) {
    const nlohmann::json body = {{"messages", spec.messages}, {"add_generation_prompt", spec.generation_prompt}};
    auto rendered = co_await client.apply_template(body);
    if (!rendered) co_return std::vector<token_id>{};
    auto tokens = co_await client.tokenize(rendered.value());
    if (!tokens) co_return std::vector<token_id>{};
    renders.push_back(std::move(tokens).value());
  }
  const auto& one = renders[0];
  const auto& with_prompt = renders[1];
  const auto& three = renders[2];
  auto extends = [&](const std::vector<token_id>& longer) {
    return longer.size() > one.size() && std::equal(one.begin(), one.end(), longer.begin());
  };
  if (!extends(with_prompt) || !extends(three)) co_return std::vector<token_id>{};
  const std::vector<token_id> gen(with_prompt.begin() + static_cast<std::ptrdiff_t>(one.size()), with_prompt.end());
  std::size_t best = 0;
  for (std::size_t j = one.size() + 1; j < three.size(); ++j) {
    std::size_t l = 0;
    while (l < gen.size() && j + l < three.size() && three[j + l] == gen[l]) ++l;
    best = std::max(best, l);
  }
  // The whole generation prompt matching would mean the role was matched too: not a marker.
  if (best == 0 || best == gen.size()) co_return std::vector<token_id>{};
  co_return std::vector<token_id>(gen.begin(), gen.begin() + static_cast<std::ptrdiff_t>(best));
}

}  // namespace

backend_monitor::backend_monitor(const config& cfg, const clock& clk) : config_(cfg), clock_(clk) {}

backend_monitor::~backend_monitor() {
  if (auto id = current_.load(); id && id->store) id->store->flush();
}

net::awaitable<bool> backend_monitor::refresh(backend_client& client) {
  auto props = co_await client.props();
  if (!props) {
    spdlog::debug("backend identity: /props: {}", props.error().message);
    co_return false;
  }
  auto models = co_await client.models();
  if (!models) {
    spdlog::debug("backend identity: /v1/models: {}", models.error().message);
    co_return false;
  }
  auto fp = make_fingerprint(props.value(), models.value());
  if (!fp) {
    spdlog::error("backend identity: {}", fp.error());
    co_return false;
  }
  auto previous = current_.load();
  if (previous && previous->fingerprint.id == fp->id) co_return true;

  auto identity = std::make_shared<backend_identity>();
  identity->fingerprint = std::move(fp).value();
  identity->total_slots = props.value().value("total_slots", 0);
  if (previous)
    spdlog::warn("backend changed: {} (was {}); its checkpoints are kept but not restored",
                 identity->fingerprint.summary, previous->fingerprint.summary);
  else
    spdlog::info("backend: {} (fingerprint {})", identity->fingerprint.summary, identity->fingerprint.id);

  if (!config_.cache_dir.empty()) {
    slot_scheduler::options slot_options;
    slot_options.n_slots = std::max(identity->total_slots, 1);
    slot_options.max_waiters = config_.queue_size;
    slot_options.max_wait = config_.queue_wait;
    // Every prompt shares a BOS and a template header with every other: not a reason to pick a slot.
    slot_options.useful_prefix = 32;
    identity->slots = std::make_shared<slot_scheduler>(slot_options, clock_);
    co_await probe(client, *identity);

    store_options options;
    options.dir = config_.cache_dir;
    options.max_bytes = config_.cache_max_bytes;
    options.max_entries = config_.cache_max_entries;
    // Indexing reads every sidecar and slot header: about 0.5 s for 10,000 checkpoints, once.
    identity->store = std::make_shared<checkpoint_store>(options, identity->fingerprint.id, clock_, fs_);
    log_rebuild(identity->store->rebuild(), config_.cache_dir);
  }
  if (previous && previous->store) previous->store->flush();
  if (previous && previous->slots) previous->slots->shutdown();
  current_.store(std::move(identity));
  co_return true;
}

// Once per identity: the template's message-start token, and (model_kind auto) whether a restored
// state is reusable by any prompt sharing a prefix (dense) or only by strict extensions (hybrid):
// prefill 64 tokens, send the first 32 plus another, and see what the backend reuses.
net::awaitable<void> backend_monitor::probe(backend_client& client, backend_identity& identity) {
  const auto skip = co_await special_prefix(client);
  identity.message_marker = co_await find_message_marker(client);
  if (identity.message_marker.empty())
    spdlog::warn("backend template: no message marker found; hybrid checkpoints only where the slot is saved");
  else
    spdlog::info("backend template: messages open with {} token(s)", identity.message_marker.size());

  if (config_.model_kind != "auto") {
    identity.kind = config_.model_kind == "dense" ? model_kind::dense : model_kind::hybrid;
    spdlog::info("model kind: {} (configured)", kind_name(identity.kind));
    co_return;
  }
  std::string text;
  for (int i = 0; i < 40; ++i) text += " alpha beta gamma delta";
  auto tokenized = co_await client.tokenize(text);
  auto lease = co_await identity.slots->acquire({});
  if (!tokenized || tokenized.value().size() < 64 + skip.size() || !lease) {
    spdlog::warn("model kind: probe impossible; assuming hybrid (checkpoints before where prompts part)");
    identity.kind = model_kind::hybrid;
    co_return;
  }
  const auto& all = tokenized.value();
  std::vector<token_id> first(all.begin(), all.begin() + 64);
  std::vector<token_id> second(all.begin(), all.begin() + 32);
  token_id other = all[32];
  for (token_id t : all)
    if (t != all[32]) {
      other = t;
      break;
    }
  second.push_back(other);
  const int slot = lease.value().slot();
  auto b = co_await client.prefill(slot, first);
  if (b) b = co_await client.prefill(slot, second);
  co_await client.slot_erase(slot);
  lease.value().release(std::vector<token_id>{});
  if (!b) {
    spdlog::warn("model kind: probe failed ({}); assuming hybrid", b.error().message);
    identity.kind = model_kind::hybrid;
    co_return;
  }
  identity.kind = b.value().cache_n >= 32 ? model_kind::dense : model_kind::hybrid;
  spdlog::info("model kind: {} (probed: reused {} of 32 shared tokens)", kind_name(identity.kind),
               b.value().cache_n);
}

// llama-server numbers its tasks from 0 in each process: a highest id_task lower than one seen
// before means the backend restarted and its slots hold nothing slotcache put there.
net::awaitable<void> backend_monitor::check_restart(backend_client& client) {
  auto slots = co_await client.call("GET", "/slots");
  if (!slots || !slots.value().is_array()) co_return;  // --no-slots: nothing to learn here
  long long highest = -1;
  for (const auto& s : slots.value())
    if (s.is_object() && s.contains("id_task") && s["id_task"].is_number_integer())
      highest = std::max(highest, s["id_task"].get<long long>());
  if (highest < last_task_id_) {
    if (auto id = current_.load(); id && id->slots) {
      id->slots->mark_all_unknown();
      spdlog::warn("backend restarted (task ids went back): its slots are treated as empty of anything known");
    }
  }
  last_task_id_ = highest;
}

net::awaitable<void> backend_monitor::run(backend_client& client) {
  net::steady_timer timer(co_await net::this_coro::executor);
  auto retry = std::chrono::milliseconds(250);
  bool warned = false;
  while (!stopping_) {
    bool ok = co_await refresh(client);
    if (!ok) lost_contact_ = true;
    if (ok && lost_contact_.exchange(false)) {
      if (auto id = current_.load(); id && id->slots) {
        id->slots->mark_all_unknown();
        spdlog::warn("backend was unreachable: its slots are treated as empty of anything known");
      }
    }
    if (ok) {
      co_await check_restart(client);
      retry = std::chrono::milliseconds(250);
      warned = false;
      if (auto id = current_.load(); id && id->store) id->store->flush();
    } else if (!warned && !current_.load()) {
      spdlog::warn("backend {} not answering yet; relaying without cache until it does", config_.backend_url);
      warned = true;
    }
    // Until the first answer, and while the backend fails, retry soon (with backoff); afterwards,
    // check now and then.
    auto wait = current_.load() && ok && !lost_contact_
                    ? std::chrono::duration_cast<std::chrono::milliseconds>(config_.backend_check_interval)
                    : retry;
    retry = std::min(retry * 2, std::chrono::milliseconds(5000));
    timer.expires_after(wait);
    co_await timer.async_wait(net::as_tuple(net::use_awaitable));
  }
}

}  // namespace slotcache
