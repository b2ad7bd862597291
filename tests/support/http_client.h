#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slotcache::test {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct http_response {
  unsigned status = 0;
  header_list headers;  // in the order received
  std::string body;     // decoded (chunked framing removed)
  bool chunked = false;
  bool keep_alive = true;
  // Value of the first header with this name (case-insensitive), or "".
  std::string header(std::string_view name) const;
};

// A blocking HTTP/1.1 client over a plain socket, precise enough for tests: it can send malformed
// bytes, read an answer piece by piece as it arrives, and notice a close.
class test_connection {
 public:
  explicit test_connection(int port, const std::string& host = "127.0.0.1");
  ~test_connection();
  test_connection(const test_connection&) = delete;
  test_connection& operator=(const test_connection&) = delete;

  void send_raw(std::string_view bytes);
  void send_request(std::string_view method, std::string_view target, std::string_view body = "",
                    const header_list& headers = {});

  // A whole answer. Throws std::runtime_error on timeout or when the peer closes first.
  http_response read_response(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Only the status line and headers; then read_body_piece() gives the body as it arrives.
  http_response read_header(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Body bytes decoded since the last call (waits for at least one), nullopt once the body is complete.
  // Throws on timeout or when the peer closes mid-body.
  std::optional<std::string> read_body_piece(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // True if the peer closes (EOF or reset) within the timeout, without sending anything else.
  bool wait_closed(std::chrono::milliseconds timeout);
  void close();

 private:
  struct parser_state;
  std::size_t receive(std::chrono::milliseconds timeout);  // 0 on EOF
  void feed();

  int fd_ = -1;
  std::string pending_;
  std::unique_ptr<parser_state> parser_;
  std::size_t body_seen_ = 0;
};

// One request on a fresh connection.
http_response http_call(int port, std::string_view method, std::string_view target, std::string_view body = "",
                        const header_list& headers = {});

}  // namespace slotcache::test
