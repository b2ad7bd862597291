#include "http_client.h"

#include <cstring>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace slotcache::test {
namespace http = boost::beast::http;

struct test_connection::parser_state {
  http::response_parser<http::string_body> parser;
  parser_state() { parser.body_limit(boost::none); }
};

std::string http_response::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  return "";
}

test_connection::test_connection(int port, const std::string& host) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("connect to port " + std::to_string(port) + " failed: " + std::strerror(errno));
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

test_connection::~test_connection() { close(); }

void test_connection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void test_connection::send_raw(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error(std::string("send failed: ") + std::strerror(errno));
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void test_connection::send_request(std::string_view method, std::string_view target, std::string_view body,
                                   const header_list& headers) {
  std::string req;
  req.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  bool has_type = false;
  for (const auto& [k, v] : headers) {
    req.append(k).append(": ").append(v).append("\r\n");
    if (strcasecmp(k.c_str(), "content-type") == 0) has_type = true;
  }
  if (!body.empty() && !has_type) req.append("Content-Type: application/json\r\n");
  if (!body.empty() || method == "POST") req.append("Content-Length: " + std::to_string(body.size()) + "\r\n");
  req.append("\r\n").append(body);
  send_raw(req);
}

std::size_t test_connection::receive(std::chrono::milliseconds timeout) {
  pollfd p{fd_, POLLIN, 0};
  int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
  if (r == 0) throw std::runtime_error("timed out waiting for data");
  char buf[65536];
  ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
  if (n < 0) {
    if (errno == ECONNRESET) return 0;
    throw std::runtime_error(std::string("recv failed: ") + std::strerror(errno));
  }
  pending_.append(buf, static_cast<std::size_t>(n));
  return static_cast<std::size_t>(n);
}

void test_connection::feed() {
  while (!pending_.empty() && !parser_->parser.is_done()) {
    boost::system::error_code ec;
    auto used = parser_->parser.put(boost::asio::buffer(pending_), ec);
    if (ec == http::error::need_more) ec = {};
    if (ec) throw std::runtime_error("bad HTTP from server: " + ec.message());
    pending_.erase(0, used);
    if (used == 0) break;
  }
}

http_response test_connection::read_header(std::chrono::milliseconds timeout) {
  parser_ = std::make_unique<parser_state>();
  body_seen_ = 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  feed();
  while (!parser_->parser.is_header_done()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || receive(left) == 0) throw std::runtime_error("connection closed before headers");
    feed();
  }
  const auto& msg = parser_->parser.get();
  http_response res;
  res.status = msg.result_int();
  for (const auto& f : msg) res.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  res.chunked = parser_->parser.chunked();
  res.keep_alive = parser_->parser.keep_alive();
  return res;
}

std::optional<std::string> test_connection::read_body_piece(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto& body = parser_->parser.get().body();
    if (body.size() > body_seen_) {
      std::string piece = body.substr(body_seen_);
      body_seen_ = body.size();
      return piece;
    }
    if (parser_->parser.is_done()) return std::nullopt;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw std::runtime_error("timed out waiting for body");
    if (receive(left) == 0) {
      boost::system::error_code ec;
      parser_->parser.put_eof(ec);
      if (ec) throw std::runtime_error("connection closed mid-body");
    }
    feed();
  }
}

http_response test_connection::read_response(std::chrono::milliseconds timeout) {
  auto res = read_header(timeout);
  while (auto piece = read_body_piece(timeout)) res.body += *piece;
  return res;
}

bool test_connection::wait_closed(std::chrono::milliseconds timeout) {
  try {
    return receive(timeout) == 0;
  } catch (const std::runtime_error&) {
    return false;
  }
}

http_response http_call(int port, std::string_view method, std::string_view target, std::string_view body,
                        const header_list& headers) {
  test_connection c(port);
  c.send_request(method, target, body, headers);
  return c.read_response();
}

}  // namespace slotcache::test
