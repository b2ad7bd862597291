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
  const nlohmann::json two_turns = {
      {"messages",
       {{{"role", "user"}, {"content", "Hello"}}, {{"role", "assistant"}, {"content", "Hi"}},
        {{"role", "user"}, {"content", "Bye"}}}}};
  if (auto rendered = co_await client.apply_template(two_turns)) {
    if (auto tokens = co_await client.tokenize(rendered.value())) {
      const auto& t = tokens.value();
      std::size_t first = 0;
      while (first < t.size() && first < skip.size() && t[first] == skip[first]) ++first;
      if (first < t.size() && std::count(t.begin(), t.end(), t[first]) >= 3) identity.message_start = t[first];
    }
  }
  if (!identity.message_start)
    spdlog::warn("backend template: no message-start token found; checkpoints only at the end of prompts");

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

net::awaitable<void> backend_monitor::run(backend_client& client) {
  net::steady_timer timer(co_await net::this_coro::executor);
  auto retry = std::chrono::milliseconds(250);
  bool warned = false;
  while (!stopping_) {
    bool ok = co_await refresh(client);
    if (ok) {
      retry = std::chrono::milliseconds(250);
      warned = false;
      if (auto id = current_.load(); id && id->store) id->store->flush();
    } else if (!warned && !current_.load()) {
      spdlog::warn("backend {} not answering yet; relaying without cache until it does", config_.backend_url);
      warned = true;
    }
    // Until the first answer, retry soon (with backoff); afterwards, check now and then.
    auto wait = current_.load() && ok ? std::chrono::duration_cast<std::chrono::milliseconds>(config_.backend_check_interval) : retry;
    retry = std::min(retry * 2, std::chrono::milliseconds(5000));
    timer.expires_after(wait);
    co_await timer.async_wait(net::as_tuple(net::use_awaitable));
  }
}

}  // namespace slotcache
