#pragma once

#include <cerrno>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cache/file_ops.h"

namespace slotcache::test {

// Real file operations that can be made to fail:
// - crash_after(n): the n+1-th mutating operation (write, fsync, rename, remove) and everything
//   after it fail, as if the process had died there; a write that "dies" leaves half its data
//   behind, unsynced, as a torn write would.
// - fill_disk(): writes fail with ENOSPC, and keep failing until the disk is freed.
class faulty_file_ops final : public file_ops {
 public:
  void crash_after(std::size_t n) {
    std::lock_guard lock(mu_);
    budget_ = n;
  }
  void fill_disk(bool full) {
    std::lock_guard lock(mu_);
    disk_full_ = full;
  }
  bool dead() const {
    std::lock_guard lock(mu_);
    return dead_;
  }
  std::size_t mutations() const {
    std::lock_guard lock(mu_);
    return mutations_;
  }
  std::vector<std::string> journal() const {
    std::lock_guard lock(mu_);
    return journal_;
  }

  std::error_code list(const std::filesystem::path& dir, std::vector<dir_entry>& out) override {
    if (dead()) return eio();
    return real_.list(dir, out);
  }
  std::error_code stat(const std::filesystem::path& file, file_stat& out) override {
    if (dead()) return eio();
    return real_.stat(file, out);
  }
  std::error_code read(const std::filesystem::path& file, std::uint64_t offset, std::size_t length,
                       std::string& out) override {
    if (dead()) return eio();
    return real_.read(file, offset, length, out);
  }
  std::error_code write_synced(const std::filesystem::path& file, std::string_view data) override {
    switch (step("write " + file.filename().string())) {
      case verdict::go: break;
      case verdict::die_now: {
        write_unsynced(file, std::string(data.substr(0, data.size() / 2)));
        return eio();
      }
      case verdict::dead: return eio();
    }
    {
      std::lock_guard lock(mu_);
      if (disk_full_) return std::make_error_code(std::errc::no_space_on_device);
    }
    return real_.write_synced(file, data);
  }
  std::error_code sync(const std::filesystem::path& file) override {
    if (step("sync " + file.filename().string()) != verdict::go) return eio();
    return real_.sync(file);
  }
  std::error_code rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
    if (step("rename " + from.filename().string() + " " + to.filename().string()) != verdict::go) return eio();
    return real_.rename(from, to);
  }
  std::error_code sync_dir(const std::filesystem::path& dir) override {
    if (step("sync_dir") != verdict::go) return eio();
    return real_.sync_dir(dir);
  }
  std::error_code remove(const std::filesystem::path& file) override {
    if (step("remove " + file.filename().string()) != verdict::go) return eio();
    return real_.remove(file);
  }

 private:
  enum class verdict { go, die_now, dead };

  static std::error_code eio() { return {EIO, std::generic_category()}; }

  static void write_unsynced(const std::filesystem::path& file, const std::string& data) {
    if (FILE* f = std::fopen(file.c_str(), "wb")) {
      std::fwrite(data.data(), 1, data.size(), f);
      std::fclose(f);
    }
  }

  verdict step(std::string what) {
    std::lock_guard lock(mu_);
    if (dead_) return verdict::dead;
    if (budget_ && *budget_ == 0) {
      dead_ = true;
      journal_.push_back("CRASH at " + what);
      return verdict::die_now;
    }
    if (budget_) --*budget_;
    ++mutations_;
    journal_.push_back(std::move(what));
    return verdict::go;
  }

  posix_file_ops real_;
  mutable std::mutex mu_;
  std::optional<std::size_t> budget_;
  bool dead_ = false;
  bool disk_full_ = false;
  std::size_t mutations_ = 0;
  std::vector<std::string> journal_;
};

}  // namespace slotcache::test
