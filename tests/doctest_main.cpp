// The main of every doctest executable. It fails a run in which no test case matched the filters:
// CTest runs each case by name, and a name doctest cannot match (a ';' or '*' in it, a renamed
// case) would otherwise pass without testing anything. A case that called request_skip() and
// failed nothing exits 77, which CTest reports as skipped.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "skip.h"

namespace {

int cases_matched = -1;  // stays -1 when doctest only lists or prints help
bool skip_requested = false;

struct match_counter : doctest::IReporter {
  explicit match_counter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override {
    cases_matched = static_cast<int>(stats.numTestCasesPassingFilters);
  }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

}  // namespace

REGISTER_LISTENER("match_counter", 1, match_counter);

void slotcache::test::request_skip(const char* why) {
  skip_requested = true;
  std::fprintf(stderr, "skipped: %s\n", why);
}

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  int result = context.run();
  if (context.shouldExit()) return result;
  if (cases_matched == 0) {
    std::fprintf(stderr, "doctest_main: no test case matched the filters\n");
    return 1;
  }
  if (result == 0 && skip_requested && cases_matched == 1) return 77;
  return result;
}
