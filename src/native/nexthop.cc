#include "nexthop.h"

#include <errno.h>
#include <linux/if_arp.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "addr.h"

namespace vtep {

namespace {

constexpr size_t kAnswerBytes = 32768;

struct Request {
  nlmsghdr h;
  union {
    rtmsg rt;
    ndmsg nd;
    ifinfomsg ifi;
  };
  alignas(NLMSG_ALIGNTO) char attrs[96];
};

void Begin(Request* r, uint16_t type, size_t body) {
  memset(r, 0, sizeof(*r));
  r->h.nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(body));
  r->h.nlmsg_type = type;
  r->h.nlmsg_flags = NLM_F_REQUEST;
}

void AddAttr(Request* r, uint16_t type, const void* data, size_t len) {
  auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&r->h) + NLMSG_ALIGN(r->h.nlmsg_len));
  a->rta_type = type;
  a->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
  memcpy(RTA_DATA(a), data, len);
  r->h.nlmsg_len = static_cast<uint32_t>(NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len));
}

// One question, one answer (of `type`), on a netlink socket of our own; the answer is in `buf`, or nullptr.
const nlmsghdr* Ask(int fd, Request* r, uint32_t seq, uint16_t type, uint8_t* buf) {
  r->h.nlmsg_seq = seq;
  if (send(fd, &r->h, r->h.nlmsg_len, 0) < 0) return nullptr;
  for (;;) {
    ssize_t n = recv(fd, buf, kAnswerBytes, 0);
    if (n < 0) return nullptr;
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, static_cast<size_t>(n)); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != seq) continue;  // a late answer to an earlier question
      if (h->nlmsg_type == NLMSG_ERROR) return nullptr;
      if (h->nlmsg_type == type) return h;
    }
  }
}

// The attributes after a message's family header.
template <typename Body>
rtattr* FirstAttr(const nlmsghdr* h, int* len) {
  *len = static_cast<int>(h->nlmsg_len) - static_cast<int>(NLMSG_LENGTH(sizeof(Body)));
  return reinterpret_cast<rtattr*>(reinterpret_cast<char*>(NLMSG_DATA(h)) + NLMSG_ALIGN(sizeof(Body)));
}

size_t AddrBytes(int family) { return family == AF_INET ? 4 : 16; }

// A 4- or 16-byte address of `family` as our 16-byte form.
void To16(int family, const void* a, uint8_t* out) {
  if (family == AF_INET) {
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    memcpy(out + 12, a, 4);
  } else {
    memcpy(out, a, 16);
  }
}

const uint8_t* Raw(const uint8_t* a16) { return IsV4Mapped(a16) ? a16 + 12 : a16; }

}  // namespace

HopProblem ResolveNextHop(const uint8_t* dst, const uint8_t* local, NextHop* out) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return HopProblem::kNoRoute;
  timeval wait = {1, 0};  // the kernel answers at once; never hang the daemon on it
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
  static thread_local uint8_t buf[kAnswerBytes];
  Request r;
  const int family = FamilyOf(dst);
  const size_t alen = AddrBytes(family);
  HopProblem problem = HopProblem::kNone;

  // The route, as `ip route get DST from LOCAL`: the kernel's choice for what the raw socket would send.
  Begin(&r, RTM_GETROUTE, sizeof(rtmsg));
  r.rt.rtm_family = static_cast<uint8_t>(family);
  r.rt.rtm_dst_len = static_cast<uint8_t>(alen * 8);
  AddAttr(&r, RTA_DST, Raw(dst), alen);
  if (FamilyOf(local) == family) {
    r.rt.rtm_src_len = static_cast<uint8_t>(alen * 8);
    AddAttr(&r, RTA_SRC, Raw(local), alen);
  }
  const nlmsghdr* h = Ask(fd, &r, 1, RTM_NEWROUTE, buf);
  int via = 0;
  memcpy(out->via, dst, kAddrLen);
  if (h == nullptr) {
    problem = HopProblem::kNoRoute;
  } else {
    auto* rt = reinterpret_cast<rtmsg*>(NLMSG_DATA(h));
    out->ifindex = 0;
    via = family;
    int len;
    for (rtattr* a = FirstAttr<rtmsg>(h, &len); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
      if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) >= 4) memcpy(&out->ifindex, RTA_DATA(a), 4);
      if (a->rta_type == RTA_GATEWAY && RTA_PAYLOAD(a) >= alen) To16(family, RTA_DATA(a), out->via);
      if (a->rta_type == RTA_VIA && RTA_PAYLOAD(a) >= sizeof(rtvia)) {  // an IPv4 route through an IPv6 gateway
        auto* v = reinterpret_cast<rtvia*>(RTA_DATA(a));
        if (RTA_PAYLOAD(a) >= sizeof(rtvia) + AddrBytes(v->rtvia_family)) {
          via = v->rtvia_family;
          To16(via, v->rtvia_addr, out->via);
        }
      }
    }
    if (rt->rtm_type != RTN_UNICAST || out->ifindex == 0) problem = HopProblem::kNotUnicast;
  }

  // The interface: Ethernet or not, its MAC and MTU.
  if (problem == HopProblem::kNone) {
    Begin(&r, RTM_GETLINK, sizeof(ifinfomsg));
    r.ifi.ifi_family = AF_UNSPEC;
    r.ifi.ifi_index = out->ifindex;
    uint32_t mask = RTEXT_FILTER_SKIP_STATS;
    AddAttr(&r, IFLA_EXT_MASK, &mask, sizeof(mask));
    h = Ask(fd, &r, 2, RTM_NEWLINK, buf);
    bool mac = false;
    out->mtu = 0;
    if (h != nullptr && reinterpret_cast<ifinfomsg*>(NLMSG_DATA(h))->ifi_type == ARPHRD_ETHER) {
      int len;
      for (rtattr* a = FirstAttr<ifinfomsg>(h, &len); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == IFLA_ADDRESS && RTA_PAYLOAD(a) == 6) mac = (memcpy(out->srcMac, RTA_DATA(a), 6), true);
        if (a->rta_type == IFLA_MTU && RTA_PAYLOAD(a) >= 4) memcpy(&out->mtu, RTA_DATA(a), 4);
      }
    }
    if (!mac || out->mtu == 0) problem = HopProblem::kNotEthernet;
  }

  // The neighbour: its MAC, if the kernel has one (it resolves it when the raw socket sends there).
  if (problem == HopProblem::kNone) {
    Begin(&r, RTM_GETNEIGH, sizeof(ndmsg));
    r.nd.ndm_family = static_cast<uint8_t>(via);
    r.nd.ndm_ifindex = out->ifindex;
    AddAttr(&r, NDA_DST, via == AF_INET ? out->via + 12 : out->via, AddrBytes(via));
    h = Ask(fd, &r, 3, RTM_NEWNEIGH, buf);
    bool mac = false;
    out->neighState = 0;
    if (h != nullptr) {
      out->neighState = reinterpret_cast<ndmsg*>(NLMSG_DATA(h))->ndm_state;
      int len;
      for (rtattr* a = FirstAttr<ndmsg>(h, &len); RTA_OK(a, len); a = RTA_NEXT(a, len))
        if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) mac = (memcpy(out->dstMac, RTA_DATA(a), 6), true);
    }
    if (!mac || (out->neighState & (NUD_INCOMPLETE | NUD_FAILED)) != 0 || out->neighState == NUD_NONE) problem = HopProblem::kNoNeighbour;
  }
  close(fd);
  return problem;
}

int OpenRouteWatch(Failure* fail) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return Fail(fail, "socket(netlink)");
  sockaddr_nl a = {};
  a.nl_family = AF_NETLINK;
  a.nl_groups = RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) return Fail(fail, "bind(netlink)", fd);
  SetBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, 1 << 20);
  return fd;
}

int DrainRouteWatch(int fd) {
  static thread_local uint8_t buf[kAnswerBytes];
  int count = 0;
  for (int reads = 0; reads < 1024; reads++) {
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == ENOBUFS) {  // events were lost: that too means "look again"
        count++;
        continue;
      }
      break;
    }
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, static_cast<size_t>(n)); h = NLMSG_NEXT(h, n)) count++;
  }
  return count;
}

}  // namespace vtep
