#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace slotcache {

// Refused configuration; the message names the offending key.
struct config_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct endpoint {
  std::string host;
  std::uint16_t port = 0;
};

// The effective configuration: built once at start-up, immutable afterwards.
struct config {
  endpoint listen;
  std::string backend_url;  // as given, for logs and error messages
  endpoint backend;
  std::string backend_api_key;  // secret: never logged
  int threads = 1;
  std::string log_level;
  bool access_log = true;
  std::uint64_t max_body_bytes = 0;
  std::chrono::seconds header_timeout{};
  std::chrono::seconds client_idle_timeout{};
  std::chrono::seconds backend_connect_timeout{};
  std::chrono::seconds backend_idle_timeout{};  // 0: never
  std::chrono::seconds backend_keepalive{};
  std::chrono::seconds backend_check_interval{};
  std::size_t backend_pool_size = 0;
  std::chrono::seconds shutdown_timeout{};
  std::string cache_dir;  // empty: no checkpoint cache
  std::uint64_t cache_max_bytes = 0;
  std::size_t cache_max_entries = 0;  // 0: no limit
  std::string model_kind;             // auto, dense or hybrid
  std::size_t chunk_tokens = 0;
  std::chrono::seconds save_idle{};  // 0: never
  std::size_t queue_size = 0;
  std::chrono::seconds queue_wait{};

  // The effective values under their configuration keys, for the start-up summary; secrets redacted.
  nlohmann::json to_json() const;
};

struct option_doc {
  std::string key;    // JSON key, e.g. "max_body_bytes"
  std::string flag;   // command-line flag, e.g. "--max-body-bytes"
  std::string value;  // default, as JSON text
  std::string help;
};

// Every option with its default, in the order --help prints them.
std::vector<option_doc> option_docs();

// Defaults as the JSON document config/slotcache.example.json must equal.
nlohmann::json default_config_json();

// Merges defaults, the file named by --config (if any) and command-line flags (last wins),
// then validates. Throws config_error. Returns nullopt when --help or --version was asked.
std::optional<config> load_config(const std::vector<std::string>& args);

// Validation of an already merged JSON document; pure, for tests.
config config_from_json(const nlohmann::json& doc);

std::string help_text();

}  // namespace slotcache
