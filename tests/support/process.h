#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

namespace slotcache::test {

// A child process whose stdout and stderr lines are collected, for end-to-end tests.
class child_process {
 public:
  child_process(const std::string& program, const std::vector<std::string>& args);
  ~child_process();  // SIGKILL if still running
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  // Waits for an output line containing `needle`; returns that line.
  std::optional<std::string> wait_for_line(const std::string& needle,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Port from a "listening on HOST:PORT" line.
  int wait_for_port(std::chrono::milliseconds timeout = std::chrono::seconds(20));

  void signal(int sig);
  // Exit status (or 128 + signal), nullopt if it did not exit in time.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  bool running();
  std::vector<std::string> lines();
  pid_t pid() const { return pid_; }

 private:
  void read_output(int fd);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::optional<int> exit_status_;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> lines_;
  bool output_closed_ = false;
};

}  // namespace slotcache::test
