#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "http_client.h"
#include "process.h"

namespace slotcache::test {

std::string fake_backend_program();
std::string slotcache_program();

// A temporary directory removed with its contents at the end of the test.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// tests/fake_llama_server on a free loopback port.
class fake_backend {
 public:
  explicit fake_backend(std::vector<std::string> args = {});
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  nlohmann::json stats() const;  // GET /fake/stats, straight to the backend
  child_process& process() { return *process_; }

 private:
  std::unique_ptr<child_process> process_;
  int port_ = -1;
};

// The slotcache binary in front of a backend, on a free loopback port.
class slotcache_process {
 public:
  // Waits until slotcache has read the backend's identity, unless the backend is not expected up.
  slotcache_process(const std::string& backend_url, std::vector<std::string> args = {},
                    bool wait_for_backend = true);
  int port() const { return port_; }
  child_process& process() { return *process_; }

 private:
  std::unique_ptr<child_process> process_;
  int port_ = -1;
};

}  // namespace slotcache::test

namespace slotcache::test {

// A loopback port that was free a moment ago, for programs that cannot be told to pick one.
int free_port();

// A real llama-server (SLOTCACHE_LLAMA_SERVER names the binary) on a free port, loaded and healthy.
class llama_server {
 public:
  llama_server(const std::string& model, std::vector<std::string> extra_args = {});
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  static bool available();
  // A model from ../shared/models next to the repository (or SLOTCACHE_MODELS_DIR).
  static std::string model_path(const std::string& file);

  // Kills the server (its slots' memory goes with it) and starts it again with the same
  // arguments on the same port, loaded and healthy.
  void restart();

 private:
  void start();

  std::vector<std::string> args_;
  std::unique_ptr<child_process> process_;
  int port_ = -1;
};

}  // namespace slotcache::test
