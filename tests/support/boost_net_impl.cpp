// The one translation unit that compiles Asio and Beast for the test support library.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
