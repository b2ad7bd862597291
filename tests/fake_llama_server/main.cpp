// fake_llama_server: a small stand-in for llama.cpp's llama-server (see README.md).
#include "api.h"
#include "http_server.h"
#include "options.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>

int main(int argc, char** argv) {
  using namespace fake_llama;
  using tcp = asio::ip::tcp;
  options opts;
  try {
    opts = parse_options(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "fake_llama_server: " << e.what() << "\n";
    return 2;
  }

  asio::io_context io(1);  // one thread: simulated costs are timers, so slots still overlap
  tcp::acceptor acceptor(io);
  try {
    const tcp::endpoint endpoint = *tcp::resolver(io).resolve(opts.host, std::to_string(opts.port)).begin();
    acceptor.open(endpoint.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen();
  } catch (const std::exception& e) {
    std::cerr << "fake_llama_server: cannot listen on " << opts.host << ":" << opts.port << ": " << e.what() << "\n";
    return 1;
  }

  api handler(opts, io.get_executor());
  asio::steady_timer loading(io, std::chrono::milliseconds(opts.load_delay_ms));
  if (opts.load_delay_ms == 0) handler.finish_loading();
  else loading.async_wait([&handler](boost::system::error_code ec) { if (!ec) handler.finish_loading(); });

  const auto local = acceptor.local_endpoint();
  std::cout << "listening on " << local.address().to_string() << ":" << local.port() << std::endl;
  asio::co_spawn(io, serve(std::move(acceptor), handler, opts.keep_alive_timeout_s), asio::detached);

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](boost::system::error_code, int) { io.stop(); });
  io.run();
  // Skip destructors: suspended requests would otherwise unwind into a half-destroyed server.
  std::fflush(stdout);
  std::_Exit(0);
}
