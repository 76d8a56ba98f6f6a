// vtep_native: the system calls of the data path, and nothing else.
//
// The addon opens TAP devices and sockets, moves batches of packets between
// them and caller-owned memory, and tells JavaScript when a descriptor is
// readable. It makes no decisions: every frame is parsed, learned and
// forwarded in TypeScript. Each exported data-path call handles a whole batch
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
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
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

// ---------------------------------------------------------------- set-up

// tapOpen(name) -> { fd, name }: attach to (or create) TAP `name`, no packet
// info header, non-blocking. A TAP created here is not persistent: it
// disappears when the descriptor is closed.
Napi::Value TapOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) return ThrowType(env, "tapOpen(name)");
  std::string name = info[0].As<Napi::String>();
  if (name.size() >= IFNAMSIZ) return ThrowType(env, "interface name too long");
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, "open /dev/net/tun", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "TUNSETIFF", err);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", fd);
  out.Set("name", std::string(ifr.ifr_name));
  return out;
}

// udpOpen(addr, port, rcvbuf) -> fd: the VXLAN receive socket.
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
  struct sockaddr_in sa;
  FillAddr(&sa, addr, port);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa)) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "bind(udp)", err);
  }
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
  struct sockaddr_in sa;
  FillAddr(&sa, group, port);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa)) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "bind(group)", err);
  }
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
  if (!receive) {
    struct sock_filter drop_all = BPF_STMT(BPF_RET | BPF_K, 0);
    struct sock_fprog prog = {1, &drop_all};
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0) {
      int err = errno;
      close(fd);
      return ThrowErrno(env, "SO_ATTACH_FILTER", err);
    }
  }
  if (addr != 0) {
    struct sockaddr_in sa;
    FillAddr(&sa, addr, 0);
    if (bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa)) < 0) {
      int err = errno;
      close(fd);
      return ThrowErrno(env, "bind(raw)", err);
    }
  }
  int pmtu = df ? IP_PMTUDISC_PROBE : IP_PMTUDISC_DONT;
  setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
  setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
  if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
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

// writeFrames(fd, arena, off, len, n) -> frames written; len[i] = 0 for each frame not written
Napi::Value WriteFrames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint8_t* arena;
  size_t arenaLen, offCap, lenCap;
  uint32_t *offs, *lens;
  if (!GetBuffer(info[1], &arena, &arenaLen) || !GetTyped(info[2], &offs, &offCap) ||
      !GetTyped(info[3], &lens, &lenCap))
    return ThrowType(env, "writeFrames(fd, arena, off, len, n)");
  uint32_t n = info[4].As<Napi::Number>().Uint32Value();
  if (n > offCap || n > lenCap) return ThrowType(env, "writeFrames: n exceeds the arrays");
  uint32_t done = 0;
  bool waited = false;
  for (uint32_t i = 0; i < n; i++) {
    if (static_cast<size_t>(offs[i]) + lens[i] > arenaLen) {
      lens[i] = 0;
      continue;
    }
    ssize_t w = write(fd, arena + offs[i], lens[i]);
    if (w < 0 && errno == EAGAIN && !waited) {
      waited = true;
      if (WaitWritable(fd)) w = write(fd, arena + offs[i], lens[i]);
    }
    if (w >= 0)
      done++;
    else
      lens[i] = 0;  // tells the caller which frames were not written, for exact counters
  }
  return Napi::Number::New(env, done);
}

// recvDatagrams(fd, arena, slotSize, headroom, max, len, addr, port) -> n | -errno
// A datagram larger than its slot is reported with len = capacity + 1.
Napi::Value RecvDatagrams(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint8_t* arena;
  size_t arenaLen, lenCap, addrCap, portCap;
  uint32_t *lens, *addrs;
  uint16_t* ports;
  if (!GetBuffer(info[1], &arena, &arenaLen) || !GetTyped(info[5], &lens, &lenCap) ||
      !GetTyped(info[6], &addrs, &addrCap) || !GetTyped(info[7], &ports, &portCap))
    return ThrowType(env, "recvDatagrams(fd, arena, slotSize, headroom, max, len, addr, port)");
  uint32_t slot = info[2].As<Napi::Number>().Uint32Value();
  uint32_t headroom = info[3].As<Napi::Number>().Uint32Value();
  uint32_t max = info[4].As<Napi::Number>().Uint32Value();
  if (max > kMaxBatch) max = kMaxBatch;
  if (max > lenCap || max > addrCap || max > portCap) return ThrowType(env, "recvDatagrams: arrays too short");
  if (slot == 0 || headroom >= slot || static_cast<size_t>(max) * slot > arenaLen)
    return ThrowType(env, "recvDatagrams: batch does not fit the arena");
  uint32_t cap = slot - headroom;
  for (uint32_t i = 0; i < max; i++) {
    g_iov[i].iov_base = arena + i * slot + headroom;
    g_iov[i].iov_len = cap;
    memset(&g_msgs[i].msg_hdr, 0, sizeof(g_msgs[i].msg_hdr));
    g_msgs[i].msg_hdr.msg_iov = &g_iov[i];
    g_msgs[i].msg_hdr.msg_iovlen = 1;
    g_msgs[i].msg_hdr.msg_name = &g_addr[i];
    g_msgs[i].msg_hdr.msg_namelen = sizeof(g_addr[i]);
  }
  int n = recvmmsg(fd, g_msgs, max, MSG_DONTWAIT, nullptr);
  if (n < 0) return Napi::Number::New(env, (errno == EAGAIN || errno == EINTR) ? 0 : -errno);
  for (int i = 0; i < n; i++) {
    lens[i] = (g_msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? cap + 1 : g_msgs[i].msg_len;
    addrs[i] = ntohl(g_addr[i].sin_addr.s_addr);
    ports[i] = ntohs(g_addr[i].sin_port);
  }
  return Napi::Number::New(env, n);
}

// sendDatagrams(fd, arena, off, len, addr, port, n) -> datagrams sent
// A datagram the kernel refuses (no route, too big) is skipped, not retried.
Napi::Value SendDatagrams(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint8_t* arena;
  size_t arenaLen, offCap, lenCap, addrCap, portCap;
  uint32_t *offs, *lens, *addrs;
  uint16_t* ports;
  if (!GetBuffer(info[1], &arena, &arenaLen) || !GetTyped(info[2], &offs, &offCap) ||
      !GetTyped(info[3], &lens, &lenCap) || !GetTyped(info[4], &addrs, &addrCap) ||
      !GetTyped(info[5], &ports, &portCap))
    return ThrowType(env, "sendDatagrams(fd, arena, off, len, addr, port, n)");
  uint32_t n = info[6].As<Napi::Number>().Uint32Value();
  if (n > offCap || n > lenCap || n > addrCap || n > portCap) return ThrowType(env, "sendDatagrams: n exceeds the arrays");
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
  exports.Set("setMulticast", Napi::Function::New(env, SetMulticast));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("ethtoolInfo", Napi::Function::New(env, EthtoolInfo));
  exports.Set("readFrames", Napi::Function::New(env, ReadFrames));
  exports.Set("writeFrames", Napi::Function::New(env, WriteFrames));
  exports.Set("recvDatagrams", Napi::Function::New(env, RecvDatagrams));
  exports.Set("sendDatagrams", Napi::Function::New(env, SendDatagrams));
  exports.Set("Watcher", Watcher::Init(env));
  exports.Set("maxBatch", Napi::Number::New(env, kMaxBatch));
  return exports;
}

}  // namespace

NODE_API_MODULE(vtep_native, Init)
