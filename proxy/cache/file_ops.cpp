#include "cache/file_ops.h"

#include <cerrno>
#include <utility>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace slotcache {
namespace {

std::error_code last_error() { return {errno, std::generic_category()}; }

clock::time_point modified_of(const struct stat& st) {
  using namespace std::chrono;
  return clock::time_point{duration_cast<clock::duration>(seconds{st.st_mtim.tv_sec} + nanoseconds{st.st_mtim.tv_nsec})};
}

// Closes on scope exit; close errors matter only after writes, where they are checked explicitly.
class fd_guard {
 public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::error_code fsync_path(const std::filesystem::path& path, int flags) {
  fd_guard fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (fd.get() < 0) return last_error();
  if (::fsync(fd.get()) != 0) return last_error();
  return {};
}

}  // namespace

bool is_missing(const std::error_code& ec) { return ec == std::errc::no_such_file_or_directory; }

std::error_code posix_file_ops::list(const std::filesystem::path& dir, std::vector<dir_entry>& out) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return last_error();
  std::error_code ec;
  const int dfd = ::dirfd(d);
  for (;;) {
    errno = 0;
    const struct dirent* e = ::readdir(d);
    if (!e) {
      if (errno != 0) ec = last_error();
      break;
    }
    struct stat st {};
    // Entries can vanish between readdir and fstatat (another process evicting): skip them.
    if (::fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    out.push_back({e->d_name, {static_cast<std::uint64_t>(st.st_size), modified_of(st)}});
  }
  ::closedir(d);
  return ec;
}

std::error_code posix_file_ops::stat(const std::filesystem::path& file, file_stat& out) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return last_error();
  if (!S_ISREG(st.st_mode)) return std::make_error_code(std::errc::invalid_argument);
  out = {static_cast<std::uint64_t>(st.st_size), modified_of(st)};
  return {};
}

std::error_code posix_file_ops::read(const std::filesystem::path& file, std::uint64_t offset, std::size_t length,
                                     std::string& out) {
  fd_guard fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return last_error();
  out.resize(length);
  std::size_t got = 0;
  while (got < length) {
    const ssize_t n = ::pread(fd.get(), out.data() + got, length - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return {};
}

std::error_code posix_file_ops::write_synced(const std::filesystem::path& file, std::string_view data) {
  fd_guard fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) return last_error();
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return last_error();
  if (::close(fd.release()) != 0) return last_error();
  return {};
}

std::error_code posix_file_ops::sync(const std::filesystem::path& file) { return fsync_path(file, O_RDONLY); }

std::error_code posix_file_ops::rename(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return last_error();
  return {};
}

std::error_code posix_file_ops::sync_dir(const std::filesystem::path& dir) {
  return fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

std::error_code posix_file_ops::remove(const std::filesystem::path& file) {
  if (::unlink(file.c_str()) != 0) return last_error();
  return {};
}

}  // namespace slotcache
