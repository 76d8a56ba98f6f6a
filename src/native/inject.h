// Sockets that play someone else, for the fuzzer and the labs: a host behind
// a TAP (whole frames out of an interface), or a peer VTEP that writes its own
// outer IPv4 header (options, TOS, TTL, ID of its choosing). vtepd itself
// never opens them. Same Failure convention as sockets.h.
#pragma once

#include "sockets.h"

namespace vtep {

// An AF_PACKET socket bound to interface `ifname`: each write() sends one
// whole Ethernet frame out of it (into a TAP: as if the host sent it).
int OpenPacketSender(const std::string& ifname, int sndbuf, Failure* fail);

// A raw IPv4 socket of `protocol` with IP_HDRINCL: the caller writes the IP
// header; the kernel fills in the total length and the checksum. It receives
// nothing.
int OpenHeaderSender(int protocol, int sndbuf, Failure* fail);

}  // namespace vtep
