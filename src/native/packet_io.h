// Tunnel packets on a packet socket: vtepd writes the Ethernet and IP headers
// itself and hands each packet to the interface, past the kernel's IP output
// (route lookup, netfilter, neighbour output, per-packet socket accounting).
// Next hops come from the kernel's tables (nexthop.h), kept per destination
// by TypeScript (src/io/packet-sender.ts). A destination without a usable next
// hop (not resolved yet, not Ethernet, a packet too big for the link, which
// only the kernel may fragment) goes out of the raw socket instead: the
// kernel's own send resolves the neighbour, which the next lookup then finds.
#pragma once

#include "batch_io.h"
#include "sockets.h"

namespace vtep {

// One destination's next hop, as TypeScript writes it: dst MAC (6), src MAC
// (6), ifindex (4, little endian), link MTU (4, little endian), and the
// 16-byte address it was resolved for (a reused destination index shows).
constexpr size_t kHopLen = 36;
constexpr size_t kHopIfindex = 12;
constexpr size_t kHopMtu = 16;
constexpr size_t kHopAddress = 20;

// What to do with a destination's packets.
enum HopState : uint8_t {
  kHopUnknown = 0,  // never looked up: raw, and asked for (stats[kStatWanted])
  kHopReady = 1,    // packet socket
  kHopNudge = 2,    // the neighbour entry is stale: one packet by the raw socket (the kernel checks it again), then ready
  kHopWanted = 3,   // a lookup is pending: raw
  kHopRaw = 4,      // no usable next hop: raw until the tables change
};

// Counters the sender keeps beside its hops (Uint32Array in TypeScript).
enum HopStat { kStatPacket = 0, kStatRaw = 1, kStatWanted = 2, kStatCount = 3 };

struct HopTable {
  const uint8_t* hop;   // kHopLen bytes per destination index
  uint8_t* state;       // HopState per destination index
  uint32_t count;       // destinations in both
  const uint8_t* local; // the outer source address (16 bytes)
  uint8_t ttl;
  uint32_t* stats;      // kStatCount counters
};

// A send-only packet socket (it receives nothing).
int OpenPacketSocket(int sndbuf, Failure* fail);

// Sends each entry (a tunnel packet from its tunnel header on) to its
// destination: on `packetFd` with the headers written here where the
// destination's hop is ready, on `rawFd` otherwise. Returns packets sent.
uint32_t SendTunnelPackets(int packetFd, int rawFd, uint8_t protocol, const FrameList& frames, const Destinations& to, const HopTable& hops, Scratch* s);

}  // namespace vtep
