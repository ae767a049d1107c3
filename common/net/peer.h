#pragma once

#include <string>
#include <string_view>

namespace medic::common {

// The host of a gRPC peer string: "ipv4:10.1.0.7:53110" → "10.1.0.7",
// "ipv6:[fd00::2]:4000" → "fd00::2". Anything else is returned without its port.
inline std::string PeerHost(std::string_view peer) {
  if (const size_t colon = peer.find(':'); colon != std::string_view::npos) {
    peer.remove_prefix(colon + 1);
  }
  if (const size_t port = peer.rfind(':'); port != std::string_view::npos) {
    peer = peer.substr(0, port);
  }
  if (peer.size() >= 2 && peer.front() == '[' && peer.back() == ']') {
    peer = peer.substr(1, peer.size() - 2);
  }
  return std::string(peer);
}

}  // namespace medic::common
