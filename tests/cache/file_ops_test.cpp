#include "cache/file_ops.h"

#include <algorithm>

#include <doctest/doctest.h>

#include "support/fake_backend.h"
#include "support/temp_dir.h"

using namespace slotcache;

TEST_CASE("file_ops: write, stat, read, rename, list, remove on the real file system") {
  test::temp_dir dir;
  posix_file_ops fs;
  const auto before = std::chrono::system_clock::now() - std::chrono::seconds{5};

  REQUIRE_FALSE(fs.write_synced(dir / "a.tmp", "hello world"));
  file_stat st;
  REQUIRE_FALSE(fs.stat(dir / "a.tmp", st));
  CHECK(st.size == 11);
  CHECK(st.modified > before);

  std::string out;
  REQUIRE_FALSE(fs.read(dir / "a.tmp", 6, 100, out));
  CHECK(out == "world");
  REQUIRE_FALSE(fs.read(dir / "a.tmp", 0, 5, out));
  CHECK(out == "hello");
  REQUIRE_FALSE(fs.read(dir / "a.tmp", 50, 5, out));
  CHECK(out.empty());

  REQUIRE_FALSE(fs.rename(dir / "a.tmp", dir / "a.json"));
  CHECK_FALSE(fs.sync(dir / "a.json"));
  CHECK_FALSE(fs.sync_dir(dir.path()));
  std::filesystem::create_directory(dir / "subdir");

  std::vector<dir_entry> entries;
  REQUIRE_FALSE(fs.list(dir.path(), entries));
  REQUIRE(entries.size() == 1);  // directories are not listed
  CHECK(entries[0].name == "a.json");
  CHECK(entries[0].stat.size == 11);

  CHECK_FALSE(fs.remove(dir / "a.json"));
  CHECK(is_missing(fs.remove(dir / "a.json")));
  CHECK(is_missing(fs.stat(dir / "a.json", st)));
  CHECK(is_missing(fs.read(dir / "a.json", 0, 1, out)));
  CHECK(is_missing(fs.sync(dir / "a.json")));
  CHECK(fs.stat(dir / "subdir", st));  // not a regular file
  entries.clear();
  CHECK(is_missing(fs.list(dir / "nope", entries)));
}

TEST_CASE("file_ops: write_synced replaces the whole content") {
  test::temp_dir dir;
  posix_file_ops fs;
  REQUIRE_FALSE(fs.write_synced(dir / "f", std::string(1000, 'x')));
  REQUIRE_FALSE(fs.write_synced(dir / "f", "short"));
  CHECK(test::read_file(dir / "f") == "short");
  CHECK(fs.write_synced(dir / "missing-dir" / "f", "x"));
}
