#include "server/access_log.h"

#include <spdlog/spdlog.h>

namespace slotcache {

void log_access(const access_entry& e) {
  spdlog::info("{} \"{} {}\" {} in={} out={} {:.1f}ms backend={:.1f}ms{}{}", e.client, e.method, e.target, e.status,
               e.bytes_in, e.bytes_out, e.total.count() / 1000.0, e.backend.count() / 1000.0,
               e.note.empty() ? "" : " ", e.note);
}

}  // namespace slotcache
