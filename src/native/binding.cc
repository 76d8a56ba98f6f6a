// vtep_native: the system calls of the data path, and nothing else.
//
// This file only turns JavaScript arguments into the plain C++ the other
// files take, and results back: tso (segmenting what an offloading TAP
// hands over), coalesce (merging segments for it), frame (looking into a
// frame), checksum, batch_io (batches of reads, writes, recvmmsg, sendmmsg),
// packet_io (tunnel packets on a packet socket), nexthop (route and
// neighbour lookups over netlink),
// sockets (opening TAPs and sockets), poll (busy polling), channel (passing
// descriptors to a successor), service (privileges, sd_notify, peer
// credentials), inject (the fuzzer's senders). The addon makes
// no forwarding decision: every frame is parsed, learned and forwarded in
// TypeScript. What it does is the per-byte work JavaScript would do slowly.
//
// Memory is shared with src/datapath/batch.ts: one arena Buffer cut into fixed-size
// slots; reads fill slot i at i * slotSize + headroom, so that a tunnel
// header can be written in front of the frame without a copy; writes and
// sends take (offset, length) pairs into the arena. Underlay addresses are
// 16 bytes each (IPv4 as ::ffff:a.b.c.d).
//
// Data-path calls never throw for what the network does: they return a
// count, or -errno when nothing at all could be done. Set-up calls throw an
// Error whose `code` is the errno name (EPERM, EBUSY, ...), so the daemon can
// explain what went wrong; a call with arguments of the wrong shape throws a
// TypeError (a bug in src/io, never the network's doing).
//
// Longer than 400 lines on purpose: one short marshalling function per
// export and nothing else; the logic they reach is in the files above.

#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <linux/if.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "batch_io.h"
#include "channel.h"
#include "inject.h"
#include "net.h"
#include "nexthop.h"
#include "packet_io.h"
#include "poll.h"
#include "service.h"
#include "sockets.h"
#include "tso.h"

namespace {

using vtep::kAddrLen;

Napi::Value ThrowErrno(Napi::Env env, const char* what, int err) {
  Napi::Error e = Napi::Error::New(env, std::string(what) + ": " + strerror(err));
  const char* name = strerrorname_np(err);
  e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  e.Set("errno", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowFailure(Napi::Env env, const vtep::Failure& f) { return ThrowErrno(env, f.call, f.err); }

Napi::Value ThrowType(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

template <typename T>
bool GetTyped(const Napi::Value& v, T** data, size_t* length) {
  if (!v.IsTypedArray()) return false;
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.ElementSize() != sizeof(T)) return false;
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

// A 16-byte underlay address.
bool GetAddress(const Napi::Value& v, const uint8_t** addr) {
  uint8_t* data;
  size_t len;
  if (!GetTyped(v, &data, &len) || len < kAddrLen) return false;
  *addr = data;
  return true;
}

uint32_t U32(const Napi::Value& v) { return v.As<Napi::Number>().Uint32Value(); }
int32_t I32(const Napi::Value& v) { return v.As<Napi::Number>().Int32Value(); }
bool Bool(const Napi::Value& v) { return v.IsBoolean() && v.As<Napi::Boolean>().Value(); }

// Slots of an arena: (arena, slotSize, headroom, len array); false if they do not fit.
bool GetSlots(const Napi::CallbackInfo& info, size_t at, vtep::Slots* s) {
  size_t lenCap;
  if (!GetBuffer(info[at], &s->arena, &s->arenaLen) || !GetTyped(info[at + 3], &s->len, &lenCap)) return false;
  s->slotSize = U32(info[at + 1]);
  s->headroom = U32(info[at + 2]);
  if (s->slotSize == 0 || s->headroom >= s->slotSize) return false;
  size_t fit = s->arenaLen / s->slotSize;
  s->capacity = static_cast<uint32_t>(fit < lenCap ? fit : lenCap);
  return true;
}

// A frame list: (arena, off, len, n); false if n exceeds the arrays.
bool GetFrames(const Napi::CallbackInfo& info, size_t arena, size_t off, size_t len, size_t n, vtep::FrameList* f) {
  size_t offCap, lenCap;
  uint32_t* offs;
  if (!GetBuffer(info[arena], &f->arena, &f->arenaLen) || !GetTyped(info[off], &offs, &offCap) || !GetTyped(info[len], &f->len, &lenCap))
    return false;
  f->off = offs;
  f->count = U32(info[n]);
  return f->count <= offCap && f->count <= lenCap;
}

// Destinations: (dst, table, port, tos) for `count` entries, and (outer, df) at `outerAt`;
// df: 0 none, 1 DF, 2 inherited per packet (kOuterDf).
bool GetDestinations(const Napi::CallbackInfo& info, size_t at, size_t outerAt, uint32_t count, vtep::Destinations* d) {
  size_t outerCap;
  uint32_t* outer;
  if (!GetTyped(info[outerAt], &outer, &outerCap) || count > outerCap || !info[outerAt + 1].IsNumber()) return false;
  d->outer = outer;
  const uint32_t df = U32(info[outerAt + 1]);
  if (df > 2) return false;
  d->dfInherit = df == 2;
  d->dfDefault = df == 1;
  uint32_t* dst;
  uint8_t *table, *tos;
  size_t dstCap, tableLen, tosCap;
  if (!GetTyped(info[at], &dst, &dstCap) || !GetTyped(info[at + 1], &table, &tableLen) || !GetTyped(info[at + 3], &tos, &tosCap))
    return false;
  d->dst = dst;
  d->table = table;
  d->tableCount = static_cast<uint32_t>(tableLen / kAddrLen);
  d->port = static_cast<uint16_t>(U32(info[at + 2]));
  d->tos = tos;
  return count <= dstCap && count <= tosCap;
}

vtep::Scratch* ScratchOf(Napi::Env env) { return env.GetInstanceData<vtep::Scratch>(); }

// The optional `unsent` argument of a send (one byte per entry): filled with 1 here, cleared by the send for
// every entry the kernel takes. False when it is there but too short.
bool GetUnsent(const Napi::CallbackInfo& info, size_t at, uint32_t count, vtep::Destinations* d) {
  if (info.Length() <= at || info[at].IsUndefined()) return true;
  size_t cap;
  if (!GetTyped(info[at], &d->unsent, &cap) || count > cap) return false;
  memset(d->unsent, 1, count);
  return true;
}

// ---------------------------------------------------------------- set-up

// tapOpen(name, offload) -> { fd, name, offload }: `offload` is what the kernel granted.
Napi::Value TapOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) return ThrowType(env, "tapOpen(name, offload)");
  std::string name = info[0].As<Napi::String>();
  if (name.empty() || name.size() >= IFNAMSIZ) return ThrowType(env, "tapOpen: interface name of 1 to 15 characters");
  vtep::Failure fail;
  vtep::TapResult t = vtep::OpenTap(name, Bool(info[1]), &fail);
  if (t.fd < 0) return ThrowFailure(env, fail);
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", t.fd);
  out.Set("name", t.name);
  out.Set("offload", t.offload);
  return out;
}

Napi::Value FdOrThrow(Napi::Env env, int fd, const vtep::Failure& fail) {
  if (fd < 0) return ThrowFailure(env, fail);
  return Napi::Number::New(env, fd);
}

// udpOpen(local, port, rcvbuf) -> fd
Napi::Value UdpOpen(const Napi::CallbackInfo& info) {
  const uint8_t* local;
  if (!GetAddress(info[0], &local)) return ThrowType(info.Env(), "udpOpen(local, port, rcvbuf)");
  vtep::Failure fail;
  return FdOrThrow(info.Env(), vtep::OpenUdpReceiver(local, static_cast<uint16_t>(U32(info[1])), I32(info[2]), &fail), fail);
}

// groupOpen(group, port, ifindex, rcvbuf) -> fd
Napi::Value GroupOpen(const Napi::CallbackInfo& info) {
  const uint8_t* group;
  if (!GetAddress(info[0], &group)) return ThrowType(info.Env(), "groupOpen(group, port, ifindex, rcvbuf)");
  vtep::Failure fail;
  return FdOrThrow(info.Env(), vtep::OpenGroupReceiver(group, static_cast<uint16_t>(U32(info[1])), I32(info[2]), I32(info[3]), &fail), fail);
}

// rawOpen(protocol, local, ttl, df, receive, sndbuf) -> fd
Napi::Value RawOpen(const Napi::CallbackInfo& info) {
  const uint8_t* local;
  if (!GetAddress(info[1], &local)) return ThrowType(info.Env(), "rawOpen(protocol, local, ttl, df, receive, sndbuf)");
  vtep::Failure fail;
  return FdOrThrow(info.Env(), vtep::OpenRaw(I32(info[0]), local, I32(info[2]), Bool(info[3]), Bool(info[4]), I32(info[5]), &fail), fail);
}

// icmpErrorsOpen(local, rcvbuf) -> fd
Napi::Value IcmpErrorsOpen(const Napi::CallbackInfo& info) {
  const uint8_t* local;
  if (!GetAddress(info[0], &local)) return ThrowType(info.Env(), "icmpErrorsOpen(local, rcvbuf)");
  vtep::Failure fail;
  return FdOrThrow(info.Env(), vtep::OpenIcmpErrors(local, I32(info[1]), &fail), fail);
}

// udpSenderOpen(local, port, ttl, df, sndbuf) -> fd
Napi::Value UdpSenderOpen(const Napi::CallbackInfo& info) {
  const uint8_t* local;
  if (!GetAddress(info[0], &local)) return ThrowType(info.Env(), "udpSenderOpen(local, port, ttl, df, sndbuf)");
  vtep::Failure fail;
  return FdOrThrow(info.Env(), vtep::OpenUdpSender(local, static_cast<uint16_t>(U32(info[1])), I32(info[2]), Bool(info[3]), I32(info[4]), &fail),
                   fail);
}

// setMulticast(fd, ifindex, ttl, loop)
Napi::Value SetMulticast(const Napi::CallbackInfo& info) {
  vtep::Failure fail;
  if (!vtep::SetMulticast(I32(info[0]), I32(info[1]), I32(info[2]), Bool(info[3]), &fail)) return ThrowFailure(info.Env(), fail);
  return info.Env().Undefined();
}

// setSenderOptions(fd, ttl, df)
Napi::Value SetSenderOptions(const Napi::CallbackInfo& info) {
  vtep::SetSenderOptions(I32(info[0]), I32(info[1]), Bool(info[2]));
  return info.Env().Undefined();
}

// udpGroEnable(fd) -> granted
Napi::Value UdpGroEnable(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), vtep::EnableUdpGro(I32(info[0]))); }

// acceptZeroChecksum6(fd, on)
Napi::Value AcceptZeroChecksum6(const Napi::CallbackInfo& info) {
  vtep::AcceptZeroChecksum6(I32(info[0]), Bool(info[1]));
  return info.Env().Undefined();
}

Napi::Value Close(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), close(I32(info[0])) < 0 ? -errno : 0); }

// ethtoolInfo(ifname) -> { driver, txChecksum }, null where unknown.
Napi::Value EthtoolInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) return ThrowType(env, "ethtoolInfo(ifname)");
  vtep::EthtoolInfo e = vtep::QueryEthtool(info[0].As<Napi::String>());
  Napi::Object out = Napi::Object::New(env);
  out.Set("driver", e.driver.empty() ? env.Null() : Napi::String::New(env, e.driver));
  out.Set("txChecksum", e.txChecksum < 0 ? env.Null() : Napi::Boolean::New(env, e.txChecksum == 1));
  return out;
}

// ---------------------------------------------------------------- channel

// lockOpen(name) -> fd: holds abstract socket `name`; throws EADDRINUSE if another process does.
Napi::Value LockOpen(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) return ThrowType(info.Env(), "lockOpen(name)");
  std::string name = info[0].As<Napi::String>();
  vtep::Failure fail;
  return FdOrThrow(info.Env(), vtep::OpenLock(name.data(), name.size(), &fail), fail);
}

// unixListen(path) -> fd: a listening Unix stream socket whose close never unlinks `path`.
Napi::Value UnixListen(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) return ThrowType(info.Env(), "unixListen(path)");
  std::string path = info[0].As<Napi::String>();
  vtep::Failure fail;
  return FdOrThrow(info.Env(), vtep::OpenUnixListener(path.c_str(), &fail), fail);
}

// channelOpen() -> [fd, fd]: a connected SOCK_SEQPACKET pair.
Napi::Value ChannelOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  vtep::Failure fail;
  if (!vtep::OpenChannel(fds, &fail)) return ThrowFailure(env, fail);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, fds[0]);
  out.Set(1u, fds[1]);
  return out;
}

// sendMessage(fd, data, fds, timeoutMs) -> 0 | -errno
Napi::Value SendMessage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* data;
  size_t len;
  int32_t* fds = nullptr;
  size_t nfds = 0;
  if (!GetBuffer(info[1], &data, &len) || (!info[2].IsUndefined() && !GetTyped(info[2], &fds, &nfds)))
    return ThrowType(env, "sendMessage(fd, data, fds, timeoutMs)");
  return Napi::Number::New(env, vtep::SendMessage(I32(info[0]), data, len, fds, nfds, I32(info[3])));
}

// recvMessage(fd, cap, timeoutMs) -> { data, fds } | -errno; data is empty at the end of the stream.
Napi::Value RecvMessage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t cap = U32(info[1]);
  std::vector<uint8_t> data(cap > 0 ? cap : 1);
  std::vector<int> fds;
  int n = vtep::RecvMessage(I32(info[0]), data.data(), data.size(), &fds, I32(info[2]));
  if (n < 0) {
    for (int fd : fds) close(fd);
    return Napi::Number::New(env, n);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("data", Napi::Buffer<uint8_t>::Copy(env, data.data(), static_cast<size_t>(n)));
  Napi::Array list = Napi::Array::New(env, fds.size());
  for (size_t i = 0; i < fds.size(); i++) list.Set(static_cast<uint32_t>(i), fds[i]);
  out.Set("fds", list);
  return out;
}

// packetSocketOpen(sndbuf) -> fd: sends whole frames out of any interface, past the qdisc.
Napi::Value PacketSocketOpen(const Napi::CallbackInfo& info) {
  vtep::Failure fail;
  return FdOrThrow(info.Env(), vtep::OpenPacketSocket(I32(info[0]), &fail), fail);
}

// routeWatchOpen() -> fd: readable whenever links, addresses, routes or neighbours change.
Napi::Value RouteWatchOpen(const Napi::CallbackInfo& info) {
  vtep::Failure fail;
  return FdOrThrow(info.Env(), vtep::OpenRouteWatch(&fail), fail);
}

// routeWatchDrain(fd) -> messages read
Napi::Value RouteWatchDrain(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), vtep::DrainRouteWatch(I32(info[0]))); }

// nextHop(dst, local) -> { ifindex, mtu, srcMac, dstMac, neighState, via } or { problem }
Napi::Value NextHop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint8_t *dst, *local;
  if (!GetAddress(info[0], &dst) || !GetAddress(info[1], &local)) return ThrowType(env, "nextHop(dst, local)");
  vtep::NextHop hop;
  vtep::HopProblem p = vtep::ResolveNextHop(dst, local, &hop);
  Napi::Object out = Napi::Object::New(env);
  static const char* const kProblems[] = {"", "no route", "not a unicast route", "not an Ethernet interface", "no neighbour entry"};
  if (p != vtep::HopProblem::kNone) out.Set("problem", kProblems[static_cast<int>(p)]);
  out.Set("ifindex", hop.ifindex);
  out.Set("mtu", hop.mtu);
  out.Set("srcMac", Napi::Buffer<uint8_t>::Copy(env, hop.srcMac, 6));
  out.Set("dstMac", Napi::Buffer<uint8_t>::Copy(env, hop.dstMac, 6));
  out.Set("neighState", hop.neighState);
  out.Set("via", Napi::Buffer<uint8_t>::Copy(env, hop.via, kAddrLen));
  return out;
}

// ---------------------------------------------------------------- playing someone else (fuzzer, labs)

// packetOpen(ifname) -> fd: writes whole frames out of `ifname`.
Napi::Value PacketOpen(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) return ThrowType(info.Env(), "packetOpen(ifname)");
  vtep::Failure fail;
  return FdOrThrow(info.Env(), vtep::OpenPacketSender(info[0].As<Napi::String>(), 4 << 20, &fail), fail);
}

// rawHdrinclOpen(protocol, sndbuf) -> fd: a raw IPv4 socket whose IP header the caller writes.
Napi::Value RawHdrinclOpen(const Napi::CallbackInfo& info) {
  vtep::Failure fail;
  return FdOrThrow(info.Env(), vtep::OpenHeaderSender(I32(info[0]), I32(info[1]), &fail), fail);
}

// ---------------------------------------------------------------- running as a service

// dropPrivileges(uid, gid, groups[]): becomes that user, keeping CAP_NET_ADMIN and CAP_NET_RAW only.
Napi::Value DropPrivileges(const Napi::CallbackInfo& info) {
  if (!info[2].IsArray()) return ThrowType(info.Env(), "dropPrivileges(uid, gid, groups)");
  Napi::Array list = info[2].As<Napi::Array>();
  std::vector<gid_t> groups;
  for (uint32_t i = 0; i < list.Length(); i++) groups.push_back(static_cast<gid_t>(list.Get(i).As<Napi::Number>().Uint32Value()));
  vtep::Failure fail;
  if (!vtep::DropPrivileges(info[0].As<Napi::Number>().Uint32Value(), info[1].As<Napi::Number>().Uint32Value(), groups, &fail)) return ThrowFailure(info.Env(), fail);
  return info.Env().Undefined();
}

// sdNotify(path, state): one datagram to systemd's notify socket.
Napi::Value SdNotify(const Napi::CallbackInfo& info) {
  if (!info[0].IsString() || !info[1].IsString()) return ThrowType(info.Env(), "sdNotify(path, state)");
  vtep::Failure fail;
  if (!vtep::Notify(info[0].As<Napi::String>(), info[1].As<Napi::String>(), &fail)) return ThrowFailure(info.Env(), fail);
  return info.Env().Undefined();
}

// peerCredentials(fd) -> { pid, uid, gid } of a connected Unix socket's peer.
Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  pid_t pid;
  uid_t uid;
  gid_t gid;
  vtep::Failure fail;
  if (!vtep::PeerCredentials(I32(info[0]), &pid, &uid, &gid, &fail)) return ThrowFailure(info.Env(), fail);
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("pid", pid);
  out.Set("uid", uid);
  out.Set("gid", gid);
  return out;
}

// ---------------------------------------------------------------- data path

// readFrames(fd, arena, slotSize, headroom, len, max, segmentBudget?) -> n | -errno
Napi::Value ReadFrames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  vtep::Slots slots;
  if (!GetSlots(info, 1, &slots)) return ThrowType(env, "readFrames(fd, arena, slotSize, headroom, len, max, segmentBudget?)");
  uint32_t budget = info[6].IsNumber() ? U32(info[6]) : 0;
  return Napi::Number::New(env, vtep::ReadFrames(I32(info[0]), slots, U32(info[5]), budget));
}

// writeFrames(fd, arena, off, len, n, vnetHdrLen, coalesce, partial?) -> frames written.
// `partial` (Uint32Array of 2) accumulates [refused, one more than the last refused index].
Napi::Value WriteFrames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  vtep::FrameList frames;
  if (!GetFrames(info, 1, 2, 3, 4, &frames)) return ThrowType(env, "writeFrames(fd, arena, off, len, n, vnetHdrLen, coalesce, partial)");
  uint32_t* partialOut = nullptr;
  size_t partialCap = 0;
  if (!info[7].IsUndefined() && (!GetTyped(info[7], &partialOut, &partialCap) || partialCap < 2))
    return ThrowType(env, "writeFrames: partial must be a Uint32Array of 2");
  vtep::PartialChecksums partial;
  uint32_t done = vtep::WriteFrames(I32(info[0]), frames, U32(info[5]), Bool(info[6]), partialOut ? &partial : nullptr, ScratchOf(env));
  if (partialOut != nullptr && partial.refused > 0) {
    partialOut[0] += partial.refused;
    partialOut[1] = partial.lastPlusOne;
  }
  return Napi::Number::New(env, done);
}

// tapFrames(in, inSlot, inHeadroom, inLen, n, out, outSlot, outHeadroom, outLen, outMax, stats) -> m
// `stats` (Uint32Array of 2) accumulates [malformed, overflow].
Napi::Value TapFrames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  vtep::Slots in, out;
  uint32_t* stats;
  size_t statsCap;
  if (!GetSlots(info, 0, &in) || !GetSlots(info, 5, &out) || !GetTyped(info[10], &stats, &statsCap) || statsCap < 2)
    return ThrowType(env, "tapFrames(in, inSlot, inHeadroom, inLen, n, out, outSlot, outHeadroom, outLen, outMax, stats)");
  uint32_t n = U32(info[4]);
  uint32_t outMax = U32(info[9]);
  if (n > in.capacity) return ThrowType(env, "tapFrames: n exceeds the input batch");
  if (outMax < out.capacity) out.capacity = outMax;
  vtep::SegmentStats s;
  uint32_t m = vtep::SegmentFrames(in, n, out, &s);
  stats[0] += s.malformed;
  stats[1] += s.overflow;
  return Napi::Number::New(env, m);
}

// recvDatagrams(fd, arena, slotSize, headroom, len, max, peer, port, ttl, tos, gro) -> n | -errno
Napi::Value RecvDatagrams(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  vtep::Slots slots;
  vtep::DatagramInfo d;
  size_t peerCap, portCap, ttlCap, tosCap;
  if (!GetSlots(info, 1, &slots) || !GetTyped(info[6], &d.peer, &peerCap) || !GetTyped(info[7], &d.port, &portCap) ||
      !GetTyped(info[8], &d.ttl, &ttlCap) || !GetTyped(info[9], &d.tos, &tosCap))
    return ThrowType(env, "recvDatagrams(fd, arena, slotSize, headroom, len, max, peer, port, ttl, tos, gro)");
  uint32_t max = U32(info[5]);
  if (max > portCap || max > ttlCap || max > tosCap || static_cast<size_t>(max) * kAddrLen > peerCap)
    return ThrowType(env, "recvDatagrams: arrays too short");
  return Napi::Number::New(env, vtep::RecvDatagrams(I32(info[0]), slots, max, d, Bool(info[10]), ScratchOf(env)));
}

// sendDatagrams(fd, arena, off, len, n, dst, table, port, tos, outer, df[, unsent]) -> datagrams sent
Napi::Value SendDatagrams(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  vtep::FrameList frames;
  vtep::Destinations to;
  if (!GetFrames(info, 1, 2, 3, 4, &frames) || !GetDestinations(info, 5, 9, frames.count, &to) ||
      !GetUnsent(info, 11, frames.count, &to))
    return ThrowType(env, "sendDatagrams(fd, arena, off, len, n, dst, table, port, tos, outer, df[, unsent])");
  return Napi::Number::New(env, vtep::SendDatagrams(I32(info[0]), frames, to, ScratchOf(env)));
}

// sendLanes(fds, arena, off, len, n, dst, table, port, tos, lane, outer, df[, unsent]) -> datagrams sent
Napi::Value SendLanes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t* fds;
  uint8_t* lanes;
  size_t fdCap, laneCap;
  vtep::FrameList frames;
  vtep::Destinations to;
  if (!GetTyped(info[0], &fds, &fdCap) || !GetFrames(info, 1, 2, 3, 4, &frames) || !GetDestinations(info, 5, 10, frames.count, &to) ||
      !GetTyped(info[9], &lanes, &laneCap) || frames.count > laneCap || !GetUnsent(info, 12, frames.count, &to))
    return ThrowType(env, "sendLanes(fds, arena, off, len, n, dst, table, port, tos, lane, outer, df[, unsent])");
  return Napi::Number::New(env, vtep::SendLanes(fds, static_cast<uint32_t>(fdCap), frames, lanes, to, ScratchOf(env)));
}

// sendTunnelPackets(packetFd, rawFd, protocol, arena, off, len, n, dst, table, port, tos, outer, df,
//                   hop, state, stats, local, ttl[, unsent]) -> packets sent
Napi::Value SendTunnelPackets(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  vtep::FrameList frames;
  vtep::Destinations to;
  vtep::HopTable hops;
  uint8_t* hop;
  size_t hopLen, stateLen, statsLen;
  if (!GetFrames(info, 3, 4, 5, 6, &frames) || !GetDestinations(info, 7, 11, frames.count, &to) || !GetTyped(info[13], &hop, &hopLen) ||
      !GetTyped(info[14], &hops.state, &stateLen) || !GetTyped(info[15], &hops.stats, &statsLen) || statsLen < vtep::kStatCount ||
      !GetAddress(info[16], &hops.local) || !GetUnsent(info, 18, frames.count, &to))
    return ThrowType(env, "sendTunnelPackets(packetFd, rawFd, protocol, arena, off, len, n, dst, table, port, tos, outer, df, hop, state, stats, local, ttl[, unsent])");
  hops.hop = hop;
  hops.count = static_cast<uint32_t>(std::min(hopLen / vtep::kHopLen, stateLen));
  hops.ttl = static_cast<uint8_t>(U32(info[17]));
  return Napi::Number::New(env, vtep::SendTunnelPackets(I32(info[0]), I32(info[1]), static_cast<uint8_t>(U32(info[2])), frames, to, hops, ScratchOf(env)));
}

// readPathMtu(fd, dst, mtu) -> reports: dst (16 bytes each) and mtu filled from the sender's error queue.
Napi::Value ReadPathMtu(const Napi::CallbackInfo& info) {
  vtep::PathMtuReports out;
  size_t dstCap, mtuCap;
  if (!GetTyped(info[1], &out.dst, &dstCap) || !GetTyped(info[2], &out.mtu, &mtuCap)) return ThrowType(info.Env(), "readPathMtu(fd, dst, mtu)");
  out.max = static_cast<uint32_t>(dstCap / kAddrLen < mtuCap ? dstCap / kAddrLen : mtuCap);
  return Napi::Number::New(info.Env(), vtep::ReadPathMtu(I32(info[0]), out));
}

// spinPoll(fds, usec) -> index of a readable descriptor, or -1
Napi::Value SpinPoll(const Napi::CallbackInfo& info) {
  int32_t* fds;
  size_t n;
  if (!GetTyped(info[0], &fds, &n)) return ThrowType(info.Env(), "spinPoll(fds, usec)");
  return Napi::Number::New(info.Env(), vtep::SpinPoll(fds, n, info[1].As<Napi::Number>().Int64Value()));
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
    fd_ = I32(info[0]);
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
    if (status < 0) {
      // POLLERR (an ICMP error on a socket): libuv has stopped the handle. Clear the error and watch
      // again, or the socket would never be read again; a TAP that is gone fails its read and is dropped then.
      vtep::ClearSocketError(self->fd_);
      uv_poll_start(handle, UV_READABLE, OnReadable);
    }
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

// The layouts and constants TypeScript shares with this code, from their one
// definition here (src/io/native.ts reads them as NATIVE_LAYOUT).
Napi::Object Layout(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  const auto num = [&](const char* name, double v) { o.Set(name, Napi::Number::New(env, v)); };
  num("vnetHdrLen", vtep::kVnetHdrLen);
  num("maxBatch", vtep::kMaxBatch);
  num("segmentReserve", vtep::kSegmentReserve);
  num("outerLabelMask", vtep::kOuterLabelMask);
  num("outerDf", vtep::kOuterDf);
  num("outerFragmentable", vtep::kOuterFragmentable);
  num("hopLen", vtep::kHopLen);
  num("hopIfindex", vtep::kHopIfindex);
  num("hopMtu", vtep::kHopMtu);
  num("hopAddress", vtep::kHopAddress);
  num("hopUnknown", vtep::kHopUnknown);
  num("hopReady", vtep::kHopReady);
  num("hopNudge", vtep::kHopNudge);
  num("hopWanted", vtep::kHopWanted);
  num("hopRaw", vtep::kHopRaw);
  num("statPacket", vtep::kStatPacket);
  num("statRaw", vtep::kStatRaw);
  num("statWanted", vtep::kStatWanted);
  num("statCount", vtep::kStatCount);
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new vtep::Scratch());
  exports.Set("tapOpen", Napi::Function::New(env, TapOpen));
  exports.Set("udpOpen", Napi::Function::New(env, UdpOpen));
  exports.Set("groupOpen", Napi::Function::New(env, GroupOpen));
  exports.Set("rawOpen", Napi::Function::New(env, RawOpen));
  exports.Set("icmpErrorsOpen", Napi::Function::New(env, IcmpErrorsOpen));
  exports.Set("udpSenderOpen", Napi::Function::New(env, UdpSenderOpen));
  exports.Set("setMulticast", Napi::Function::New(env, SetMulticast));
  exports.Set("setSenderOptions", Napi::Function::New(env, SetSenderOptions));
  exports.Set("udpGroEnable", Napi::Function::New(env, UdpGroEnable));
  exports.Set("acceptZeroChecksum6", Napi::Function::New(env, AcceptZeroChecksum6));
  exports.Set("readPathMtu", Napi::Function::New(env, ReadPathMtu));
  exports.Set("sendTunnelPackets", Napi::Function::New(env, SendTunnelPackets));
  exports.Set("packetSocketOpen", Napi::Function::New(env, PacketSocketOpen));
  exports.Set("routeWatchOpen", Napi::Function::New(env, RouteWatchOpen));
  exports.Set("routeWatchDrain", Napi::Function::New(env, RouteWatchDrain));
  exports.Set("nextHop", Napi::Function::New(env, NextHop));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("ethtoolInfo", Napi::Function::New(env, EthtoolInfo));
  exports.Set("lockOpen", Napi::Function::New(env, LockOpen));
  exports.Set("channelOpen", Napi::Function::New(env, ChannelOpen));
  exports.Set("unixListen", Napi::Function::New(env, UnixListen));
  exports.Set("packetOpen", Napi::Function::New(env, PacketOpen));
  exports.Set("rawHdrinclOpen", Napi::Function::New(env, RawHdrinclOpen));
  exports.Set("dropPrivileges", Napi::Function::New(env, DropPrivileges));
  exports.Set("sdNotify", Napi::Function::New(env, SdNotify));
  exports.Set("peerCredentials", Napi::Function::New(env, PeerCredentials));
  exports.Set("sendMessage", Napi::Function::New(env, SendMessage));
  exports.Set("recvMessage", Napi::Function::New(env, RecvMessage));
  exports.Set("readFrames", Napi::Function::New(env, ReadFrames));
  exports.Set("writeFrames", Napi::Function::New(env, WriteFrames));
  exports.Set("tapFrames", Napi::Function::New(env, TapFrames));
  exports.Set("recvDatagrams", Napi::Function::New(env, RecvDatagrams));
  exports.Set("sendDatagrams", Napi::Function::New(env, SendDatagrams));
  exports.Set("sendLanes", Napi::Function::New(env, SendLanes));
  exports.Set("spinPoll", Napi::Function::New(env, SpinPoll));
  exports.Set("vnetHdrLen", Napi::Number::New(env, vtep::kVnetHdrLen));
  exports.Set("maxBatch", Napi::Number::New(env, vtep::kMaxBatch));
  exports.Set("layout", Layout(env));
  exports.Set("Watcher", Watcher::Init(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(vtep_native, Init)
