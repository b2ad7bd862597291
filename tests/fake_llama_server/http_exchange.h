#pragma once
// One HTTP request and the ways to answer it, without Beast (kept to http_server.cpp).
#include <boost/asio/awaitable.hpp>

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fake_llama {

struct http_request {
  std::string method, target, path;
  std::map<std::string, std::string> query;  // percent-decoded
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  std::string header(std::string_view name) const;  // case-insensitive; "" if absent
};

struct http_answer {
  unsigned status = 200;
  std::string content_type = "application/json; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // beyond the ones every answer has
};

class http_exchange {
public:
  virtual ~http_exchange() = default;
  virtual boost::asio::awaitable<void> reply(http_answer answer) = 0;
  // A 200 text/event-stream answer sent with chunked transfer encoding.
  virtual boost::asio::awaitable<void> start_stream() = 0;
  virtual boost::asio::awaitable<void> send_chunk(std::string data) = 0;
  virtual boost::asio::awaitable<void> end_stream() = 0;
  // Closes the connection now, whatever was sent (fault injection).
  virtual void drop() = 0;
  virtual bool answered() const = 0;
  // What went out, for GET /fake/last-response: the status and the body bytes (streams unframed).
  virtual unsigned status_sent() const = 0;
  virtual const std::string& body_sent() const = 0;
};

}  // namespace fake_llama
