// Opening what the data path reads and writes: TAP devices and sockets, with
// the options each needs. Every function returns a descriptor, or -1 with
// `fail` naming the system call and its errno; nothing is left open then.
#pragma once

#include <string>

#include "net.h"

namespace vtep {

struct Failure {
  const char* call = "";
  int err = 0;
};

// Records the failed call and errno in `fail`, closes `fd` if there is one; returns -1.
int Fail(Failure* fail, const char* call, int fd = -1);

// The same, for calls that answer true or false: returns false.
bool Failed(Failure* fail, const char* call, int fd = -1);

// A socket that only sends would still queue a copy of what it may receive: refuse it all.
bool RefuseAll(int fd);

// Sets a socket buffer to `bytes`, beyond the sysctl limit when allowed (`force`: SO_*BUFFORCE).
void SetBuffer(int fd, int force, int plain, int bytes);

struct TapResult {
  int fd;
  std::string name;
  // What the kernel granted: TSO and checksum offload (with the vnet header).
  bool offload;
};

// Attaches to (or creates, non-persistent) TAP `name`, no packet info,
// non-blocking. With `offload` the TAP carries a virtio_net_hdr in front of
// every frame and may hand over TCP frames of up to 64 KB (TSO) and partial
// checksums, if the kernel grants it; `offload` in the result says whether.
TapResult OpenTap(const std::string& name, bool offload, Failure* fail);

// The VXLAN receive socket, bound to local:port. Outer TTL and TOS come with
// each datagram (a UDP socket never shows the outer header).
int OpenUdpReceiver(const uint8_t* local, uint16_t port, int rcvbuf, Failure* fail);

// A receive socket for a multicast group, joined on interface `ifindex`.
int OpenGroupReceiver(const uint8_t* group, uint16_t port, int ifindex, int rcvbuf, Failure* fail);

// A raw IP socket of `protocol`, bound to `local`, the kernel adding the IP
// header. A send-only one (`receive` false) refuses every packet, or it would
// queue a copy of every packet of its protocol reaching the host; a receiving
// one gets a receive buffer of `sndbuf` bytes too.
int OpenRaw(int protocol, const uint8_t* local, int ttl, bool df, bool receive, int sndbuf, Failure* fail);

// A send-only UDP socket from local:port: one "lane" of a VXLAN network's source ports.
int OpenUdpSender(const uint8_t* local, uint16_t port, int ttl, bool df, int sndbuf, Failure* fail);

// A raw ICMP (ICMPv6, for an IPv6 `local`) socket bound to `local` that
// receives only "fragmentation needed"/"packet too big" errors (ICMP_FILTER,
// ICMP6_FILTER), whole: vtepd checks what they quote before it believes them
// (RFC 5927 section 4), which a sender's error queue does not allow (it keeps
// no quoted IP header). The IPv4 ones come with their IP header.
int OpenIcmpErrors(const uint8_t* local, int rcvbuf, Failure* fail);

// Where and how a sender's multicast goes; with loop off, our own group packets do not come back.
bool SetMulticast(int fd, int ifindex, int ttl, bool loop, Failure* fail);

// Sets a sender's outer TTL (hop limit) and DF again, as a reload changes them.
void SetSenderOptions(int fd, int ttl, bool df);

// Clears a socket's pending error and empties its error queue (what makes poll() say POLLERR); nothing for other descriptors.
void ClearSocketError(int fd);

// Whether a UDP/IPv6 receiver accepts datagrams with a zero checksum (the kernel's udp6zerocsumrx).
void AcceptZeroChecksum6(int fd, bool on);

// Asks for UDP GRO: the kernel merges datagrams of a flow. Returns whether it was granted.
bool EnableUdpGro(int fd);

struct EthtoolInfo {
  std::string driver;  // empty if unknown
  int txChecksum;      // 1 on, 0 off, -1 unknown
};
EthtoolInfo QueryEthtool(const std::string& ifname);

}  // namespace vtep
