#include "options.h"

#include <filesystem>
#include <functional>
#include <map>
#include <stdexcept>

namespace fake_llama {
namespace {

template <class T>
std::function<void(const std::string&)> number(T& target, const std::string& flag, double min) {
  return [&target, flag, min](const std::string& v) {
    std::size_t used = 0;
    double d = 0;
    try { d = std::stod(v, &used); } catch (const std::exception&) { used = 0; }
    if (used != v.size() || d < min) throw std::invalid_argument(flag + ": bad value '" + v + "'");
    target = static_cast<T>(d);
  };
}

}  // namespace

options parse_options(int argc, char** argv) {
  options o;
  std::map<std::string, std::function<void(const std::string&)>> with_value{
      {"--host", [&](const std::string& v) { o.host = v; }},
      {"--port", [&](const std::string& v) {
         int port = 0;
         number(port, "--port", 0)(v);
         if (port > 65535) throw std::invalid_argument("--port: bad value '" + v + "'");
         o.port = static_cast<unsigned short>(port);
       }},
      {"--slots", number(o.slots, "--slots", 1)},
      {"--mode", [&](const std::string& v) {
         if (v != "dense" && v != "hybrid") throw std::invalid_argument("--mode: expected dense or hybrid");
         o.mode = v == "dense" ? cache_mode::dense : cache_mode::hybrid;
       }},
      {"--slot-save-path", [&](const std::string& v) {
         if (!std::filesystem::is_directory(v)) throw std::invalid_argument("--slot-save-path: not a directory: " + v);
         o.slot_save_path = v.back() == '/' ? v : v + "/";
       }},
      {"--n-ctx", number(o.n_ctx, "--n-ctx", 1)},
      {"--us-per-prompt-token", number(o.us_per_prompt_token, "--us-per-prompt-token", 0)},
      {"--us-per-gen-token", number(o.us_per_gen_token, "--us-per-gen-token", 0)},
      {"--us-per-saved-token", number(o.us_per_saved_token, "--us-per-saved-token", 0)},
      {"--bytes-per-token", number(o.bytes_per_token, "--bytes-per-token", 0)},
      {"--default-n-predict", number(o.default_n_predict, "--default-n-predict", 1)},
      {"--model-path", [&](const std::string& v) { o.model_path = v; }},
      {"--api-key", [&](const std::string& v) { o.api_key = v; }},
      {"--keep-alive-timeout", number(o.keep_alive_timeout_s, "--keep-alive-timeout", 1)},
      {"--load-delay-ms", number(o.load_delay_ms, "--load-delay-ms", 0)},
  };
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i], value;
    const bool inline_value = flag.find('=') != std::string::npos;
    if (inline_value) value = flag.substr(flag.find('=') + 1), flag = flag.substr(0, flag.find('='));
    if (flag == "--metrics" && !inline_value) {
      o.metrics = true;
      continue;
    }
    auto it = with_value.find(flag);
    if (it == with_value.end()) throw std::invalid_argument("unknown option: " + flag);
    if (!inline_value) {
      if (i + 1 >= argc) throw std::invalid_argument(flag + ": missing value");
      value = argv[++i];
    }
    it->second(value);
  }
  return o;
}

}  // namespace fake_llama
