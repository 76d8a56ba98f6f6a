// Next hops from the kernel's own tables, over rtnetlink: for a tunnel
// destination, the interface the kernel would send out of, that interface's
// MAC and MTU, and the neighbour's MAC (the gateway's, or the destination's
// on a connected subnet). A sender that writes its own Ethernet header (a
// packet socket) needs exactly what `ip route get` and `ip neigh get` show.
// Open vSwitch keeps the same in its tnl/neigh and ovs/route caches.
#pragma once

#include <stdint.h>

#include "sockets.h"

namespace vtep {

// Why a destination has no next hop a packet socket can use.
enum class HopProblem : int {
  kNone = 0,
  kNoRoute,        // the kernel has no route (or an error answer)
  kNotUnicast,     // local, broadcast, blackhole, unreachable...: only the kernel can send there
  kNotEthernet,    // the interface has no Ethernet header (tun, wireguard, loopback)
  kNoNeighbour,    // no neighbour entry, or one without a MAC (incomplete, failed)
};

struct NextHop {
  int ifindex = 0;
  uint32_t mtu = 0;
  uint8_t srcMac[6] = {};
  uint8_t dstMac[6] = {};
  uint16_t neighState = 0;  // NUD_* of the neighbour entry
  uint8_t via[16] = {};     // the neighbour's address: the gateway, or the destination itself
};

// Looks `dst` up as sent from `local` (16-byte addresses). Blocking, but the
// kernel answers at once; called off the data path, when a destination is
// new or the tables changed. Returns kNone with `out` filled, or the problem.
HopProblem ResolveNextHop(const uint8_t* dst, const uint8_t* local, NextHop* out);

// A netlink socket told of every change to links, addresses, routes and
// neighbours (IPv4 and IPv6), non-blocking: readable means "look again".
int OpenRouteWatch(Failure* fail);

// Reads everything pending on a route watch; returns how many messages there were.
int DrainRouteWatch(int fd);

}  // namespace vtep
