#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "util/clock.h"

namespace slotcache {

struct file_stat {
  std::uint64_t size = 0;
  clock::time_point modified{};
};

struct dir_entry {
  std::string name;
  file_stat stat;
};

// The file operations the checkpoint store performs, as one seam: tests substitute an
// implementation that fails on the k-th operation to simulate a crash or a full disk.
// Every call reports failure as an error_code (a missing file is errc::no_such_file_or_directory).
class file_ops {
 public:
  virtual ~file_ops() = default;

  // Regular files directly in `dir`.
  virtual std::error_code list(const std::filesystem::path& dir, std::vector<dir_entry>& out) = 0;
  virtual std::error_code stat(const std::filesystem::path& file, file_stat& out) = 0;
  // Up to `length` bytes from `offset`; fewer only at the end of the file.
  virtual std::error_code read(const std::filesystem::path& file, std::uint64_t offset, std::size_t length,
                               std::string& out) = 0;
  // Creates or truncates `file`, writes `data` and fsyncs it.
  virtual std::error_code write_synced(const std::filesystem::path& file, std::string_view data) = 0;
  // fsyncs an existing file (one written by another process).
  virtual std::error_code sync(const std::filesystem::path& file) = 0;
  virtual std::error_code rename(const std::filesystem::path& from, const std::filesystem::path& to) = 0;
  // fsyncs a directory, making renames and new names in it durable.
  virtual std::error_code sync_dir(const std::filesystem::path& dir) = 0;
  virtual std::error_code remove(const std::filesystem::path& file) = 0;
};

// The real thing, on POSIX calls.
class posix_file_ops final : public file_ops {
 public:
  std::error_code list(const std::filesystem::path& dir, std::vector<dir_entry>& out) override;
  std::error_code stat(const std::filesystem::path& file, file_stat& out) override;
  std::error_code read(const std::filesystem::path& file, std::uint64_t offset, std::size_t length,
                       std::string& out) override;
  std::error_code write_synced(const std::filesystem::path& file, std::string_view data) override;
  std::error_code sync(const std::filesystem::path& file) override;
  std::error_code rename(const std::filesystem::path& from, const std::filesystem::path& to) override;
  std::error_code sync_dir(const std::filesystem::path& dir) override;
  std::error_code remove(const std::filesystem::path& file) override;
};

bool is_missing(const std::error_code& ec);

}  // namespace slotcache
