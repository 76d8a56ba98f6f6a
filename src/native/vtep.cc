// vtep_native: the system calls of the data path, and nothing else.
//
// The addon opens TAP devices and sockets, moves batches of packets between
// them and caller-owned memory, and tells JavaScript when a descriptor is
// readable. It makes no forwarding decisions: every frame is parsed, learned
// and forwarded in TypeScript. What it does do is the per-byte work that
// JavaScript would do slowly: TSO segmentation, coalescing, and checksums
// (completing partial ones, verifying before a merge, refusing inner ones a
// peer left partial). Each exported data-path call handles a whole batch
// (read()/write() in a loop, recvmmsg()/sendmmsg()), so JavaScript crosses into
// native code once per batch, not once per packet.
//
// Memory layout shared with src/io: one "arena" Buffer is cut into fixed-size
// slots. Reads fill slot i at (i * slotSize + headroom) so that the tunnel
// header can later be written in front of the frame without a copy. Writes
// and sends take absolute (offset, length) pairs into the arena, so several
// send entries may point at the same slot (head-end replication).
//
// Hot-path calls never throw: they return a count, or -errno when nothing at
// all could be done. Set-up calls throw an Error whose `code` is the errno
// name (EPERM, EBUSY, ...), so the daemon can explain what went wrong.

#include <napi.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/filter.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <time.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace {

// Upper bound of one batch; callers use far less (64 is enough, see
// shared/notes/fast-path.md), this only sizes the static scratch arrays.
constexpr uint32_t kMaxBatch = 1024;
// How long a send may wait for socket buffer space before the rest of the
// batch is reported unsent (and counted as dropped by the caller).
constexpr int kSendWaitMs = 10;

struct mmsghdr g_msgs[kMaxBatch];
struct iovec g_iov[kMaxBatch];
struct sockaddr_in g_addr[kMaxBatch];

Napi::Value ThrowErrno(Napi::Env env, const char* what, int err) {
  Napi::Error e = Napi::Error::New(env, std::string(what) + ": " + strerror(err));
  const char* name = strerrorname_np(err);
  e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  e.Set("errno", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

template <typename T>
bool GetTyped(const Napi::Value& v, T** data, size_t* length) {
  if (!v.IsTypedArray()) return false;
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  Napi::ArrayBuffer ab = ta.ArrayBuffer();
  *data = reinterpret_cast<T*>(static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset());
  *length = ta.ElementLength();
  return true;
}

bool GetBuffer(const Napi::Value& v, uint8_t** data, size_t* length) {
  if (!v.IsBuffer()) return false;
  Napi::Buffer<uint8_t> b = v.As<Napi::Buffer<uint8_t>>();
  *data = b.Data();
  *length = b.Length();
  return true;
}

void FillAddr(struct sockaddr_in* sa, uint32_t addr, uint16_t port) {
  memset(sa, 0, sizeof(*sa));
  sa->sin_family = AF_INET;
  sa->sin_addr.s_addr = htonl(addr);
  sa->sin_port = htons(port);
}

// Wait (briefly) until fd is writable; used when a socket or TAP queue is full.
bool WaitWritable(int fd) {
  struct pollfd p = {fd, POLLOUT, 0};
  return poll(&p, 1, kSendWaitMs) > 0;
}

// ---------------------------------------------------------------- checksums
//
// The Internet checksum over large buffers, 32 bits at a time into a 64-bit
// accumulator: the byte-wise loop in JavaScript is fine for headers, not for
// every payload byte of a TSO frame.

uint64_t Sum(const uint8_t* p, size_t len, uint64_t acc) {
  while (len >= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    acc += ntohl(w);
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    acc += (p[0] << 8) | p[1];
    p += 2;
    len -= 2;
  }
  if (len) acc += p[0] << 8;
  return acc;
}

uint16_t Fold(uint64_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(~acc & 0xffff);
}

void PutU16(uint8_t* p, uint16_t v) {
  p[0] = v >> 8;
  p[1] = v & 0xff;
}

uint16_t GetU16(const uint8_t* p) { return (p[0] << 8) | p[1]; }

uint32_t GetU32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3]; }

void PutU32(uint8_t* p, uint32_t v) {
  p[0] = v >> 24;
  p[1] = (v >> 16) & 0xff;
  p[2] = (v >> 8) & 0xff;
  p[3] = v & 0xff;
}

// ---------------------------------------------------------------- set-up

// A socket that only sends would still queue a copy of what it may receive: refuse it all.
bool RefuseAll(int fd) {
  struct sock_filter drop_all = BPF_STMT(BPF_RET | BPF_K, 0);
  struct sock_fprog prog = {1, &drop_all};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) == 0;
}

// Binds fd to addr:port; on failure closes it and throws (returns false).
bool BindOrThrow(Napi::Env env, int fd, uint32_t addr, uint16_t port, const char* what) {
  struct sockaddr_in sa;
  FillAddr(&sa, addr, port);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa)) == 0) return true;
  int err = errno;
  close(fd);
  ThrowErrno(env, what, err);
  return false;
}

// What every tunnel sender sets: outer TTL, DF (set without enforcing a cached path MTU), send buffer.
void ConfigureSender(int fd, int ttl, bool df, int sndbuf) {
  int pmtu = df ? IP_PMTUDISC_PROBE : IP_PMTUDISC_DONT;
  setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
  setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
  if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
}

// tapOpen(name, offload) -> { fd, name, offload }: attach to (or create) TAP
// `name`, no packet info header, non-blocking. A TAP created here is not
// persistent: it disappears when the descriptor is closed. With `offload`, the
// TAP carries a virtio_net_hdr in front of every frame and may hand us TCP
// frames up to 64 KB (TSO) and frames with partial checksums; `offload` in the
// result says whether the kernel accepted that.
Napi::Value TapOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) return ThrowType(env, "tapOpen(name, offload)");
  std::string name = info[0].As<Napi::String>();
  bool offload = info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  if (name.size() >= IFNAMSIZ) return ThrowType(env, "interface name too long");
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, "open /dev/net/tun", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
  strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "TUNSETIFF", err);
  }
  if (offload && ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN) < 0) {
    // The header stays (it is part of the device now), but frames come whole and checksummed.
    ioctl(fd, TUNSETOFFLOAD, 0);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", fd);
  out.Set("name", std::string(ifr.ifr_name));
  return out;
}

// udpOpen(addr, port, rcvbuf) -> fd: the VXLAN receive socket.
// A UDP socket never shows the outer IPv4 header: its TTL (for captures) and
// TOS (for ECN, RFC 6040) come with each datagram as control messages.
void RecvOuterHeader(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof(one));
  setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &one, sizeof(one));
}

Napi::Value UdpOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t addr = info[0].As<Napi::Number>().Uint32Value();
  uint16_t port = info[1].As<Napi::Number>().Uint32Value();
  int rcvbuf = info[2].As<Napi::Number>().Int32Value();
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, "socket(udp)", errno);
  // No SO_REUSEADDR: on UDP it lets a second daemon bind the same port and
  // silently take half of the packets; EADDRINUSE is the honest answer.
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  RecvOuterHeader(fd);
  if (!BindOrThrow(env, fd, addr, port, "bind(udp)")) return env.Undefined();
  return Napi::Number::New(env, fd);
}

// mcastOpen(group, port, ifindex, rcvbuf) -> fd: a VXLAN receive socket for a
// multicast group, joined (IGMP) on one interface. Bound to the group address,
// so it receives that group only; closing it leaves the group. SO_REUSEADDR is
// right here, unlike on a unicast socket: every listener of a group gets a copy.
Napi::Value McastOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t group = info[0].As<Napi::Number>().Uint32Value();
  uint16_t port = info[1].As<Napi::Number>().Uint32Value();
  int ifindex = info[2].As<Napi::Number>().Int32Value();
  int rcvbuf = info[3].As<Napi::Number>().Int32Value();
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, "socket(udp)", errno);
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero));
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  RecvOuterHeader(fd);
  if (!BindOrThrow(env, fd, group, port, "bind(group)")) return env.Undefined();
  struct ip_mreqn mreq;
  memset(&mreq, 0, sizeof(mreq));
  mreq.imr_multiaddr.s_addr = htonl(group);
  mreq.imr_ifindex = ifindex;
  if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "IP_ADD_MEMBERSHIP", err);
  }
  return Napi::Number::New(env, fd);
}

// setMulticast(fd, ifindex, ttl, loop): where and how a sender's multicast
// packets go. With loop off, our own group packets do not come back to us.
Napi::Value SetMulticast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct ip_mreqn mreq;
  memset(&mreq, 0, sizeof(mreq));
  mreq.imr_ifindex = info[1].As<Napi::Number>().Int32Value();
  int ttl = info[2].As<Napi::Number>().Int32Value();
  int loop = info[3].As<Napi::Boolean>().Value() ? 1 : 0;
  if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof(mreq)) < 0) return ThrowErrno(env, "IP_MULTICAST_IF", errno);
  if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) < 0) return ThrowErrno(env, "IP_MULTICAST_TTL", errno);
  if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop)) < 0) return ThrowErrno(env, "IP_MULTICAST_LOOP", errno);
  return env.Undefined();
}

// rawOpen(protocol, addr, ttl, df, receive, sndbuf) -> fd: a raw IPv4 socket
// the kernel puts the IP header on. Used to send UDP with our own source
// port (the flow hash) and, for GRE, protocol 47. A send-only socket gets a
// filter that refuses everything, or it would queue a copy of every packet
// of its protocol reaching the host.
Napi::Value RawOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int proto = info[0].As<Napi::Number>().Int32Value();
  uint32_t addr = info[1].As<Napi::Number>().Uint32Value();
  int ttl = info[2].As<Napi::Number>().Int32Value();
  bool df = info[3].As<Napi::Boolean>().Value();
  bool receive = info[4].As<Napi::Boolean>().Value();
  int sndbuf = info[5].As<Napi::Number>().Int32Value();
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) return ThrowErrno(env, "socket(raw)", errno);
  if (!receive && !RefuseAll(fd)) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "SO_ATTACH_FILTER", err);
  }
  if (addr != 0 && !BindOrThrow(env, fd, addr, 0, "bind(raw)")) return env.Undefined();
  ConfigureSender(fd, ttl, df, sndbuf);
  return Napi::Number::New(env, fd);
}

// udpSenderOpen(addr, port, ttl, df, sndbuf) -> fd: a UDP socket that only
// sends, from addr:port (one "lane" of a VXLAN network's source ports). It
// refuses every packet it would receive, so nothing queues on it.
Napi::Value UdpSenderOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t addr = info[0].As<Napi::Number>().Uint32Value();
  uint16_t port = info[1].As<Napi::Number>().Uint32Value();
  int ttl = info[2].As<Napi::Number>().Int32Value();
  bool df = info[3].As<Napi::Boolean>().Value();
  int sndbuf = info[4].As<Napi::Number>().Int32Value();
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, "socket(udp)", errno);
  RefuseAll(fd);
  if (!BindOrThrow(env, fd, addr, port, "bind(udp sender)")) return env.Undefined();
  ConfigureSender(fd, ttl, df, sndbuf);
  return Napi::Number::New(env, fd);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  return Napi::Number::New(info.Env(), close(fd) < 0 ? -errno : 0);
}

// ethtoolInfo(ifname) -> { driver, txChecksum }: what the offload warning needs.
Napi::Value EthtoolInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>();
  Napi::Object out = Napi::Object::New(env);
  out.Set("driver", env.Null());
  out.Set("txChecksum", env.Null());
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return out;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  struct ethtool_drvinfo drv;
  memset(&drv, 0, sizeof(drv));
  drv.cmd = ETHTOOL_GDRVINFO;
  ifr.ifr_data = reinterpret_cast<char*>(&drv);
  if (ioctl(fd, SIOCETHTOOL, &ifr) == 0) out.Set("driver", std::string(drv.driver));
  struct ethtool_value val = {ETHTOOL_GTXCSUM, 0};
  ifr.ifr_data = reinterpret_cast<char*>(&val);
  if (ioctl(fd, SIOCETHTOOL, &ifr) == 0) out.Set("txChecksum", val.data != 0);
  close(fd);
  return out;
}

// ---------------------------------------------------------------- offloads
//
// tapFrames(in, inSlot, inHeadroom, n, inLen, out, outSlot, outHeadroom, outMax, outLen, stats) -> m
//
// Turns frames read from an offloading TAP (each behind a virtio_net_hdr) into
// plain frames the wire can carry: a TSO frame (TCP over IPv4 or IPv6, up to
// 64 KB) is cut into MSS-sized segments with their own IP length, ID and
// checksum and TCP sequence number, flags and checksum, as the kernel's GSO
// would; a frame whose checksum was left partial (NEEDS_CSUM) gets it
// completed. Output frames land at out[j * outSlot + outHeadroom]. Frames
// that cannot be handled (unknown GSO type, inconsistent headers) are
// dropped and counted in stats[0]; output that did not fit in stats[1].
constexpr size_t kVnetHdrLen = 10;
// From linux/virtio_net.h, which C++ cannot include (a field is named `class`).
constexpr uint8_t VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
constexpr uint8_t VIRTIO_NET_HDR_GSO_NONE = 0;
constexpr uint8_t VIRTIO_NET_HDR_GSO_TCPV4 = 1;
constexpr uint8_t VIRTIO_NET_HDR_GSO_TCPV6 = 4;
constexpr uint8_t VIRTIO_NET_HDR_GSO_ECN = 0x80;

struct VnetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};

// Completes a checksum whose field holds the pseudo-header sum (the kernel's CHECKSUM_PARTIAL).
void CompleteChecksum(uint8_t* frame, size_t len, size_t start, size_t offset) {
  if (start + offset + 2 > len) return;
  PutU16(frame + start + offset, Fold(Sum(frame + start, len - start, 0)));
}

// Where the network header of an Ethernet frame starts, after at most one
// VLAN tag, and its EtherType; 0 for a frame too short to tell.
size_t L3Offset(const uint8_t* f, size_t len, uint16_t* ethertype) {
  if (len < 14) return 0;
  *ethertype = GetU16(f + 12);
  if (*ethertype != 0x8100) return 14;
  if (len < 18) return 0;
  *ethertype = GetU16(f + 16);
  return 18;
}

// Pseudo-header sum for TCP over IPv4 or IPv6 at frame+14.
uint64_t PseudoSum(const uint8_t* ip, bool v6, size_t l4len) {
  if (v6) return Sum(ip + 8, 32, 0) + 6 + l4len;
  return Sum(ip + 12, 8, 0) + 6 + l4len;
}

Napi::Value TapFrames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t *in, *out;
  size_t inLen, outLen, inLenCap, outLenCap, statsCap;
  uint32_t *inLens, *outLens, *stats;
  if (!GetBuffer(info[0], &in, &inLen) || !GetTyped(info[4], &inLens, &inLenCap) || !GetBuffer(info[5], &out, &outLen) ||
      !GetTyped(info[9], &outLens, &outLenCap) || !GetTyped(info[10], &stats, &statsCap) || statsCap < 2)
    return ThrowType(env, "tapFrames(in, inSlot, inHeadroom, n, inLen, out, outSlot, outHeadroom, outMax, outLen, stats)");
  uint32_t inSlot = info[1].As<Napi::Number>().Uint32Value();
  uint32_t inHead = info[2].As<Napi::Number>().Uint32Value();
  uint32_t n = info[3].As<Napi::Number>().Uint32Value();
  uint32_t outSlot = info[6].As<Napi::Number>().Uint32Value();
  uint32_t outHead = info[7].As<Napi::Number>().Uint32Value();
  uint32_t outMax = info[8].As<Napi::Number>().Uint32Value();
  if (n > inLenCap || static_cast<size_t>(n) * inSlot > inLen || outMax > outLenCap ||
      static_cast<size_t>(outMax) * outSlot > outLen || outHead >= outSlot)
    return ThrowType(env, "tapFrames: batches do not fit their arenas");
  const size_t room = outSlot - outHead;
  uint32_t m = 0;
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t* src = in + static_cast<size_t>(i) * inSlot + inHead;
    size_t len = inLens[i];
    if (len < kVnetHdrLen + 14) {
      stats[0]++;
      continue;
    }
    VnetHdr h;
    h.flags = src[0];
    h.gso_type = src[1];
    memcpy(&h.hdr_len, src + 2, 2);  // virtio_net_hdr fields are in host order on a legacy TAP
    memcpy(&h.gso_size, src + 4, 2);
    memcpy(&h.csum_start, src + 6, 2);
    memcpy(&h.csum_offset, src + 8, 2);
    const uint8_t* frame = src + kVnetHdrLen;
    len -= kVnetHdrLen;
    uint8_t gso = h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
    if (gso == VIRTIO_NET_HDR_GSO_NONE) {
      if (m == outMax || len > room) {
        stats[1]++;
        continue;
      }
      uint8_t* dst = out + static_cast<size_t>(m) * outSlot + outHead;
      memcpy(dst, frame, len);
      if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) CompleteChecksum(dst, len, h.csum_start, h.csum_offset);
      outLens[m++] = len;
      continue;
    }
    if (gso != VIRTIO_NET_HDR_GSO_TCPV4 && gso != VIRTIO_NET_HDR_GSO_TCPV6) {
      stats[0]++;
      continue;
    }
    // Headers: Ethernet (maybe one VLAN tag), IPv4 or IPv6 without extension headers, TCP.
    uint16_t ethertype;
    size_t l3 = L3Offset(frame, len, &ethertype);
    bool v6 = gso == VIRTIO_NET_HDR_GSO_TCPV6;
    if (l3 == 0 || (v6 && ethertype != 0x86dd) || (!v6 && ethertype != 0x0800) || len < l3 + (v6 ? 40 : 20) + 20) {
      stats[0]++;
      continue;
    }
    const uint8_t* ip = frame + l3;
    size_t ipHdr = v6 ? 40 : (ip[0] & 0x0f) * 4;
    if ((v6 && ip[6] != 6) || (!v6 && (ip[9] != 6 || ipHdr < 20))) {
      stats[0]++;
      continue;
    }
    size_t l4 = l3 + ipHdr;
    size_t tcpHdr = (frame[l4 + 12] >> 4) * 4;
    size_t hdrs = l4 + tcpHdr;
    size_t mss = h.gso_size;
    if (tcpHdr < 20 || hdrs > len || mss == 0 || hdrs + mss > room) {
      stats[0]++;
      continue;
    }
    size_t payload = len - hdrs;
    uint32_t seq = GetU32(frame + l4 + 4);
    uint16_t ident = v6 ? 0 : GetU16(ip + 4);
    uint8_t flags = frame[l4 + 13];
    for (size_t done = 0; done < payload || (payload == 0 && done == 0); done += mss) {
      if (m == outMax) {
        stats[1]++;
        break;
      }
      size_t chunk = payload - done < mss ? payload - done : mss;
      bool first = done == 0, last = done + chunk >= payload;
      uint8_t* dst = out + static_cast<size_t>(m) * outSlot + outHead;
      memcpy(dst, frame, hdrs);
      memcpy(dst + hdrs, frame + hdrs + done, chunk);
      uint8_t* dip = dst + l3;
      uint8_t* tcp = dst + l4;
      size_t l4len = tcpHdr + chunk;
      if (v6) {
        PutU16(dip + 4, static_cast<uint16_t>(l4len));
      } else {
        PutU16(dip + 2, static_cast<uint16_t>(ipHdr + l4len));
        PutU16(dip + 4, static_cast<uint16_t>(ident + done / mss));
        PutU16(dip + 10, 0);
        PutU16(dip + 10, Fold(Sum(dip, ipHdr, 0)));
      }
      PutU32(tcp + 4, seq + static_cast<uint32_t>(done));
      uint8_t f = flags;
      if (!last) f &= ~(0x01 | 0x08);  // FIN and PSH only on the last segment
      if (!first) f &= ~0x80;           // CWR only on the first
      tcp[13] = f;
      PutU16(tcp + 16, 0);
      PutU16(tcp + 16, Fold(Sum(tcp, l4len, PseudoSum(dip, v6, l4len))));
      outLens[m++] = static_cast<uint32_t>(hdrs + chunk);
      if (payload == 0) break;
    }
  }
  return Napi::Number::New(env, m);
}


// ---------------------------------------------------------------- coalescing
//
// The receive side of TSO: consecutive TCP segments of one flow (over IPv4,
// or IPv6 without extension headers), bound for an offloading TAP, are
// written as one large frame behind a virtio_net_hdr (GSO TCPv4 or TCPv6,
// checksum left partial), so the host's stack handles one packet where there
// were dozens. Merged only when Linux's own GRO would merge them: same
// addresses, ports, TOS or traffic class and flow label, TTL or hop limit,
// ACK, window and TCP options, contiguous sequence numbers, equal sizes (the
// last may be shorter), plain ACK flags (PSH on the last), no IP options or
// fragments, and every segment's IP and TCP checksums verified here first, so
// that a corrupted segment is never hidden inside a merged one.

struct Seg {
  const uint8_t* f;
  const uint8_t* tcp;
  size_t len, ipLen, tcpLen, payload;
  bool v6;
};

// A frame that may join a merge: plain IPv4 without options or IPv6 without
// extension headers, TCP, checksums verified.
bool Mergeable(const uint8_t* f, size_t len, Seg* s) {
  if (len < 14 + 40) return false;
  const uint8_t* ip = f + 14;
  uint16_t ethertype = GetU16(f + 12);
  size_t ipLen, l4;
  bool v6 = ethertype == 0x86dd;
  if (ethertype == 0x0800) {
    if (ip[0] != 0x45 || ip[9] != 6) return false;
    size_t tot = GetU16(ip + 2);
    if (tot + 14 > len || tot < 40 || (GetU16(ip + 6) & 0x3fff) != 0) return false;
    if (Fold(Sum(ip, 20, 0)) != 0) return false;
    ipLen = 20;
    l4 = tot - 20;
  } else if (v6) {
    if ((ip[0] >> 4) != 6 || ip[6] != 6 || len < 14 + 40 + 20) return false;
    l4 = GetU16(ip + 4);
    if (14 + 40 + l4 > len) return false;
    ipLen = 40;
  } else {
    return false;
  }
  const uint8_t* tcp = ip + ipLen;
  size_t tcpLen = (tcp[12] >> 4) * 4;
  if (tcpLen < 20 || tcpLen > l4) return false;
  if (tcp[13] & ~(0x10 | 0x08)) return false;  // only ACK, PSH
  if (Fold(Sum(tcp, l4, PseudoSum(ip, v6, l4))) != 0) return false;
  *s = {f, tcp, 14 + ipLen + l4, ipLen, tcpLen, l4 - tcpLen, v6};
  return s->payload > 0;
}

// Whether b continues a (already known mergeable): same flow and headers, next in sequence.
bool Continues(const Seg& a, const Seg& b, uint32_t nextSeq) {
  const uint8_t* x = a.f + 14;
  const uint8_t* y = b.f + 14;
  if (a.v6 != b.v6 || memcmp(a.f, b.f, 14) != 0) return false;
  if (a.v6) {
    if (memcmp(x, y, 4) != 0 || x[7] != y[7] || memcmp(x + 8, y + 8, 32) != 0) return false;  // class, flow, hops, addresses
  } else if (x[1] != y[1] || x[8] != y[8] || memcmp(x + 12, y + 12, 8) != 0) {
    return false;  // TOS, TTL, addresses
  }
  if (a.tcpLen != b.tcpLen || memcmp(a.tcp, b.tcp, 4) != 0) return false;             // ports
  if (GetU32(b.tcp + 4) != nextSeq) return false;
  if (memcmp(a.tcp + 8, b.tcp + 8, 4) != 0 || memcmp(a.tcp + 14, b.tcp + 14, 2) != 0) return false;  // ACK, window
  if (memcmp(a.tcp + 20, b.tcp + 20, a.tcpLen - 20) != 0) return false;                 // options
  return true;
}

struct iovec g_wv[70];
uint8_t g_hdr[10 + 14 + 60 + 60];

// Writes frames[i..j) merged; returns true if the kernel took it.
bool WriteMerged(int fd, const Seg* segs, uint32_t count) {
  const Seg& a = segs[0];
  size_t hdrs = 14 + a.ipLen + a.tcpLen;
  size_t total = 0;
  for (uint32_t k = 0; k < count; k++) total += segs[k].payload;
  uint8_t* h = g_hdr;
  memset(h, 0, 10);
  h[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  h[1] = a.v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
  uint16_t v;
  v = static_cast<uint16_t>(hdrs); memcpy(h + 2, &v, 2);          // hdr_len
  v = static_cast<uint16_t>(a.payload); memcpy(h + 4, &v, 2);     // gso_size
  v = static_cast<uint16_t>(14 + a.ipLen); memcpy(h + 6, &v, 2);  // csum_start
  v = 16; memcpy(h + 8, &v, 2);                                   // csum_offset
  uint8_t* f = h + 10;
  memcpy(f, a.f, hdrs);
  uint8_t* ip = f + 14;
  uint8_t* tcp = ip + a.ipLen;
  size_t l4 = a.tcpLen + total;
  if (a.v6) {
    PutU16(ip + 4, static_cast<uint16_t>(l4));
  } else {
    PutU16(ip + 2, static_cast<uint16_t>(20 + l4));
    PutU16(ip + 10, 0);
    PutU16(ip + 10, Fold(Sum(ip, 20, 0)));
  }
  tcp[13] |= segs[count - 1].tcp[13] & 0x08;  // PSH of the last
  PutU16(tcp + 16, static_cast<uint16_t>(~Fold(PseudoSum(ip, a.v6, l4)) & 0xffff));  // partial: pseudo-header only
  g_wv[0].iov_base = h;
  g_wv[0].iov_len = 10 + hdrs;
  for (uint32_t k = 0; k < count; k++) {
    g_wv[k + 1].iov_base = const_cast<uint8_t*>(segs[k].f + hdrs);
    g_wv[k + 1].iov_len = segs[k].payload;
  }
  ssize_t w = writev(fd, g_wv, count + 1);
  if (w < 0 && errno == EAGAIN && WaitWritable(fd)) w = writev(fd, g_wv, count + 1);
  return w >= 0;
}

// Whether a frame's TCP or UDP checksum (IPv4, or IPv6 without extension
// headers) is a partial one: the field holds only the pseudo-header sum, as a
// stack leaves it for a NIC that offloads checksums. A kernel VTEP behind a
// veth with TX checksum offload on sends such frames into its tunnel
// (shared/notes/lab.md), and every receiving stack drops them: ping works, TCP
// does not. Only a field equal to that sum is summed in full, so good traffic
// costs a comparison.
bool PartialChecksum(const uint8_t* f, size_t len) {
  uint16_t ethertype;
  size_t l3 = L3Offset(f, len, &ethertype);
  if (l3 == 0) return false;
  const uint8_t* ip = f + l3;
  size_t ipHdr, l4;
  uint8_t proto;
  uint64_t pseudo;
  if (ethertype == 0x0800 && len >= l3 + 20) {
    ipHdr = (ip[0] & 0x0f) * 4;
    size_t tot = GetU16(ip + 2);
    if ((ip[0] >> 4) != 4 || ipHdr < 20 || tot < ipHdr || l3 + tot > len || (GetU16(ip + 6) & 0x3fff) != 0) return false;
    proto = ip[9];
    l4 = tot - ipHdr;
    pseudo = Sum(ip + 12, 8, 0);
  } else if (ethertype == 0x86dd && len >= l3 + 40) {
    ipHdr = 40;
    l4 = GetU16(ip + 4);
    if ((ip[0] >> 4) != 6 || l3 + 40 + l4 > len) return false;
    proto = ip[6];
    pseudo = Sum(ip + 8, 32, 0);
  } else {
    return false;
  }
  size_t field = proto == 6 ? 16 : proto == 17 ? 6 : 0;
  if (field == 0 || l4 < field + 2) return false;
  pseudo += proto + l4;
  uint16_t check = GetU16(ip + ipHdr + field);
  if (check == 0 || check != static_cast<uint16_t>(~Fold(pseudo))) return false;  // UDP over IPv4 0: no checksum
  return Fold(Sum(ip + ipHdr, l4, pseudo)) != 0;
}

// ---------------------------------------------------------------- data path

// readFrames(fd, arena, slotSize, headroom, max, len) -> n | -errno
Napi::Value ReadFrames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint8_t* arena;
  size_t arenaLen, lenCap;
  uint32_t* lens;
  if (!GetBuffer(info[1], &arena, &arenaLen) || !GetTyped(info[5], &lens, &lenCap))
    return ThrowType(env, "readFrames(fd, arena, slotSize, headroom, max, len)");
  uint32_t slot = info[2].As<Napi::Number>().Uint32Value();
  uint32_t headroom = info[3].As<Napi::Number>().Uint32Value();
  uint32_t max = info[4].As<Napi::Number>().Uint32Value();
  if (max > lenCap) max = lenCap;
  if (slot == 0 || headroom >= slot || static_cast<size_t>(max) * slot > arenaLen)
    return ThrowType(env, "readFrames: batch does not fit the arena");
  uint32_t n = 0;
  for (; n < max; n++) {
    ssize_t r = read(fd, arena + n * slot + headroom, slot - headroom);
    if (r < 0) {
      if (n == 0 && errno != EAGAIN && errno != EINTR) return Napi::Number::New(env, -errno);
      break;
    }
    lens[n] = static_cast<uint32_t>(r);
  }
  return Napi::Number::New(env, n);
}

// writeFrames(fd, arena, off, len, n, vnetHdrLen, coalesce) -> frames written;
// len[i] = 0 for each frame not written. With vnetHdrLen > 0 (an offloading
// TAP), a zeroed virtio_net_hdr is put in the vnetHdrLen bytes before each
// frame (a plain frame, checksums complete); those bytes must be free
// (headroom). With `coalesce` too, runs of TCP segments of one flow are
// merged into one frame (see WriteMerged); a merged frame counts as all the
// frames it holds. With `partial` (a Uint32Array of 2), frames whose TCP or
// UDP checksum is partial (see PartialChecksum) are not written: partial[0]
// counts them, partial[1] is one more than the index of the last.
Napi::Value WriteFrames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint8_t* arena;
  size_t arenaLen, offCap, lenCap;
  uint32_t *offs, *lens;
  if (!GetBuffer(info[1], &arena, &arenaLen) || !GetTyped(info[2], &offs, &offCap) ||
      !GetTyped(info[3], &lens, &lenCap))
    return ThrowType(env, "writeFrames(fd, arena, off, len, n, vnetHdrLen, coalesce, partial)");
  uint32_t* partial = nullptr;
  size_t partialCap = 0;
  if (info.Length() > 7 && !info[7].IsUndefined() && (!GetTyped(info[7], &partial, &partialCap) || partialCap < 2))
    return ThrowType(env, "writeFrames: partial must be a Uint32Array of 2");
  uint32_t n = info[4].As<Napi::Number>().Uint32Value();
  uint32_t vnet = info[5].IsNumber() ? info[5].As<Napi::Number>().Uint32Value() : 0;
  bool coalesce = vnet == kVnetHdrLen && info[6].IsBoolean() && info[6].As<Napi::Boolean>().Value();
  if (n > offCap || n > lenCap) return ThrowType(env, "writeFrames: n exceeds the arrays");
  uint32_t done = 0;
  bool waited = false;
  Seg segs[64];
  for (uint32_t i = 0; i < n; i++) {
    if (offs[i] < vnet || static_cast<size_t>(offs[i]) + lens[i] > arenaLen) {
      lens[i] = 0;
      continue;
    }
    if (coalesce && Mergeable(arena + offs[i], lens[i], &segs[0])) {
      uint32_t count = 1;
      uint32_t next = GetU32(segs[0].tcp + 4) + static_cast<uint32_t>(segs[0].payload);
      size_t total = segs[0].len;
      // Extend while the next frame continues the flow; the last may be shorter or carry PSH.
      while (i + count < n && count < 64 && !(segs[count - 1].tcp[13] & 0x08) && segs[count - 1].payload == segs[0].payload) {
        uint32_t j = i + count;
        if (static_cast<size_t>(offs[j]) + lens[j] > arenaLen || !Mergeable(arena + offs[j], lens[j], &segs[count])) break;
        if (!Continues(segs[0], segs[count], next) || segs[count].payload > segs[0].payload) break;
        if (total + segs[count].payload > 65000) break;
        total += segs[count].payload;
        next += static_cast<uint32_t>(segs[count].payload);
        count++;
      }
      if (count > 1) {
        if (WriteMerged(fd, segs, count)) {
          done += count;
        } else {
          for (uint32_t k = 0; k < count; k++) lens[i + k] = 0;
        }
        i += count - 1;
        continue;
      }
    }
    if (partial != nullptr && PartialChecksum(arena + offs[i], lens[i])) {
      partial[0]++;
      partial[1] = i + 1;
      lens[i] = 0;
      continue;
    }
    uint8_t* p = arena + offs[i] - vnet;
    size_t len = lens[i] + vnet;
    if (vnet) memset(p, 0, vnet);
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EAGAIN && !waited) {
      waited = true;
      if (WaitWritable(fd)) w = write(fd, p, len);
    }
    if (w >= 0)
      done++;
    else
      lens[i] = 0;  // tells the caller which frames were not written, for exact counters
  }
  return Napi::Number::New(env, done);
}

// recvDatagrams(fd, arena, slotSize, headroom, max, len, addr, port, gro, ttl, tos) -> n | -errno
// ttl and tos: each datagram's outer TTL and TOS (0 where the kernel gave none).
// A datagram larger than its slot is reported with len = capacity + 1.
//
// On a socket with UDP_GRO (udpGroEnable), the kernel may hand over several
// datagrams of one flow merged into one: they are cut apart again here, one
// slot each, so what the caller sees is always one datagram a slot. Fewer
// messages are read then, so that 64 datagrams per merged one still fit.
constexpr size_t kGroArea = 16 * 65536;
constexpr uint32_t kGroMaxMessages = 16;
uint8_t g_gro_area[kGroArea];
constexpr size_t kRecvControl = CMSG_SPACE(sizeof(int)) * 3;  // UDP_GRO, IP_TTL, IP_TOS
alignas(struct cmsghdr) char g_recv_control[kMaxBatch][kRecvControl];

// The UDP_GRO, IP_TTL and IP_TOS control messages of a received datagram
// (ttl and tos 0 when absent, as on a raw socket, whose header is in the data).
void ReadControl(struct msghdr* h, size_t* seg, uint8_t* ttl, uint8_t* tos) {
  *ttl = *tos = 0;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(h); c != nullptr; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS && c->cmsg_len >= CMSG_LEN(1)) {
      *tos = *CMSG_DATA(c);  // one byte, unlike the others
      continue;
    }
    int v;
    if (c->cmsg_len < CMSG_LEN(sizeof(v))) continue;
    memcpy(&v, CMSG_DATA(c), sizeof(v));
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) *ttl = static_cast<uint8_t>(v);
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && v > 0) *seg = static_cast<size_t>(v);
  }
}

Napi::Value RecvDatagrams(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint8_t* arena;
  size_t arenaLen, lenCap, addrCap, portCap;
  uint32_t *lens, *addrs;
  uint16_t* ports;
  if (!GetBuffer(info[1], &arena, &arenaLen) || !GetTyped(info[5], &lens, &lenCap) ||
      !GetTyped(info[6], &addrs, &addrCap) || !GetTyped(info[7], &ports, &portCap))
    return ThrowType(env, "recvDatagrams(fd, arena, slotSize, headroom, max, len, addr, port, gro, ttl, tos)");
  uint32_t slot = info[2].As<Napi::Number>().Uint32Value();
  uint32_t headroom = info[3].As<Napi::Number>().Uint32Value();
  uint32_t max = info[4].As<Napi::Number>().Uint32Value();
  bool gro = info[8].IsBoolean() && info[8].As<Napi::Boolean>().Value();
  uint8_t *ttls, *toss;
  size_t ttlCap, tosCap;
  if (!GetTyped(info[9], &ttls, &ttlCap) || !GetTyped(info[10], &toss, &tosCap))
    return ThrowType(env, "recvDatagrams: ttl and tos must be Uint8Arrays");
  if (max > lenCap || max > addrCap || max > portCap || max > ttlCap || max > tosCap)
    return ThrowType(env, "recvDatagrams: arrays too short");
  if (slot == 0 || headroom >= slot || static_cast<size_t>(max) * slot > arenaLen)
    return ThrowType(env, "recvDatagrams: batch does not fit the arena");
  uint32_t cap = slot - headroom;
  if (!gro) {
    if (max > kMaxBatch) max = kMaxBatch;
    for (uint32_t i = 0; i < max; i++) {
      g_iov[i].iov_base = arena + i * slot + headroom;
      g_iov[i].iov_len = cap;
      memset(&g_msgs[i].msg_hdr, 0, sizeof(g_msgs[i].msg_hdr));
      g_msgs[i].msg_hdr.msg_iov = &g_iov[i];
      g_msgs[i].msg_hdr.msg_iovlen = 1;
      g_msgs[i].msg_hdr.msg_name = &g_addr[i];
      g_msgs[i].msg_hdr.msg_namelen = sizeof(g_addr[i]);
      g_msgs[i].msg_hdr.msg_control = g_recv_control[i];
      g_msgs[i].msg_hdr.msg_controllen = kRecvControl;
    }
    int n = recvmmsg(fd, g_msgs, max, MSG_DONTWAIT, nullptr);
    if (n < 0) return Napi::Number::New(env, (errno == EAGAIN || errno == EINTR) ? 0 : -errno);
    for (int i = 0; i < n; i++) {
      size_t unused = 0;
      ReadControl(&g_msgs[i].msg_hdr, &unused, &ttls[i], &toss[i]);
      lens[i] = (g_msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? cap + 1 : g_msgs[i].msg_len;
      addrs[i] = ntohl(g_addr[i].sin_addr.s_addr);
      ports[i] = ntohs(g_addr[i].sin_port);
    }
    return Napi::Number::New(env, n);
  }
  uint32_t msgs = max / 64;
  if (msgs > kGroMaxMessages) msgs = kGroMaxMessages;
  if (msgs == 0) msgs = 1;
  for (uint32_t i = 0; i < msgs; i++) {
    g_iov[i].iov_base = g_gro_area + i * 65536;
    g_iov[i].iov_len = 65536;
    memset(&g_msgs[i].msg_hdr, 0, sizeof(g_msgs[i].msg_hdr));
    g_msgs[i].msg_hdr.msg_iov = &g_iov[i];
    g_msgs[i].msg_hdr.msg_iovlen = 1;
    g_msgs[i].msg_hdr.msg_name = &g_addr[i];
    g_msgs[i].msg_hdr.msg_namelen = sizeof(g_addr[i]);
    g_msgs[i].msg_hdr.msg_control = g_recv_control[i];
    g_msgs[i].msg_hdr.msg_controllen = kRecvControl;
  }
  int n = recvmmsg(fd, g_msgs, msgs, MSG_DONTWAIT, nullptr);
  if (n < 0) return Napi::Number::New(env, (errno == EAGAIN || errno == EINTR) ? 0 : -errno);
  uint32_t out = 0;
  for (int i = 0; i < n && out < max; i++) {
    size_t total = g_msgs[i].msg_len;
    size_t seg = total;
    uint8_t ttl, tos;
    ReadControl(&g_msgs[i].msg_hdr, &seg, &ttl, &tos);
    const uint8_t* p = g_gro_area + i * 65536;
    for (size_t done = 0; done < total && out < max; done += seg) {
      size_t len = total - done < seg ? total - done : seg;
      if (len <= cap) memcpy(arena + out * slot + headroom, p + done, len);
      lens[out] = len <= cap ? len : cap + 1;
      addrs[out] = ntohl(g_addr[i].sin_addr.s_addr);
      ports[out] = ntohs(g_addr[i].sin_port);
      ttls[out] = ttl;
      toss[out] = tos;
      out++;
    }
  }
  return Napi::Number::New(env, out);
}

// udpGroEnable(fd) -> bool: ask the kernel to merge datagrams of one flow (UDP_GRO).
Napi::Value UdpGroEnable(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int one = 1;
  return Napi::Boolean::New(info.Env(), setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0);
}

// Appends an IP_TOS control message (the outer TOS; its ECN bits follow the
// inner packet's, RFC 6040) after the `used` bytes of control already in h.
void AddTos(struct msghdr* h, char* control, size_t used, uint8_t tos) {
  struct cmsghdr* c = reinterpret_cast<struct cmsghdr*>(control + used);
  c->cmsg_level = IPPROTO_IP;
  c->cmsg_type = IP_TOS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  int v = tos;
  memcpy(CMSG_DATA(c), &v, sizeof(v));
  h->msg_control = control;
  h->msg_controllen = used + CMSG_SPACE(sizeof(int));
}

alignas(struct cmsghdr) char g_send_control[kMaxBatch][CMSG_SPACE(sizeof(int))];

// sendDatagrams(fd, arena, off, len, addr, port, tos, n) -> datagrams sent
// A datagram the kernel refuses (no route, too big) is skipped, not retried.
Napi::Value SendDatagrams(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint8_t* arena;
  uint8_t* toss;
  size_t arenaLen, offCap, lenCap, addrCap, portCap, tosCap;
  uint32_t *offs, *lens, *addrs;
  uint16_t* ports;
  if (!GetBuffer(info[1], &arena, &arenaLen) || !GetTyped(info[2], &offs, &offCap) ||
      !GetTyped(info[3], &lens, &lenCap) || !GetTyped(info[4], &addrs, &addrCap) ||
      !GetTyped(info[5], &ports, &portCap) || !GetTyped(info[6], &toss, &tosCap))
    return ThrowType(env, "sendDatagrams(fd, arena, off, len, addr, port, tos, n)");
  uint32_t n = info[7].As<Napi::Number>().Uint32Value();
  if (n > offCap || n > lenCap || n > addrCap || n > portCap || n > tosCap) return ThrowType(env, "sendDatagrams: n exceeds the arrays");
  uint32_t sent = 0, next = 0;
  bool waited = false;
  while (next < n) {
    uint32_t count = 0;
    for (uint32_t i = next; i < n && count < kMaxBatch; i++, count++) {
      uint32_t off = offs[i], len = lens[i];
      if (static_cast<size_t>(off) + len > arenaLen) len = 0;
      g_iov[count].iov_base = arena + off;
      g_iov[count].iov_len = len;
      FillAddr(&g_addr[count], addrs[i], ports[i]);
      memset(&g_msgs[count].msg_hdr, 0, sizeof(g_msgs[count].msg_hdr));
      g_msgs[count].msg_hdr.msg_iov = &g_iov[count];
      g_msgs[count].msg_hdr.msg_iovlen = 1;
      g_msgs[count].msg_hdr.msg_name = &g_addr[count];
      g_msgs[count].msg_hdr.msg_namelen = sizeof(g_addr[count]);
      if (toss[i] != 0) AddTos(&g_msgs[count].msg_hdr, g_send_control[count], 0, toss[i]);
    }
    int r = sendmmsg(fd, g_msgs, count, MSG_DONTWAIT);
    if (r > 0) {
      sent += r;
      next += r;
      continue;
    }
    if (r < 0 && errno == EAGAIN && !waited) {
      waited = true;
      if (WaitWritable(fd)) continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == ENOBUFS)) break;  // queue full: the rest is dropped
    next++;  // this one datagram was refused; go on with the others
  }
  return Napi::Number::New(env, sent);
}



// sendLanes(fds, arena, off, len, addr, port, lane, tos, n) -> datagrams sent
//
// Sends queued datagrams on UDP sockets: entry i goes out of fds[lane[i]] to
// addr[i]:port[i] with outer TOS tos[i]. A run of entries with the same socket,
// destination and TOS and the same length (the last may be shorter) becomes
// one UDP_SEGMENT send: the
// kernel carries it as one GSO packet and cuts it into datagrams as late as it
// can, which is what makes bulk TCP through a userspace VTEP fast. Runs on one
// socket go out together in one sendmmsg.
constexpr uint32_t kMaxGsoSegments = 64;
constexpr size_t kMaxGsoBytes = 65000;

struct GsoMsg {
  struct msghdr hdr;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(uint16_t)) + CMSG_SPACE(sizeof(int))];
};
GsoMsg g_gso[kMaxBatch];
struct iovec g_gso_iov[kMaxBatch * 4];
struct mmsghdr g_gso_mm[kMaxBatch];

Napi::Value SendLanes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t* fds;
  uint8_t *arena, *lanes, *toss;
  size_t fdCap, arenaLen, offCap, lenCap, addrCap, portCap, laneCap, tosCap;
  uint32_t *offs, *lens, *addrs;
  uint16_t* ports;
  if (!GetTyped(info[0], &fds, &fdCap) || !GetBuffer(info[1], &arena, &arenaLen) || !GetTyped(info[2], &offs, &offCap) ||
      !GetTyped(info[3], &lens, &lenCap) || !GetTyped(info[4], &addrs, &addrCap) || !GetTyped(info[5], &ports, &portCap) ||
      !GetTyped(info[6], &lanes, &laneCap) || !GetTyped(info[7], &toss, &tosCap))
    return ThrowType(env, "sendLanes(fds, arena, off, len, addr, port, lane, tos, n)");
  uint32_t n = info[8].As<Napi::Number>().Uint32Value();
  if (n > offCap || n > lenCap || n > addrCap || n > portCap || n > laneCap || n > tosCap)
    return ThrowType(env, "sendLanes: n exceeds the arrays");
  uint32_t sent = 0, i = 0;
  while (i < n) {
    // Build up to kMaxBatch messages that all go out of one socket.
    uint8_t lane = lanes[i];
    if (lane >= fdCap) {
      i++;
      continue;
    }
    uint32_t msgs = 0, iovs = 0, first = i;
    uint32_t datagrams[kMaxBatch];
    while (i < n && lanes[i] == lane && msgs < kMaxBatch && iovs < kMaxBatch * 4 - kMaxGsoSegments) {
      uint32_t seg = lens[i], count = 0;
      size_t total = 0;
      struct iovec* iov = &g_gso_iov[iovs];
      // A run: same lane, destination and TOS, equal lengths, the last one may be shorter.
      while (i < n && lanes[i] == lane && addrs[i] == addrs[first] && ports[i] == ports[first] && toss[i] == toss[first] &&
             count < kMaxGsoSegments &&
             total + lens[i] <= kMaxGsoBytes && lens[i] <= seg && static_cast<size_t>(offs[i]) + lens[i] <= arenaLen) {
        iov[count].iov_base = arena + offs[i];
        iov[count].iov_len = lens[i];
        total += lens[i];
        count++;
        bool shorter = lens[i] < seg;
        i++;
        if (shorter) break;
      }
      if (count == 0) {  // an entry outside the arena: skip it
        i++;
        first = i;
        continue;
      }
      GsoMsg& m = g_gso[msgs];
      memset(&m.hdr, 0, sizeof(m.hdr));
      FillAddr(&g_addr[msgs], addrs[first], ports[first]);
      m.hdr.msg_name = &g_addr[msgs];
      m.hdr.msg_namelen = sizeof(g_addr[msgs]);
      m.hdr.msg_iov = iov;
      m.hdr.msg_iovlen = count;
      size_t used = 0;
      if (count > 1) {
        m.hdr.msg_control = m.control;
        m.hdr.msg_controllen = used = CMSG_SPACE(sizeof(uint16_t));
        struct cmsghdr* c = CMSG_FIRSTHDR(&m.hdr);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t gso = static_cast<uint16_t>(seg);
        memcpy(CMSG_DATA(c), &gso, sizeof(gso));
      }
      if (toss[first] != 0) AddTos(&m.hdr, m.control, used, toss[first]);
      g_gso_mm[msgs].msg_hdr = m.hdr;
      datagrams[msgs] = count;
      iovs += count;
      msgs++;
      first = i;
    }
    uint32_t done = 0;
    bool waited = false;
    while (done < msgs) {
      int r = sendmmsg(fds[lane], g_gso_mm + done, msgs - done, MSG_DONTWAIT);
      if (r > 0) {
        for (int k = 0; k < r; k++) sent += datagrams[done + k];
        done += r;
        continue;
      }
      if (r < 0 && errno == EAGAIN && !waited) {
        waited = true;
        if (WaitWritable(fds[lane])) continue;
      }
      if (r < 0 && (errno == EAGAIN || errno == ENOBUFS)) break;
      done++;  // refused (no route, too big): skip this message
    }
  }
  return Napi::Number::New(env, sent);
}


// spinPoll(fds, usec) -> index of a readable descriptor, or -1 after `usec`
// microseconds with none. Busy polling: it keeps the CPU, but saves the
// wake-up from epoll (tens of microseconds on a VM) for a packet that arrives
// soon after the last, such as the reply to one just forwarded.
constexpr size_t kMaxSpinFds = 64;

Napi::Value SpinPoll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t* fds;
  size_t n;
  if (!GetTyped(info[0], &fds, &n)) return ThrowType(env, "spinPoll(fds, usec)");
  if (n > kMaxSpinFds) n = kMaxSpinFds;
  int64_t usec = info[1].As<Napi::Number>().Int64Value();
  struct pollfd p[kMaxSpinFds];
  for (size_t i = 0; i < n; i++) p[i] = {fds[i], POLLIN, 0};
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  int64_t deadline = t.tv_sec * 1000000LL + t.tv_nsec / 1000 + usec;
  for (;;) {
    if (poll(p, n, 0) > 0) {
      for (size_t i = 0; i < n; i++)
        if (p[i].revents & POLLIN) return Napi::Number::New(env, static_cast<double>(i));
    }
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (t.tv_sec * 1000000LL + t.tv_nsec / 1000 >= deadline) return Napi::Number::New(env, -1);
  }
}

// ---------------------------------------------------------------- readiness

// new Watcher(fd, callback): calls callback() whenever fd is readable.
// Level-triggered, so a callback that leaves data unread is called again.
class Watcher : public Napi::ObjectWrap<Watcher> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Watcher",
                       {InstanceMethod("start", &Watcher::Start), InstanceMethod("stop", &Watcher::Stop),
                        InstanceMethod("close", &Watcher::CloseHandle)});
  }

  explicit Watcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Watcher>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber() || !info[1].IsFunction()) {
      ThrowType(env, "new Watcher(fd, callback)");
      return;
    }
    fd_ = info[0].As<Napi::Number>().Int32Value();
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    context_ = std::make_unique<Napi::AsyncContext>(env, "vtep:watcher");
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    handle_ = new uv_poll_t;
    int err = uv_poll_init(loop, handle_, fd_);
    if (err != 0) {
      delete handle_;
      handle_ = nullptr;
      ThrowErrno(env, "uv_poll_init", -err);
      return;
    }
    handle_->data = this;
  }

  ~Watcher() override { Release(); }

 private:
  static void OnReadable(uv_poll_t* handle, int status, int events) {
    Watcher* self = static_cast<Watcher*>(handle->data);
    if (self == nullptr || !self->active_) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    self->callback_.MakeCallback(self->Value(), {Napi::Number::New(env, status)}, *self->context_);
    if (env.IsExceptionPending()) {
      Napi::Error e = env.GetAndClearPendingException();
      napi_fatal_exception(env, e.Value());
    }
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr && !active_) {
      int err = uv_poll_start(handle_, UV_READABLE, OnReadable);
      if (err != 0) return ThrowErrno(info.Env(), "uv_poll_start", -err);
      active_ = true;
      Ref();  // an active watcher must outlive its last JavaScript reference
    }
    return info.Env().Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopPolling();
    return info.Env().Undefined();
  }

  Napi::Value CloseHandle(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  void StopPolling() {
    if (handle_ != nullptr && active_) {
      uv_poll_stop(handle_);
      active_ = false;
      Unref();
    }
  }

  void Release() {
    StopPolling();
    if (handle_ != nullptr) {
      handle_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      handle_ = nullptr;
    }
  }

  int fd_ = -1;
  bool active_ = false;
  uv_poll_t* handle_ = nullptr;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("tapOpen", Napi::Function::New(env, TapOpen));
  exports.Set("udpOpen", Napi::Function::New(env, UdpOpen));
  exports.Set("rawOpen", Napi::Function::New(env, RawOpen));
  exports.Set("mcastOpen", Napi::Function::New(env, McastOpen));
  exports.Set("udpSenderOpen", Napi::Function::New(env, UdpSenderOpen));
  exports.Set("udpGroEnable", Napi::Function::New(env, UdpGroEnable));
  exports.Set("sendLanes", Napi::Function::New(env, SendLanes));
  exports.Set("setMulticast", Napi::Function::New(env, SetMulticast));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("ethtoolInfo", Napi::Function::New(env, EthtoolInfo));
  exports.Set("readFrames", Napi::Function::New(env, ReadFrames));
  exports.Set("writeFrames", Napi::Function::New(env, WriteFrames));
  exports.Set("recvDatagrams", Napi::Function::New(env, RecvDatagrams));
  exports.Set("sendDatagrams", Napi::Function::New(env, SendDatagrams));
  exports.Set("tapFrames", Napi::Function::New(env, TapFrames));
  exports.Set("spinPoll", Napi::Function::New(env, SpinPoll));
  exports.Set("vnetHdrLen", Napi::Number::New(env, kVnetHdrLen));
  exports.Set("Watcher", Watcher::Init(env));
  exports.Set("maxBatch", Napi::Number::New(env, kMaxBatch));
  return exports;
}

}  // namespace

NODE_API_MODULE(vtep_native, Init)
