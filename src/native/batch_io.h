// Moving whole batches between descriptors and caller-owned memory:
// read()/write() in a loop for a TAP, recvmmsg()/sendmmsg() for sockets, so
// that JavaScript crosses into native code once per batch, not per packet.
// These calls never fail loudly: they return a count, or -errno when nothing
// at all could be done, and mark what was not done in the caller's arrays.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <vector>

#include "coalesce.h"
#include "net.h"

namespace vtep {

// Upper bound of one batch; callers use 64 (1024 with offloads: TSO frames cut up).
constexpr uint32_t kMaxBatch = 1024;
// How long a send may wait for socket buffer space before the rest of the
// batch is reported unsent (and counted as dropped by the caller).
constexpr int kSendWaitMs = 10;
// UDP GRO: up to this many merged reads per call, each up to 64 KB.
constexpr uint32_t kGroMaxMessages = 16;
constexpr size_t kGroMessageBytes = 65536;
// Control messages of one datagram: received UDP_GRO, TTL and TOS (or IPv6
// hop limit and traffic class); sent UDP_SEGMENT and TOS (or traffic class).
constexpr size_t kControlBytes = 64;

// Everything the batch calls build their system calls in, made once (one per
// addon instance): nothing per packet is allocated, nothing is a global.
struct Scratch {
  mmsghdr msgs[kMaxBatch];
  iovec iov[kMaxBatch + kMaxMergedSegments];
  sockaddr_storage addr[kMaxBatch];
  alignas(cmsghdr) char control[kMaxBatch][kControlBytes];
  uint32_t weight[kMaxBatch];
  // The queue entry each message starts with (its `weight` entries follow it).
  uint32_t first[kMaxBatch];
  uint8_t gro[kGroMaxMessages * kGroMessageBytes];
  Segment segs[kMaxMergedSegments];
  uint8_t mergedHeader[kMaxMergedHeader];
  // Sends on a packet socket: each message's Ethernet and IP header, then the tunnel packet.
  alignas(8) uint8_t linkHeader[kMaxBatch][64];
  iovec pair[2 * kMaxBatch];
  // Which socket each entry of a send goes out of (packet_io.h).
  std::vector<uint8_t> pick;
};

// Per-datagram details a receive fills in beside the slots.
struct DatagramInfo {
  uint8_t* peer;    // 16 bytes per datagram: the sender's underlay address
  uint16_t* port;   // the sender's port (UDP)
  uint8_t* ttl;     // outer TTL or hop limit, 0 where the kernel gave none (raw sockets: it is in the data)
  uint8_t* tos;     // outer TOS or traffic class, the same
};

// Where tunnel packets go: destination i is the 16-byte address at table[dst[i] * 16].
struct Destinations {
  const uint32_t* dst;
  const uint8_t* table;
  uint32_t tableCount;
  uint16_t port;       // UDP destination port (0 for a raw socket)
  const uint8_t* tos;  // outer TOS (ECN) of each packet
  // Per packet: the IPv6 flow label (kOuterLabelMask bits), with `dfInherit`
  // whether the outer IPv4 header gets DF (kOuterDf), and whether the packet
  // may be fragmented whatever the network's DF (kOuterFragmentable).
  const uint32_t* outer;
  bool dfInherit;
  // DF of the network's packets when neither inherited nor overridden: how its sockets are set between sends.
  bool dfDefault;
  // When set, only entries i with pick[i] == picked are sent (the rest go another way).
  const uint8_t* pick = nullptr;
  uint8_t picked = 0;
  // When set, the caller filled it with 1 per entry; each entry the kernel takes is set to 0, so that
  // what was refused or dropped can be taken off the counters of the remote it was counted to.
  uint8_t* unsent = nullptr;
};

constexpr uint32_t kOuterLabelMask = 0xfffff;
constexpr uint32_t kOuterDf = 1u << 20;
// A frame over a path MTU too small for ICMP to help its sender (below 576
// or 1280 inside): it goes without DF (IPv4), or for the kernel to fragment to
// its own path MTU (IPv6), rather than not at all.
constexpr uint32_t kOuterFragmentable = 1u << 21;

// How an entry's outer header treats fragmentation, and how a socket is set for it.
enum class OuterDf : uint8_t {
  kSet,           // DF; the kernel's cached path MTU ignored (vtepd keeps its own): IP(V6)_PMTUDISC_PROBE
  kClear,         // no DF, fragmented only beyond the interface's MTU, ICMP about it ignored by the kernel: _OMIT
  kFragmentable,  // IPv4: as kClear (routers fragment); IPv6: the kernel fragments to its path MTU: IPV6_PMTUDISC_WANT
};

// Path MTU reports read from a sender's error queue: destination i (16 bytes
// at dst + 16i) can carry packets of mtu[i] bytes at most.
struct PathMtuReports {
  uint8_t* dst;
  uint32_t* mtu;
  uint32_t max;
};

struct PartialChecksums {
  uint32_t refused = 0;
  // One more than the index of the last refused frame (0: none).
  uint32_t lastPlusOne = 0;
};

// Sends msgs[0..count) with sendmmsg, waiting once when the queue is full and
// skipping what the kernel refuses; returns the sum of weight[k] over the
// messages sent (weight null: one each).
// Sends `count` messages; message m carries entries first[m] .. first[m] + weight[m] - 1 (weight null: one
// each), and those the kernel takes are cleared in `unsent` (when not null).
uint32_t SendMessages(int fd, mmsghdr* msgs, uint32_t count, const uint32_t* weight, const uint32_t* first, uint8_t* unsent);

// The one place a message header is set up.
void SetMessage(msghdr* h, iovec* iov, size_t iovlen, sockaddr_storage* name, socklen_t namelen, char* control, size_t controllen);

// How entry i goes out: DF, no DF, or fragmentable.
OuterDf OuterDfOf(const Destinations& to, uint32_t i);

// The sockets' setting between sends: the network's DF.
inline OuterDf DefaultDf(const Destinations& to) { return to.dfDefault ? OuterDf::kSet : OuterDf::kClear; }

// Sets a sender socket for packets of `df` (IP_MTU_DISCOVER or IPV6_MTU_DISCOVER).
void SetOuterDf(int fd, int family, OuterDf df);

// Room kept in a segment budget for the next frame: a 64 KB TSO frame cut at an MSS of 512 or more.
constexpr uint32_t kSegmentReserve = 128;

// Reads up to `max` frames from a non-blocking TAP into slots. Returns the
// count, or -errno if the first read failed. With a `segmentBudget`, the
// frames carry a virtio_net_hdr (at the slot's start) and reading stops once
// the segments they will make come within kSegmentReserve of the budget:
// many small frames per call, and no more TSO frames than their segments fit.
int ReadFrames(int fd, const Slots& slots, uint32_t max, uint32_t segmentBudget = 0);

// Writes every frame of `frames`; len[i] = 0 for each not written. With
// `vnetHdrLen` (an offloading TAP) a zeroed virtio_net_hdr goes into the
// bytes before each frame (they must be free); with `coalesce` too, runs of
// TCP segments of one flow are merged (coalesce.h), a merged frame counting
// as all it holds. With `partial`, frames whose TCP/UDP checksum was left
// partial (frame.h) are not written and counted there. Returns frames written.
uint32_t WriteFrames(int fd, const FrameList& frames, uint32_t vnetHdrLen, bool coalesce, PartialChecksums* partial, Scratch* s);

// Receives up to `max` datagrams, one a slot; a datagram larger than its slot
// has len = room + 1. With `gro`, merged datagrams are cut apart again.
int RecvDatagrams(int fd, const Slots& slots, uint32_t max, const DatagramInfo& info, bool gro, Scratch* s);

// Sends each entry of `frames` to its destination. Returns datagrams sent.
uint32_t SendDatagrams(int fd, const FrameList& frames, const Destinations& to, Scratch* s);

// Sends each entry out of fds[lane[i]] (UDP sockets: VXLAN's source ports). A
// run of entries with the same lane, destination and TOS and the same length
// (the last may be shorter) becomes one UDP_SEGMENT send, which the kernel
// carries as one GSO packet. Returns datagrams sent.
uint32_t SendLanes(const int32_t* fds, uint32_t nfds, const FrameList& frames, const uint8_t* lane, const Destinations& to, Scratch* s);

// Drains a sender's error queue (IP_RECVERR/IPV6_RECVERR): each ICMP
// "fragmentation needed" or ICMPv6 "packet too big" about one of its packets
// becomes a report of the packet's destination and the MTU the error named.
// Returns the number of reports (other errors, and reports beyond out.max,
// are read and dropped: with max 0 it only empties the queue).
uint32_t ReadPathMtu(int fd, const PathMtuReports& out);

}  // namespace vtep
