// The one translation unit that compiles Asio and Beast (boost_net uses separate compilation).
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
