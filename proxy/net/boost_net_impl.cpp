// The one translation unit that compiles Asio and Beast for the daemon (see boost_net in CMakeLists.txt).
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
