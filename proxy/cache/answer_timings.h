#pragma once

#include <optional>
#include <string_view>

namespace slotcache {

// What llama-server says it did for one completion: `timings` of the answer, or of the last
// server-sent event that has them.
struct answer_timings {
  int cache_n = 0;      // prompt tokens reused
  int prompt_n = 0;     // prompt tokens computed
  int predicted_n = 0;  // tokens generated
};

// Pure: finds the last `"timings":{...}` object in the end of an answer's body.
std::optional<answer_timings> find_timings(std::string_view body_tail);

}  // namespace slotcache
