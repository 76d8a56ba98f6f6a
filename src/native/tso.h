// TSO segmentation: frames read from an offloading TAP (each behind a
// virtio_net_hdr) become plain frames the wire can carry. A TSO frame (TCP
// over IPv4 or IPv6, up to 64 KB) is cut into MSS-sized segments with their
// own IP length, ID and checksum and TCP sequence number, flags and checksum,
// as the kernel's GSO would; a frame whose checksum was left partial
// (NEEDS_CSUM) gets it completed. Pure: buffers in, buffers out.
#pragma once

#include "net.h"

namespace vtep {

struct SegmentStats {
  // Unknown GSO type, or headers that do not hold together: dropped.
  uint32_t malformed = 0;
  // Output that did not fit the out slots: dropped.
  uint32_t overflow = 0;
};

// Frames in[0..n) into out's slots; returns how many out slots were filled.
uint32_t SegmentFrames(const Slots& in, uint32_t n, const Slots& out, SegmentStats* stats);

}  // namespace vtep
