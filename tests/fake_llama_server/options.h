#pragma once
// Command line of the fake backend.
#include "slot_rules.h"

#include <string>

namespace fake_llama {

struct options {
  std::string host = "127.0.0.1";
  unsigned short port = 0;  // 0: any free port
  int slots = 2;
  cache_mode mode = cache_mode::dense;
  std::string slot_save_path;  // empty: slot actions answer 501 like llama-server
  int n_ctx = 4096;            // per slot
  double us_per_prompt_token = 0;
  double us_per_gen_token = 0;
  double us_per_saved_token = 0;  // save and restore
  std::size_t bytes_per_token = 64;
  int default_n_predict = 8;  // stands in for "until EOS" when n_predict is -1
  std::string model_path = "/models/fake.gguf";
  std::string api_key;
  bool metrics = false;
  int keep_alive_timeout_s = 5;
  int load_delay_ms = 0;
};

// Throws std::invalid_argument with a message naming the flag.
options parse_options(int argc, char** argv);

}  // namespace fake_llama
