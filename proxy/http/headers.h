#pragma once

#include <boost/beast/http/fields.hpp>

namespace slotcache {

// Removes the hop-by-hop fields RFC 9110 §7.6.1 names (Connection and every field it lists,
// Keep-Alive, Proxy-Connection, TE, Transfer-Encoding, Upgrade, Trailer, Proxy-Authorization,
// Proxy-Authenticate). The caller sets its own Connection and framing afterwards.
// Transfer-Encoding is kept when `keep_framing` is true: a relayed response re-frames its body
// with the same encoding.
void strip_hop_by_hop(boost::beast::http::fields& fields, bool keep_framing = false);

// Adds this hop to Via (RFC 9110 §7.6.3), keeping earlier hops.
void append_via(boost::beast::http::fields& fields, unsigned version);

}  // namespace slotcache
