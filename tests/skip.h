#pragma once

// A test case that cannot run here (no real llama-server, say) ends through skip_test(): CTest then
// reports it as skipped (exit code 77), not as passed.
namespace slotcache::test {
void request_skip(const char* why);
}

#define SKIP_TEST_UNLESS(condition, why)         \
  do {                                           \
    if (!(condition)) {                          \
      ::slotcache::test::request_skip(why);      \
      return;                                    \
    }                                            \
  } while (0)
