#include "config/config.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "config/byte_size.h"

namespace slotcache {
namespace {

using nlohmann::json;

// One table drives defaults, --help, the config file, flags and the example file, so they cannot drift.
struct option_spec {
  const char* key;
  json default_value;
  const char* help;
};

const std::vector<option_spec>& specs() {
  static const std::vector<option_spec> table = {
      {"listen", "127.0.0.1:8081", "HOST:PORT clients connect to"},
      {"backend", "http://127.0.0.1:8080", "llama-server base URL (http only)"},
      {"threads", 0, "I/O threads; 0 = one per core"},
      {"log_level", "info", "trace, debug, info, warn, error or off"},
      {"access_log", true, "log one line per request (at info level)"},
      {"max_body_bytes", "64M", "largest request body accepted (suffixes K, M, G, T); larger is 413"},
      {"header_timeout_seconds", 10, "time a client has to send a request's headers"},
      {"client_idle_timeout_seconds", 120, "idle time allowed while reading a body or between keep-alive requests"},
      {"backend_api_key", "",
       "API key slotcache sends on its own calls to the backend (its --api-key); clients' keys pass through"},
      {"backend_connect_timeout_seconds", 5, "time to connect to the backend before answering 504"},
      {"backend_idle_timeout_seconds", 3600,
       "longest silence from the backend during one request (prompt processing included) before 504; 0 = never"},
      {"backend_keepalive_seconds", 4,
       "pooled backend connections idle longer than this are closed (llama-server drops them after 5)"},
      {"backend_check_seconds", 5,
       "how often the backend's identity (model, context, slots) is checked again, to notice a restart"},
      {"backend_pool_size", 64, "idle keep-alive connections kept to the backend"},
      {"shutdown_timeout_seconds", 30, "on SIGINT/SIGTERM, how long requests in flight may finish"},
      {"cache_dir", "",
       "checkpoint directory, the backend's --slot-save-path (must exist and be writable); empty: no cache"},
      {"cache_max_bytes", "20G", "disk budget for checkpoints (suffixes K, M, G, T)"},
      {"cache_max_entries", 0, "most checkpoints kept; 0 = no limit"},
      {"model_kind", "auto",
       "dense, hybrid (recurrent/SWA: reuse needs a checkpoint before where prompts part) or auto (probed once)"},
      {"chunk_tokens", 4096, "hybrid models: smallest spacing of checkpoints within one prompt"},
      {"save_idle_seconds", 60,
       "dense models: checkpoint what a slot holds once it has been idle this long (0 = never)"},
      {"queue_size", 64, "requests that may wait for a busy backend slot; more are answered 503"},
      {"queue_wait_seconds", 600, "longest wait for a backend slot before 503"},
  };
  return table;
}

std::string flag_of(std::string_view key) {
  std::string flag = "--";
  for (char c : key) flag += c == '_' ? '-' : c;
  return flag;
}

const option_spec* find_by_flag(std::string_view flag) {
  for (const auto& s : specs())
    if (flag_of(s.key) == flag) return &s;
  return nullptr;
}

[[noreturn]] void fail(std::string_view key, std::string_view why) {
  throw config_error(fmt::format("config: '{}': {}", key, why));
}

std::int64_t get_int(const json& doc, const char* key, std::int64_t lo, std::int64_t hi) {
  const json& v = doc.at(key);
  if (!v.is_number_integer()) fail(key, fmt::format("expected an integer, got {}", v.dump()));
  auto n = v.get<std::int64_t>();
  if (n < lo || n > hi) fail(key, fmt::format("{} is out of range [{}, {}]", n, lo, hi));
  return n;
}

std::string get_string(const json& doc, const char* key) {
  const json& v = doc.at(key);
  if (!v.is_string()) fail(key, fmt::format("expected a string, got {}", v.dump()));
  return v.get<std::string>();
}

std::chrono::seconds get_seconds(const json& doc, const char* key, std::int64_t lo) {
  return std::chrono::seconds(get_int(doc, key, lo, 7 * 24 * 3600));
}

std::uint16_t parse_port(std::string_view text, const char* key) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > 65535)
    fail(key, fmt::format("bad port '{}'", text));
  return static_cast<std::uint16_t>(value);
}

// "HOST:PORT" or "[v6]:PORT".
endpoint parse_host_port(std::string_view text, const char* key) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) fail(key, fmt::format("expected HOST:PORT, got '{}'", text));
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return endpoint{std::string(host), parse_port(text.substr(colon + 1), key)};
}

endpoint parse_backend_url(std::string_view url, const char* key) {
  constexpr std::string_view scheme = "http://";
  if (url.substr(0, scheme.size()) != scheme)
    fail(key, fmt::format("'{}' is not an http:// URL (TLS to the backend is not supported)", url));
  std::string_view rest = url.substr(scheme.size());
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos)
    fail(key, fmt::format("'{}' has a path; give the server's base URL", url));
  if (rest.find(':') == std::string_view::npos || rest.back() == ']') return endpoint{std::string(rest), 80};
  return parse_host_port(rest, key);
}

json parse_flag_value(const option_spec& spec, const std::string& text) {
  if (spec.default_value.is_boolean()) {
    if (text == "true" || text == "1" || text == "yes") return true;
    if (text == "false" || text == "0" || text == "no") return false;
    fail(spec.key, fmt::format("expected true or false, got '{}'", text));
  }
  if (spec.default_value.is_number_integer()) {
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size())
      fail(spec.key, fmt::format("expected an integer, got '{}'", text));
    return value;
  }
  return text;
}

bool is_size_key(std::string_view key) { return key.ends_with("_bytes"); }

std::uint64_t get_size(const json& doc, const char* key, std::uint64_t minimum) {
  const json& v = doc.at(key);
  auto bytes = v.is_string()            ? parse_byte_size(v.get<std::string>())
               : v.is_number_unsigned() ? std::optional<std::uint64_t>(v.get<std::uint64_t>())
                                        : std::nullopt;
  if (!bytes || *bytes < minimum)
    fail(key, fmt::format("expected a size of at least {} bytes such as \"64M\", got {}", minimum, v.dump()));
  return *bytes;
}

// An existing directory this process can write into: checkpoints are created and removed there.
std::string get_directory(const json& doc, const char* key) {
  std::string path = get_string(doc, key);
  if (path.empty()) return path;
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec))
    fail(key, fmt::format("'{}' is not an existing directory", path));
  auto probe = std::filesystem::path(path) / fmt::format(".slotcache-probe-{}", ::getpid());
  if (std::FILE* f = std::fopen(probe.c_str(), "w")) {
    std::fclose(f);
    std::filesystem::remove(probe, ec);
  } else {
    fail(key, fmt::format("cannot write into '{}': {}", path, std::strerror(errno)));
  }
  return path;
}

void merge(json& into, const json& from, std::string_view origin) {
  if (!from.is_object()) throw config_error(fmt::format("config: {} must hold a JSON object", origin));
  for (const auto& [key, value] : from.items()) {
    if (!into.contains(key)) fail(key, fmt::format("unknown key in {}", origin));
    // Sizes may be written as numbers or with suffixes; everything else keeps its type.
    if (!is_size_key(key) && value.type() != into[key].type() &&
        !(value.is_number_integer() && into[key].is_number_integer()))
      fail(key, fmt::format("expected a {}, got {}", into[key].type_name(), value.dump()));
    into[key] = value;
  }
}

json read_config_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw config_error(fmt::format("config: '--config': cannot read '{}': no such file", path));
  std::ifstream in(path);
  try {
    return json::parse(in, nullptr, true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    throw config_error(fmt::format("config: '{}' is not valid JSON: {}", path, e.what()));
  }
}

}  // namespace

json default_config_json() {
  json doc = json::object();
  for (const auto& s : specs()) doc[s.key] = s.default_value;
  return doc;
}

std::vector<option_doc> option_docs() {
  std::vector<option_doc> docs;
  for (const auto& s : specs()) docs.push_back({s.key, flag_of(s.key), s.default_value.dump(), s.help});
  return docs;
}

std::string help_text() {
  std::string out =
      "slotcache: a caching reverse proxy for llama-server\n\n"
      "usage: slotcache [--config FILE] [--OPTION VALUE]...\n\n"
      "Flags override the JSON config file; its keys are the flags' names with '_' for '-'.\n\n"
      "options (default):\n"
      "  --config FILE                         JSON configuration file (see config/slotcache.example.json)\n"
      "  --help                                this text\n"
      "  --version                             print the version\n";
  for (const auto& d : option_docs())
    out += fmt::format("  {:<37} {} ({})\n", d.flag + " VALUE", d.help, d.value);
  return out;
}

config config_from_json(const json& doc) {
  config cfg;
  cfg.listen = parse_host_port(get_string(doc, "listen"), "listen");
  cfg.backend_url = get_string(doc, "backend");
  cfg.backend = parse_backend_url(cfg.backend_url, "backend");
  cfg.backend_api_key = get_string(doc, "backend_api_key");
  while (!cfg.backend_url.empty() && cfg.backend_url.back() == '/') cfg.backend_url.pop_back();

  auto threads = get_int(doc, "threads", 0, 1024);
  cfg.threads = threads > 0 ? static_cast<int>(threads) : std::max(1u, std::thread::hardware_concurrency());

  cfg.log_level = get_string(doc, "log_level");
  static const std::vector<std::string> levels = {"trace", "debug", "info", "warn", "error", "off"};
  if (std::find(levels.begin(), levels.end(), cfg.log_level) == levels.end())
    fail("log_level", fmt::format("'{}' is not one of trace, debug, info, warn, error, off", cfg.log_level));

  if (!doc.at("access_log").is_boolean()) fail("access_log", "expected true or false");
  cfg.access_log = doc.at("access_log").get<bool>();

  cfg.max_body_bytes = get_size(doc, "max_body_bytes", 1024);

  cfg.header_timeout = get_seconds(doc, "header_timeout_seconds", 1);
  cfg.client_idle_timeout = get_seconds(doc, "client_idle_timeout_seconds", 1);
  cfg.backend_connect_timeout = get_seconds(doc, "backend_connect_timeout_seconds", 1);
  cfg.backend_idle_timeout = get_seconds(doc, "backend_idle_timeout_seconds", 0);
  cfg.backend_keepalive = get_seconds(doc, "backend_keepalive_seconds", 0);
  cfg.backend_check_interval = get_seconds(doc, "backend_check_seconds", 1);
  cfg.backend_pool_size = static_cast<std::size_t>(get_int(doc, "backend_pool_size", 0, 100000));
  cfg.shutdown_timeout = get_seconds(doc, "shutdown_timeout_seconds", 0);
  cfg.cache_dir = get_directory(doc, "cache_dir");
  cfg.cache_max_bytes = get_size(doc, "cache_max_bytes", 1);
  cfg.cache_max_entries = static_cast<std::size_t>(get_int(doc, "cache_max_entries", 0, 100'000'000));
  cfg.model_kind = get_string(doc, "model_kind");
  if (cfg.model_kind != "auto" && cfg.model_kind != "dense" && cfg.model_kind != "hybrid")
    fail("model_kind", fmt::format("'{}' is not one of auto, dense, hybrid", cfg.model_kind));
  cfg.chunk_tokens = static_cast<std::size_t>(get_int(doc, "chunk_tokens", 16, 1 << 24));
  cfg.save_idle = get_seconds(doc, "save_idle_seconds", 0);
  cfg.queue_size = static_cast<std::size_t>(get_int(doc, "queue_size", 0, 1'000'000));
  cfg.queue_wait = get_seconds(doc, "queue_wait_seconds", 1);
  return cfg;
}

json config::to_json() const {
  return json{
      {"listen", fmt::format("{}:{}", listen.host, listen.port)},
      {"backend", backend_url},
      {"backend_api_key", backend_api_key.empty() ? "" : "(redacted)"},
      {"threads", threads},
      {"log_level", log_level},
      {"access_log", access_log},
      {"max_body_bytes", max_body_bytes},
      {"header_timeout_seconds", header_timeout.count()},
      {"client_idle_timeout_seconds", client_idle_timeout.count()},
      {"backend_connect_timeout_seconds", backend_connect_timeout.count()},
      {"backend_idle_timeout_seconds", backend_idle_timeout.count()},
      {"backend_keepalive_seconds", backend_keepalive.count()},
      {"backend_check_seconds", backend_check_interval.count()},
      {"backend_pool_size", backend_pool_size},
      {"shutdown_timeout_seconds", shutdown_timeout.count()},
      {"cache_dir", cache_dir},
      {"cache_max_bytes", cache_max_bytes},
      {"cache_max_entries", cache_max_entries},
      {"model_kind", model_kind},
      {"chunk_tokens", chunk_tokens},
      {"save_idle_seconds", save_idle.count()},
      {"queue_size", queue_size},
      {"queue_wait_seconds", queue_wait.count()},
  };
}

std::optional<config> load_config(const std::vector<std::string>& args) {
  json doc = default_config_json();
  json flags = json::object();
  std::optional<std::string> config_path;

  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "--help" || arg == "-h" || arg == "--version") return std::nullopt;
    std::optional<std::string> inline_value;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = arg.substr(eq + 1);
      arg.resize(eq);
    }
    auto take_value = [&]() -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) throw config_error(fmt::format("config: '{}' needs a value", arg));
      return args[++i];
    };
    if (arg == "--config") {
      config_path = take_value();
      continue;
    }
    const option_spec* spec = find_by_flag(arg);
    if (!spec) throw config_error(fmt::format("config: unknown option '{}' (see --help)", arg));
    flags[spec->key] = parse_flag_value(*spec, take_value());
  }

  if (config_path) merge(doc, read_config_file(*config_path), fmt::format("'{}'", *config_path));
  merge(doc, flags, "the command line");
  return config_from_json(doc);
}

}  // namespace slotcache
