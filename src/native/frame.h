// Looking into an Ethernet frame: where its IP header is, and whether its
// TCP/UDP checksum was left partial by a sender that offloads checksums.
#pragma once

#include "net.h"

namespace vtep {

// Where the network header of an Ethernet frame starts, after at most one
// VLAN tag, and its EtherType; 0 for a frame too short to tell.
size_t L3Offset(const uint8_t* f, size_t len, uint16_t* ethertype);

// Whether a frame's TCP or UDP checksum (IPv4, or IPv6 without extension
// headers) is a partial one: the field holds only the pseudo-header sum, as a
// stack leaves it for a NIC that offloads checksums. A kernel VTEP behind a
// veth with TX checksum offload on sends such frames into its tunnel, and
// every receiving stack drops them: ping works, TCP does not. Only a field
// equal to that sum is summed in full, so good traffic costs a comparison.
bool PartialChecksum(const uint8_t* f, size_t len);

}  // namespace vtep
