#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "config/config.h"

using namespace slotcache;
using nlohmann::json;

namespace {

config load(std::vector<std::string> args) {
  auto cfg = load_config(args);
  REQUIRE(cfg.has_value());
  return *cfg;
}

std::string refusal(std::vector<std::string> args) {
  try {
    load_config(args);
  } catch (const config_error& e) {
    return e.what();
  }
  return "";
}

struct temp_file {
  std::string path;
  explicit temp_file(const std::string& text) {
    std::string pattern = (std::filesystem::temp_directory_path() / "slotcache-config-XXXXXX").string();
    int fd = ::mkstemp(pattern.data());
    REQUIRE(fd >= 0);
    ::close(fd);
    path = pattern;
    std::ofstream(path) << text;
  }
  ~temp_file() { std::remove(path.c_str()); }
};

}  // namespace

TEST_CASE("defaults") {
  auto cfg = load({});
  CHECK(cfg.listen.host == "127.0.0.1");
  CHECK(cfg.listen.port == 8081);
  CHECK(cfg.backend.host == "127.0.0.1");
  CHECK(cfg.backend.port == 8080);
  CHECK(cfg.backend_url == "http://127.0.0.1:8080");
  CHECK(cfg.threads >= 1);
  CHECK(cfg.max_body_bytes == 64ull << 20);
  CHECK(cfg.backend_idle_timeout == std::chrono::seconds(3600));
  CHECK(cfg.log_level == "info");
}

TEST_CASE("the example file states every default") {
  std::ifstream in(SLOTCACHE_SOURCE_DIR "/config/slotcache.example.json");
  REQUIRE(in.good());
  CHECK(json::parse(in) == default_config_json());
}

TEST_CASE("--help lists every option with its default") {
  auto text = help_text();
  for (const auto& d : option_docs()) {
    CHECK(text.find(d.flag) != std::string::npos);
    CHECK(text.find(d.value) != std::string::npos);
  }
  CHECK_FALSE(load_config({"--help"}).has_value());
  CHECK_FALSE(load_config({"--version"}).has_value());
}

TEST_CASE("flags override the file, which overrides defaults") {
  temp_file file(R"({"listen": "0.0.0.0:9000", "threads": 3, "max_body_bytes": 1048576, "log_level": "debug"})");
  auto cfg = load({"--config", file.path, "--threads", "5", "--backend=http://10.1.2.3:7000/"});
  CHECK(cfg.listen.host == "0.0.0.0");
  CHECK(cfg.listen.port == 9000);
  CHECK(cfg.threads == 5);
  CHECK(cfg.max_body_bytes == 1048576);
  CHECK(cfg.log_level == "debug");
  CHECK(cfg.backend.host == "10.1.2.3");
  CHECK(cfg.backend.port == 7000);
  CHECK(cfg.backend_url == "http://10.1.2.3:7000");
}

TEST_CASE("listen and backend forms") {
  CHECK(load({"--listen", "[::1]:8081"}).listen.host == "::1");
  CHECK(load({"--backend", "http://localhost"}).backend.port == 80);
  CHECK(load({"--backend", "http://llama:8080"}).backend.host == "llama");
}

TEST_CASE("bad values are refused with the key's name") {
  CHECK(refusal({"--nope", "1"}).find("'--nope'") != std::string::npos);
  CHECK(refusal({"--threads"}).find("needs a value") != std::string::npos);
  CHECK(refusal({"--threads", "many"}).find("'threads'") != std::string::npos);
  CHECK(refusal({"--threads", "-1"}).find("'threads'") != std::string::npos);
  CHECK(refusal({"--listen", "8081"}).find("'listen'") != std::string::npos);
  CHECK(refusal({"--listen", "127.0.0.1:70000"}).find("'listen'") != std::string::npos);
  CHECK(refusal({"--backend", "https://x:1"}).find("'backend'") != std::string::npos);
  CHECK(refusal({"--backend", "http://x:1/v1"}).find("'backend'") != std::string::npos);
  CHECK(refusal({"--access-log", "maybe"}).find("'access_log'") != std::string::npos);
  CHECK_FALSE(load({"--access-log", "false"}).access_log);
  CHECK(refusal({"--log-level", "loud"}).find("'log_level'") != std::string::npos);
  CHECK(refusal({"--max-body-bytes", "12Q"}).find("'max_body_bytes'") != std::string::npos);
  CHECK(refusal({"--header-timeout-seconds", "0"}).find("'header_timeout_seconds'") != std::string::npos);
  CHECK(refusal({"--config", "/no/such/file.json"}).find("/no/such/file.json") != std::string::npos);
}

TEST_CASE("the cache directory must exist and be writable") {
  CHECK(load({}).cache_dir.empty());
  CHECK(load({}).cache_max_bytes == 20ull << 30);
  auto dir = std::filesystem::temp_directory_path();
  CHECK(load({"--cache-dir", dir.string(), "--cache-max-bytes", "512M", "--cache-max-entries", "7"}).cache_dir ==
        dir.string());
  CHECK(load({"--cache-max-bytes", "512M"}).cache_max_bytes == 512ull << 20);
  CHECK(load({"--cache-max-entries", "7"}).cache_max_entries == 7);
  CHECK(refusal({"--cache-dir", "/no/such/dir"}).find("'cache_dir'") != std::string::npos);
  CHECK(refusal({"--cache-max-bytes", "lots"}).find("'cache_max_bytes'") != std::string::npos);
  CHECK(refusal({"--cache-dir", "/proc"}).find("cannot write") != std::string::npos);
}

TEST_CASE("the config file is checked like flags") {
  temp_file unknown(R"({"listen": "127.0.0.1:1", "colour": "blue"})");
  CHECK(refusal({"--config", unknown.path}).find("'colour'") != std::string::npos);
  temp_file wrong_type(R"({"threads": "four"})");
  CHECK(refusal({"--config", wrong_type.path}).find("'threads'") != std::string::npos);
  temp_file not_json("{nope");
  CHECK(refusal({"--config", not_json.path}).find("not valid JSON") != std::string::npos);
  temp_file not_object("[1, 2]");
  CHECK(refusal({"--config", not_object.path}).find("JSON object") != std::string::npos);
}

TEST_CASE("secrets never reach the start-up summary") {
  auto cfg = load({"--backend-api-key", "sekrit-key"});
  CHECK(cfg.backend_api_key == "sekrit-key");
  CHECK(cfg.to_json().dump().find("sekrit-key") == std::string::npos);
}

TEST_CASE("the effective configuration reads back under the same keys") {
  auto cfg = load({"--threads", "2", "--cache-dir", std::filesystem::temp_directory_path().string()});
  auto doc = cfg.to_json();
  const auto defaults = default_config_json();
  for (const auto& [key, value] : defaults.items()) CHECK(doc.contains(key));
  CHECK(config_from_json(doc).to_json() == doc);
}
