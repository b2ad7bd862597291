#include "fixtures.h"

#include <random>
#include <stdexcept>

namespace slotcache::test {

std::string fake_backend_program() { return SLOTCACHE_BINARY_DIR "/tests/fake_llama_server/fake_llama_server"; }
std::string slotcache_program() { return SLOTCACHE_BINARY_DIR "/proxy/slotcache"; }

temp_dir::temp_dir() {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() / ("slotcache-test-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

fake_backend::fake_backend(std::vector<std::string> args) {
  args.insert(args.begin(), {"--host", "127.0.0.1", "--port", "0"});
  process_ = std::make_unique<child_process>(fake_backend_program(), args);
  port_ = process_->wait_for_port();
  if (port_ <= 0) throw std::runtime_error("fake backend did not start");
}

nlohmann::json fake_backend::stats() const {
  auto res = http_call(port_, "GET", "/fake/stats");
  return nlohmann::json::parse(res.body);
}

slotcache_process::slotcache_process(const std::string& backend_url, std::vector<std::string> args,
                                     bool wait_for_backend) {
  args.insert(args.begin(), {"--listen", "127.0.0.1:0", "--backend", backend_url, "--threads", "2"});
  process_ = std::make_unique<child_process>(slotcache_program(), args);
  port_ = process_->wait_for_port();
  if (port_ <= 0) {
    std::string log;
    for (const auto& l : process_->lines()) log += l + "\n";
    throw std::runtime_error("slotcache did not start:\n" + log);
  }
  // Its first calls to the backend (/props, /v1/models, probes) are over before a test begins.
  if (wait_for_backend && !process_->wait_for_line("backend: ", std::chrono::seconds(20)))
    throw std::runtime_error("slotcache did not read the backend's identity");
  if (wait_for_backend) process_->wait_for_line("checkpoint store ", std::chrono::milliseconds(200));
}

}  // namespace slotcache::test

#include <cstdlib>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace slotcache::test {

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

bool llama_server::available() {
  const char* bin = std::getenv("SLOTCACHE_LLAMA_SERVER");
  return bin && *bin;
}

std::string llama_server::model_path(const std::string& file) {
  const char* dir = std::getenv("SLOTCACHE_MODELS_DIR");
  return (dir && *dir ? std::string(dir) : std::string(SLOTCACHE_SOURCE_DIR "/../shared/models")) + "/" + file;
}

llama_server::llama_server(const std::string& model, std::vector<std::string> extra_args) {
  port_ = free_port();
  args_ = {"-m", model, "--host", "127.0.0.1", "--port", std::to_string(port_),
           "-c", "8192", "-np", "2", "--no-cache-idle-slots", "-t", "2"};
  args_.insert(args_.end(), extra_args.begin(), extra_args.end());
  start();
}

void llama_server::restart() {
  process_.reset();  // SIGKILL, and waits for the exit
  start();
}

void llama_server::start() {
  process_ = std::make_unique<child_process>(std::getenv("SLOTCACHE_LLAMA_SERVER"), args_);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_->running()) break;
    try {
      if (http_call(port_, "GET", "/health").status == 200) return;
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string log;
  for (const auto& l : process_->lines()) log += l + "\n";
  throw std::runtime_error("llama-server did not become healthy:\n" + log);
}

}  // namespace slotcache::test
