// Coalescing, the receive side of TSO: consecutive TCP segments of one flow
// (over IPv4, or IPv6 without extension headers), bound for an offloading TAP,
// become one large frame behind a virtio_net_hdr (GSO TCPv4 or TCPv6, checksum
// left partial), so the host's stack handles one packet where there were
// dozens. Merged only when Linux's own GRO would merge them: same addresses,
// ports, TOS or traffic class and flow label, TTL or hop limit, ACK, window
// and TCP options, contiguous sequence numbers, equal sizes (the last may be
// shorter), plain ACK flags (PSH on the last), no IP options or fragments,
// and every segment's IP and TCP checksums verified first, so that a
// corrupted segment is never hidden inside a merged one. Pure: it plans runs
// and builds the merged header; batch_io writes them.
#pragma once

#include "net.h"

namespace vtep {

// At most this many segments, and this many bytes of IP packet, in one merged frame.
constexpr uint32_t kMaxMergedSegments = 64;
constexpr size_t kMaxMergedBytes = 65000;
// The most a merged frame's virtio_net_hdr and headers take: Ethernet, IPv6, TCP with options.
constexpr size_t kMaxMergedHeader = kVnetHdrLen + kEthHeaderLen + kIpv6HeaderLen + 60;

// One TCP segment that may join a merge.
struct Segment {
  const uint8_t* frame;
  const uint8_t* tcp;
  size_t ipLen, tcpLen, payload;
  bool v6;
};

// Whether the frame may join a merge: plain IPv4 without options or IPv6
// without extension headers, TCP with only ACK (and PSH), payload, checksums verified.
bool ParseSegment(const uint8_t* frame, size_t len, Segment* s);

// Whether b follows a in the same flow with the same headers, starting at `nextSeq`.
bool Continues(const Segment& a, const Segment& b, uint32_t nextSeq);

// How many frames of `frames`, starting at `first`, merge into one (at least
// 1: a frame that merges with nothing). `segs` (kMaxMergedSegments) receives
// the run's segments; segs[0] is valid only when the first frame is mergeable.
uint32_t PlanRun(const FrameList& frames, uint32_t first, Segment* segs);

// Writes the virtio_net_hdr and headers of the merged frame of segs[0..count)
// into `out` (kMaxMergedHeader bytes); returns how many bytes it wrote. The
// payloads follow, segment by segment, from segs[k].frame + (returned - kVnetHdrLen).
size_t MergedHeader(const Segment* segs, uint32_t count, uint8_t* out);

}  // namespace vtep
