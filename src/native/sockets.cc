#include "sockets.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/filter.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <netinet/udp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "batch_io.h"

// linux/in6.h has it, but clashes with glibc's netinet/in.h, which lacks it.
#ifndef IPV6_FLOWINFO_SEND
#define IPV6_FLOWINFO_SEND 33
#endif
// linux/icmp.h has these, and clashes with netinet/in.h too.
#ifndef ICMP_FILTER
#define ICMP_FILTER 1
#endif
struct IcmpFilter {
  uint32_t data;
};

namespace vtep {

int Fail(Failure* fail, const char* call, int fd) {
  fail->call = call;
  fail->err = errno;
  if (fd >= 0) close(fd);
  return -1;
}

bool Failed(Failure* fail, const char* call, int fd) {
  Fail(fail, call, fd);
  return false;
}

bool RefuseAll(int fd) {
  struct sock_filter drop_all = BPF_STMT(BPF_RET | BPF_K, 0);
  struct sock_fprog prog = {1, &drop_all};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) == 0;
}

void SetBuffer(int fd, int force, int plain, int bytes) {
  if (bytes > 0 && setsockopt(fd, SOL_SOCKET, force, &bytes, sizeof(bytes)) < 0) setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof(bytes));
}

namespace {

bool Bind(int fd, const uint8_t* addr, uint16_t port) {
  sockaddr_storage ss;
  socklen_t len = ToSockaddr(addr, port, &ss);
  return bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0;
}

// An IPv6 socket takes IPv6 only: an IPv4 network has a socket of its own.
int NewSocket(const uint8_t* addr, int type, int protocol) {
  int family = FamilyOf(addr);
  int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd >= 0 && family == AF_INET6) {
    int one = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  return fd;
}

// The outer TTL and TOS (hop limit and traffic class) of each received datagram, as control messages.
void ReceiveOuterHeader(int fd, int family) {
  int one = 1;
  if (family == AF_INET) {
    setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof(one));
    setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &one, sizeof(one));
  } else {
    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof(one));
    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, &one, sizeof(one));
  }
}

// The address family a socket was made with.
int DomainOf(int fd) {
  int family = AF_INET;
  socklen_t len = sizeof(family);
  getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len);
  return family;
}

// ICMP errors about a sender's packets kept in its error queue (path MTU,
// read by ReadPathMtu); for IPv6, flow labels given per send. Never on a
// socket the data path watches: a queued error is POLLERR, on which libuv
// stops watching.
void ReportErrors(int fd, int family) {
  int one = 1;
  if (family == AF_INET) {
    setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one));
  } else {
    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof(one));
    setsockopt(fd, IPPROTO_IPV6, IPV6_FLOWINFO_SEND, &one, sizeof(one));
  }
}

// What every tunnel sender sets: outer TTL, DF, send buffer. Never the
// kernel's cached path MTU: any host can lower it with a forged ICMP error
// that quotes a raw socket's protocol, and then a send with DF fails, or a
// UDP GSO send without DF does (its segments over what the kernel would
// fragment to). vtepd keeps its own path MTU per remote, from checked errors.
void ConfigureSender(int fd, int family, int ttl, bool df, int sndbuf) {
  if (family == AF_INET) setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
  else setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof(ttl));
  SetOuterDf(fd, family, df ? OuterDf::kSet : OuterDf::kClear);
  SetBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, sndbuf);
}

}  // namespace

TapResult OpenTap(const std::string& name, bool offload, Failure* fail) {
  TapResult r = {-1, "", false};
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    Fail(fail, "open /dev/net/tun");
    return r;
  }
  ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
  strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    Fail(fail, "TUNSETIFF", fd);
    return r;
  }
  if (offload) {
    r.offload = ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN) == 0;
    // Refused: the header stays (it is part of the device now), but frames come whole and checksummed.
    if (!r.offload) ioctl(fd, TUNSETOFFLOAD, 0);
  }
  r.fd = fd;
  r.name = ifr.ifr_name;
  return r;
}

int OpenUdpReceiver(const uint8_t* local, uint16_t port, int rcvbuf, Failure* fail) {
  int fd = NewSocket(local, SOCK_DGRAM, 0);
  if (fd < 0) return Fail(fail, "socket(udp)");
  // No SO_REUSEADDR: on UDP it lets a second daemon bind the same port and
  // silently take half of the packets; EADDRINUSE is the honest answer.
  SetBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf);
  ReceiveOuterHeader(fd, FamilyOf(local));
  if (!Bind(fd, local, port)) return Fail(fail, "bind(udp)", fd);
  return fd;
}

int OpenGroupReceiver(const uint8_t* group, uint16_t port, int ifindex, int rcvbuf, Failure* fail) {
  int family = FamilyOf(group);
  int fd = NewSocket(group, SOCK_DGRAM, 0);
  if (fd < 0) return Fail(fail, "socket(udp)");
  // Unlike a unicast socket, every listener of a group gets a copy: sharing the port is right here.
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (family == AF_INET)
    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero));
  else
    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &zero, sizeof(zero));
  SetBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf);
  ReceiveOuterHeader(fd, family);
  // Bound to the group address, so it receives that group only; closing it leaves the group.
  if (!Bind(fd, group, port)) return Fail(fail, "bind(group)", fd);
  if (family == AF_INET) {
    ip_mreqn mreq;
    memset(&mreq, 0, sizeof(mreq));
    memcpy(&mreq.imr_multiaddr, group + 12, 4);
    mreq.imr_ifindex = ifindex;
    if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) < 0) return Fail(fail, "IP_ADD_MEMBERSHIP", fd);
  } else {
    ipv6_mreq mreq;
    memcpy(&mreq.ipv6mr_multiaddr, group, kAddrLen);
    mreq.ipv6mr_interface = static_cast<unsigned>(ifindex);
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) < 0) return Fail(fail, "IPV6_ADD_MEMBERSHIP", fd);
  }
  return fd;
}

int OpenRaw(int protocol, const uint8_t* local, int ttl, bool df, bool receive, int sndbuf, Failure* fail) {
  int fd = NewSocket(local, SOCK_RAW, protocol);
  if (fd < 0) return Fail(fail, "socket(raw)");
  if (!receive && !RefuseAll(fd)) return Fail(fail, "SO_ATTACH_FILTER", fd);
  if (!Bind(fd, local, 0)) return Fail(fail, "bind(raw)", fd);
  int family = FamilyOf(local);
  ConfigureSender(fd, family, ttl, df, sndbuf);
  if (!receive) ReportErrors(fd, family);
  if (family == AF_INET6 && protocol == IPPROTO_UDP) {
    // IPv6 requires the UDP checksum (RFC 8200 section 8.1): the kernel computes it at this offset of what we write.
    int offset = 6;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_CHECKSUM, &offset, sizeof(offset)) < 0) return Fail(fail, "IPV6_CHECKSUM", fd);
  }
  // An IPv6 raw socket gets no IPv6 header: hop limit and traffic class come as control messages.
  if (receive && family == AF_INET6) ReceiveOuterHeader(fd, family);
  // A receiving one rides out bursts as the UDP receiver does (the default buffer drops at tens of thousands of packets a second).
  if (receive) SetBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, sndbuf);
  return fd;
}

int OpenIcmpErrors(const uint8_t* local, int rcvbuf, Failure* fail) {
  const int family = FamilyOf(local);
  const int protocol = family == AF_INET ? static_cast<int>(IPPROTO_ICMP) : static_cast<int>(IPPROTO_ICMPV6);
  int fd = NewSocket(local, SOCK_RAW, protocol);
  if (fd < 0) return Fail(fail, "socket(icmp)");
  if (family == AF_INET) {
    IcmpFilter f;
    f.data = ~(1u << ICMP_DEST_UNREACH);  // the bits of the types to block
    if (setsockopt(fd, SOL_RAW, ICMP_FILTER, &f, sizeof(f)) < 0) return Fail(fail, "ICMP_FILTER", fd);
  } else {
    icmp6_filter f;
    ICMP6_FILTER_SETBLOCKALL(&f);
    ICMP6_FILTER_SETPASS(ICMP6_PACKET_TOO_BIG, &f);
    if (setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f)) < 0) return Fail(fail, "ICMP6_FILTER", fd);
  }
  if (!Bind(fd, local, 0)) return Fail(fail, "bind(icmp)", fd);
  SetBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf);
  return fd;
}

int OpenUdpSender(const uint8_t* local, uint16_t port, int ttl, bool df, int sndbuf, Failure* fail) {
  int fd = NewSocket(local, SOCK_DGRAM, 0);
  if (fd < 0) return Fail(fail, "socket(udp)");
  RefuseAll(fd);
  if (!Bind(fd, local, port)) return Fail(fail, "bind(udp sender)", fd);
  ConfigureSender(fd, FamilyOf(local), ttl, df, sndbuf);
  ReportErrors(fd, FamilyOf(local));
  return fd;
}

bool SetMulticast(int fd, int ifindex, int ttl, bool loop, Failure* fail) {
  int family = DomainOf(fd);
  int on = loop ? 1 : 0;
  if (family == AF_INET6) {
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof(ifindex)) < 0) return Fail(fail, "IPV6_MULTICAST_IF") == 0;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &ttl, sizeof(ttl)) < 0) return Fail(fail, "IPV6_MULTICAST_HOPS") == 0;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &on, sizeof(on)) < 0) return Fail(fail, "IPV6_MULTICAST_LOOP") == 0;
    return true;
  }
  ip_mreqn mreq;
  memset(&mreq, 0, sizeof(mreq));
  mreq.imr_ifindex = ifindex;
  if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof(mreq)) < 0) return Fail(fail, "IP_MULTICAST_IF") == 0;
  if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) < 0) return Fail(fail, "IP_MULTICAST_TTL") == 0;
  if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &on, sizeof(on)) < 0) return Fail(fail, "IP_MULTICAST_LOOP") == 0;
  return true;
}

void SetSenderOptions(int fd, int ttl, bool df) { ConfigureSender(fd, DomainOf(fd), ttl, df, 0); }

void ClearSocketError(int fd) {
  int err;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return;  // not a socket (a TAP)
  ReadPathMtu(fd, PathMtuReports{nullptr, nullptr, 0});  // room for no report: it only empties the queue
}

void AcceptZeroChecksum6(int fd, bool on) {
  int v = on ? 1 : 0;
  setsockopt(fd, SOL_UDP, UDP_NO_CHECK6_RX, &v, sizeof(v));
}

bool EnableUdpGro(int fd) {
  int one = 1;
  return setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
}

EthtoolInfo QueryEthtool(const std::string& name) {
  EthtoolInfo info = {"", -1};
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return info;
  ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ethtool_drvinfo drv;
  memset(&drv, 0, sizeof(drv));
  drv.cmd = ETHTOOL_GDRVINFO;
  ifr.ifr_data = reinterpret_cast<char*>(&drv);
  if (ioctl(fd, SIOCETHTOOL, &ifr) == 0) info.driver = drv.driver;
  ethtool_value val = {ETHTOOL_GTXCSUM, 0};
  ifr.ifr_data = reinterpret_cast<char*>(&val);
  if (ioctl(fd, SIOCETHTOOL, &ifr) == 0) info.txChecksum = val.data != 0;
  close(fd);
  return info;
}

}  // namespace vtep
