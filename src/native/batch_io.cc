#include "batch_io.h"

#include <errno.h>
#include <linux/errqueue.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "addr.h"
#include "frame.h"

namespace vtep {

namespace {

constexpr size_t kIovCapacity = sizeof(Scratch::iov) / sizeof(iovec);
// At most this many datagrams in one UDP_SEGMENT send, and this many bytes.
constexpr uint32_t kMaxGsoSegments = 64;
constexpr size_t kMaxGsoBytes = 65000;

// Waits (briefly) until fd is writable; used when a socket or TAP queue is full.
bool WaitWritable(int fd) {
  pollfd p = {fd, POLLOUT, 0};
  return poll(&p, 1, kSendWaitMs) > 0;
}

}  // namespace

// The one place a message header is set up.
void SetMessage(msghdr* h, iovec* iov, size_t iovlen, sockaddr_storage* name, socklen_t namelen, char* control, size_t controllen) {
  memset(h, 0, sizeof(*h));
  h->msg_iov = iov;
  h->msg_iovlen = iovlen;
  h->msg_name = name;
  h->msg_namelen = namelen;
  h->msg_control = controllen ? control : nullptr;
  h->msg_controllen = controllen;
}

namespace {

// Appends one control message after `used` bytes of `control`; returns the bytes now used.
size_t AddControl(char* control, size_t used, int level, int type, const void* data, size_t len) {
  cmsghdr* c = reinterpret_cast<cmsghdr*>(control + used);
  c->cmsg_level = level;
  c->cmsg_type = type;
  c->cmsg_len = CMSG_LEN(len);
  memcpy(CMSG_DATA(c), data, len);
  return used + CMSG_SPACE(len);
}

// The outer TOS (IPv4) or traffic class (IPv6) of one send: its ECN bits follow the inner packet's (RFC 6040).
size_t AddTos(char* control, size_t used, int family, uint8_t tos) {
  int v = tos;
  return family == AF_INET ? AddControl(control, used, IPPROTO_IP, IP_TOS, &v, sizeof(v))
                           : AddControl(control, used, IPPROTO_IPV6, IPV6_TCLASS, &v, sizeof(v));
}

}  // namespace

// The one send loop. A message the kernel refuses (no route, too big) is
// skipped; a queue that stays full ends it. A refusal may be an ICMP error
// about an earlier packet, which the kernel reports on the next send instead
// of sending it: that message is tried once more.
uint32_t SendMessages(int fd, mmsghdr* msgs, uint32_t count, const uint32_t* weight, const uint32_t* first, uint8_t* unsent) {
  uint32_t sent = 0, done = 0, retried = UINT32_MAX;
  bool waited = false;
  while (done < count) {
    int r = sendmmsg(fd, msgs + done, count - done, MSG_DONTWAIT);
    if (r > 0) {
      for (int k = 0; k < r; k++) {
        const uint32_t w = weight ? weight[done + k] : 1;
        sent += w;
        if (unsent != nullptr) memset(unsent + first[done + k], 0, w);
      }
      done += r;
      continue;
    }
    if (r < 0 && errno == EAGAIN && !waited) {
      waited = true;
      if (WaitWritable(fd)) continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == ENOBUFS)) break;  // queue full: the rest is dropped
    if (retried != done) {
      retried = done;  // the error was consumed: once more
      continue;
    }
    done++;  // this message was refused; go on with the others
  }
  return sent;
}

namespace {

// Writes one buffer (or vector) to a TAP, waiting once for room.
ssize_t WriteWaiting(int fd, const iovec* iov, int iovcnt, bool* waited) {
  ssize_t w = writev(fd, iov, iovcnt);
  if (w < 0 && errno == EAGAIN && !*waited) {
    *waited = true;
    if (WaitWritable(fd)) w = writev(fd, iov, iovcnt);
  }
  return w;
}

// TTL/TOS (or hop limit/traffic class) and the UDP GRO segment size of a received datagram.
void ReadControl(msghdr* h, size_t* seg, uint8_t* ttl, uint8_t* tos) {
  *ttl = *tos = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(h); c != nullptr; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS && c->cmsg_len >= CMSG_LEN(1)) {
      *tos = *CMSG_DATA(c);  // one byte, unlike the others
      continue;
    }
    int v;
    if (c->cmsg_len < CMSG_LEN(sizeof(v))) continue;
    memcpy(&v, CMSG_DATA(c), sizeof(v));
    if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) || (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT))
      *ttl = static_cast<uint8_t>(v);
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) *tos = static_cast<uint8_t>(v);
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && v > 0) *seg = static_cast<size_t>(v);
  }
}

// The socket address of destination i, with its flow label for IPv6; 0 when it names no entry of the table.
socklen_t Destination(const Destinations& to, uint32_t i, sockaddr_storage* ss) {
  if (to.dst[i] >= to.tableCount || (to.pick != nullptr && to.pick[i] != to.picked)) return 0;
  socklen_t len = ToSockaddr(to.table + static_cast<size_t>(to.dst[i]) * kAddrLen, to.port, ss);
  if (ss->ss_family == AF_INET6 && to.outer != nullptr)
    reinterpret_cast<sockaddr_in6*>(ss)->sin6_flowinfo = htonl(to.outer[i] & kOuterLabelMask);
  return len;
}


// What a socket's IP_MTU_DISCOVER (IPV6_MTU_DISCOVER) is for packets of `df`.
int PmtuDiscovery(int family, OuterDf df) {
  if (df == OuterDf::kSet) return family == AF_INET ? IP_PMTUDISC_PROBE : IPV6_PMTUDISC_PROBE;
  if (df == OuterDf::kFragmentable && family != AF_INET) return IPV6_PMTUDISC_WANT;
  return family == AF_INET ? IP_PMTUDISC_OMIT : IPV6_PMTUDISC_OMIT;
}

// The socket is set for runs of one kind at a time (IPv4 has no per-message
// DF), and back to the network's default after the send.
struct DfSwitch {
  int fd;
  OuterDf current;
  OuterDf home;
  int family = AF_INET;

  DfSwitch(int f, const Destinations& to) : fd(f), current(DefaultDf(to)), home(DefaultDf(to)) {}
  void Use(int fam, OuterDf df) {
    family = fam;
    if (PmtuDiscovery(fam, df) != PmtuDiscovery(fam, current)) SetOuterDf(fd, fam, df);
    current = df;
  }
  ~DfSwitch() {
    if (PmtuDiscovery(family, current) != PmtuDiscovery(family, home)) SetOuterDf(fd, family, home);
  }
};

}  // namespace

void SetOuterDf(int fd, int family, OuterDf df) {
  int pmtu = PmtuDiscovery(family, df);
  if (family == AF_INET) setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
  else setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof(pmtu));
}

OuterDf OuterDfOf(const Destinations& to, uint32_t i) {
  if (to.outer != nullptr && (to.outer[i] & kOuterFragmentable) != 0) return OuterDf::kFragmentable;
  if (to.dfInherit) return to.outer != nullptr && (to.outer[i] & kOuterDf) != 0 ? OuterDf::kSet : OuterDf::kClear;
  return DefaultDf(to);
}

int ReadFrames(int fd, const Slots& slots, uint32_t max, uint32_t segmentBudget) {
  if (max > slots.capacity) max = slots.capacity;
  uint32_t n = 0, segments = 0;
  while (n < max) {
    ssize_t r = read(fd, slots.at(n), slots.room());
    if (r < 0) {
      if (n == 0 && errno != EAGAIN && errno != EINTR) return -errno;
      break;
    }
    slots.len[n] = static_cast<uint32_t>(r);
    n++;
    if (segmentBudget == 0) continue;
    segments += 1;
    if (static_cast<size_t>(r) > kVnetHdrLen) {
      VnetHdr h = ReadVnetHdr(slots.at(n - 1));
      size_t payload = static_cast<size_t>(r) - kVnetHdrLen;
      if ((h.gso_type & ~kVnetGsoEcn) != kVnetGsoNone && h.gso_size > 0 && payload > h.hdr_len)
        segments += static_cast<uint32_t>((payload - h.hdr_len) / h.gso_size);
    }
    if (segments + kSegmentReserve > segmentBudget) break;
  }
  return static_cast<int>(n);
}

uint32_t WriteFrames(int fd, const FrameList& frames, uint32_t vnet, bool coalesce, PartialChecksums* partial, Scratch* s) {
  coalesce = coalesce && vnet == kVnetHdrLen;
  uint32_t done = 0;
  bool waited = false;
  for (uint32_t i = 0; i < frames.count; i++) {
    if (frames.off[i] < vnet || !frames.inside(i)) {
      frames.len[i] = 0;
      continue;
    }
    if (coalesce) {
      uint32_t count = PlanRun(frames, i, s->segs);
      if (count > 1) {
        size_t head = MergedHeader(s->segs, count, s->mergedHeader);
        size_t hdrs = head - kVnetHdrLen;
        s->iov[0] = {s->mergedHeader, head};
        for (uint32_t k = 0; k < count; k++) s->iov[k + 1] = {const_cast<uint8_t*>(s->segs[k].frame + hdrs), s->segs[k].payload};
        if (WriteWaiting(fd, s->iov, static_cast<int>(count + 1), &waited) >= 0) {
          done += count;
        } else {
          for (uint32_t k = 0; k < count; k++) frames.len[i + k] = 0;
        }
        i += count - 1;
        continue;
      }
    }
    if (partial != nullptr && PartialChecksum(frames.at(i), frames.len[i])) {
      partial->refused++;
      partial->lastPlusOne = i + 1;
      frames.len[i] = 0;
      continue;
    }
    uint8_t* p = frames.at(i) - vnet;
    if (vnet) memset(p, 0, vnet);
    iovec one = {p, frames.len[i] + vnet};
    if (WriteWaiting(fd, &one, 1, &waited) >= 0)
      done++;
    else
      frames.len[i] = 0;  // tells the caller which frames were not written, for exact counters
  }
  return done;
}

int RecvDatagrams(int fd, const Slots& slots, uint32_t max, const DatagramInfo& info, bool gro, Scratch* s) {
  if (max > slots.capacity) max = slots.capacity;
  if (max > kMaxBatch) max = kMaxBatch;
  const size_t room = slots.room();
  // With GRO a read may hold up to 64 datagrams: fewer reads, so that they all fit.
  uint32_t msgs = gro ? (max / 64 > kGroMaxMessages ? kGroMaxMessages : (max / 64 ? max / 64 : 1)) : max;
  for (uint32_t i = 0; i < msgs; i++) {
    s->iov[i] = gro ? iovec{s->gro + i * kGroMessageBytes, kGroMessageBytes} : iovec{slots.at(i), room};
    SetMessage(&s->msgs[i].msg_hdr, &s->iov[i], 1, &s->addr[i], sizeof(s->addr[i]), s->control[i], kControlBytes);
  }
  int n = recvmmsg(fd, s->msgs, msgs, MSG_DONTWAIT, nullptr);
  if (n < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -errno;
  uint32_t out = 0;
  for (int i = 0; i < n && out < max; i++) {
    msghdr* h = &s->msgs[i].msg_hdr;
    size_t total = s->msgs[i].msg_len;
    size_t seg = total;
    uint8_t ttl, tos;
    ReadControl(h, &seg, &ttl, &tos);
    uint8_t peer[kAddrLen];
    uint16_t port;
    FromSockaddr(&s->addr[i], peer, &port);
    if (!gro) seg = total;
    bool truncated = (h->msg_flags & MSG_TRUNC) != 0;
    // Without GRO the datagram is in its slot already; with GRO it is cut apart into slots here.
    for (size_t done = 0; (done < total || (total == 0 && done == 0)) && out < max; done += seg) {
      size_t len = total - done < seg ? total - done : seg;
      if (gro && len <= room) memcpy(slots.at(out), s->gro + i * kGroMessageBytes + done, len);
      slots.len[out] = (truncated || len > room) ? static_cast<uint32_t>(room + 1) : static_cast<uint32_t>(len);
      memcpy(info.peer + static_cast<size_t>(out) * kAddrLen, peer, kAddrLen);
      info.port[out] = port;
      info.ttl[out] = ttl;
      info.tos[out] = tos;
      out++;
      if (seg == 0) break;
    }
  }
  return static_cast<int>(out);
}

uint32_t SendDatagrams(int fd, const FrameList& frames, const Destinations& to, Scratch* s) {
  uint32_t sent = 0;
  DfSwitch dfs(fd, to);
  for (uint32_t next = 0; next < frames.count;) {
    uint32_t count = 0;
    // One sendmmsg per run of equal DF (df inherit, fragmentable entries).
    const OuterDf df = OuterDfOf(to, next);
    for (; next < frames.count && count < kMaxBatch && OuterDfOf(to, next) == df; next++) {
      socklen_t namelen = frames.inside(next) ? Destination(to, next, &s->addr[count]) : 0;
      if (namelen == 0) continue;  // outside the arena, or no such destination: not sent
      s->iov[count] = {frames.at(next), frames.len[next]};
      size_t control = to.tos[next] != 0 ? AddTos(s->control[count], 0, s->addr[count].ss_family, to.tos[next]) : 0;
      SetMessage(&s->msgs[count].msg_hdr, &s->iov[count], 1, &s->addr[count], namelen, s->control[count], control);
      s->first[count] = next;
      count++;
    }
    if (count > 0) dfs.Use(s->addr[0].ss_family, df);
    sent += SendMessages(fd, s->msgs, count, nullptr, s->first, to.unsent);
  }
  return sent;
}

uint32_t SendLanes(const int32_t* fds, uint32_t nfds, const FrameList& frames, const uint8_t* lanes, const Destinations& to, Scratch* s) {
  uint32_t sent = 0, i = 0;
  const uint32_t n = frames.count;
  while (i < n) {
    // Up to kMaxBatch messages that all go out of one socket.
    uint8_t lane = lanes[i];
    if (lane >= nfds) {
      i++;
      continue;
    }
    uint32_t msgs = 0, iovs = 0;
    const OuterDf df = OuterDfOf(to, i);
    // A fragmentable datagram over IPv6 goes alone: the kernel fragments it to its own path MTU, and refuses
    // UDP GSO segments larger than that. Over IPv4 it is sent with IP_PMTUDISC_OMIT, sized against the
    // device's MTU as a DF one is, so it keeps GSO: a path MTU lowered by one ICMP error (forged, or from a
    // guessed source port) would otherwise cost a tunnel three quarters of its TCP rate.
    const bool alone = df == OuterDf::kFragmentable && to.dst[i] < to.tableCount &&
                       FamilyOf(to.table + static_cast<size_t>(to.dst[i]) * kAddrLen) != AF_INET;
    const uint32_t maxSegments = alone ? 1 : kMaxGsoSegments;
    DfSwitch dfs(fds[lane], to);
    while (i < n && lanes[i] == lane && OuterDfOf(to, i) == df && msgs < kMaxBatch && iovs + kMaxGsoSegments <= kIovCapacity) {
      uint32_t first = i, seg = frames.len[i], count = 0;
      size_t total = 0;
      iovec* iov = &s->iov[iovs];
      // A run: same lane, destination, TOS and flow label (and DF), equal lengths, the last one may be shorter.
      while (i < n && lanes[i] == lane && to.dst[i] == to.dst[first] && to.tos[i] == to.tos[first] &&
             (to.outer == nullptr || to.outer[i] == to.outer[first]) && count < maxSegments &&
             total + frames.len[i] <= kMaxGsoBytes && frames.len[i] <= seg && frames.inside(i)) {
        iov[count] = {frames.at(i), frames.len[i]};
        total += frames.len[i];
        count++;
        bool shorter = frames.len[i] < seg;
        i++;
        if (shorter) break;
      }
      socklen_t namelen = count > 0 ? Destination(to, first, &s->addr[msgs]) : 0;
      if (namelen == 0) {  // an entry outside the arena, or no such destination: skip it
        if (count == 0) i++;
        continue;
      }
      size_t control = 0;
      if (count > 1) {
        uint16_t gso = static_cast<uint16_t>(seg);
        control = AddControl(s->control[msgs], 0, SOL_UDP, UDP_SEGMENT, &gso, sizeof(gso));
      }
      if (to.tos[first] != 0) control = AddTos(s->control[msgs], control, s->addr[msgs].ss_family, to.tos[first]);
      SetMessage(&s->msgs[msgs].msg_hdr, iov, count, &s->addr[msgs], namelen, s->control[msgs], control);
      s->weight[msgs] = count;
      s->first[msgs] = first;
      iovs += count;
      msgs++;
    }
    if (msgs > 0) dfs.Use(s->addr[0].ss_family, df);
    sent += SendMessages(fds[lane], s->msgs, msgs, s->weight, s->first, to.unsent);
  }
  return sent;
}

uint32_t ReadPathMtu(int fd, const PathMtuReports& out) {
  uint32_t n = 0;
  // Bounded: a socket cannot make this loop forever (the queue holds what the receive buffer allows).
  for (int reads = 0; reads < 256; reads++) {
    sockaddr_storage name;
    alignas(cmsghdr) char control[256];
    uint8_t quote[64];
    iovec iov = {quote, sizeof(quote)};
    msghdr h;
    SetMessage(&h, &iov, 1, &name, sizeof(name), control, sizeof(control));
    if (recvmsg(fd, &h, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) break;
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
      bool v4 = c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR;
      bool v6 = c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR;
      if ((!v4 && !v6) || c->cmsg_len < CMSG_LEN(sizeof(sock_extended_err))) continue;
      sock_extended_err e;
      memcpy(&e, CMSG_DATA(c), sizeof(e));
      bool tooBig = (e.ee_origin == SO_EE_ORIGIN_ICMP && e.ee_type == ICMP_DEST_UNREACH && e.ee_code == ICMP_FRAG_NEEDED) ||
                    (e.ee_origin == SO_EE_ORIGIN_ICMP6 && e.ee_type == ICMPV6_PKT_TOOBIG);
      if (!tooBig || e.ee_errno != EMSGSIZE || n >= out.max) continue;
      // msg_name is the destination of the packet the error quotes: the remote VTEP.
      uint16_t port;
      FromSockaddr(&name, out.dst + static_cast<size_t>(n) * kAddrLen, &port);
      out.mtu[n++] = e.ee_info;
    }
  }
  return n;
}

}  // namespace vtep
