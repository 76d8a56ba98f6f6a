// A fuzz target for the addon's per-byte kernels: TSO segmentation (tso.h),
// coalescing and writing to a TAP (coalesce.h, batch_io.h WriteFrames), and
// the frame parsers (frame.h). Build it with AddressSanitizer and UBSan
// (scripts/fuzz-native.sh): every frame sits in memory of exactly its own
// size, with poisoned bytes between frames, so a read one byte too far is a
// report, not a quiet success.
//
// Two ways to drive it:
// - libFuzzer (clang -fsanitize=fuzzer): LLVMFuzzerTestOneInput is the entry.
// - the driver below (any compiler, -DVTEP_FUZZ_DRIVER): structure-aware
//   mutations of valid frames (TSO frames behind a virtio_net_hdr, runs of
//   mergeable TCP segments over IPv4 and IPv6, VLAN tags, partial
//   checksums), every field and length bent, plus random bytes, for a
//   bounded number of seconds.
//
// Input layout: byte 0 picks the kernel; the rest is split into frames by
// 16-bit big-endian length prefixes.

#include <fcntl.h>
#include <sanitizer/asan_interface.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "../batch_io.h"
#include "../checksum.h"
#include "../coalesce.h"
#include "../frame.h"
#include "../net.h"
#include "../tso.h"

using namespace vtep;

namespace {

constexpr size_t kGap = 16;  // poisoned bytes between frames
constexpr uint32_t kOutSlots = 64;
constexpr uint32_t kOutSlot = 2048;
constexpr uint32_t kOutHeadroom = 32;

std::vector<std::vector<uint8_t>> Split(const uint8_t* data, size_t size) {
  std::vector<std::vector<uint8_t>> frames;
  size_t at = 0;
  while (at + 2 <= size && frames.size() < 80) {
    size_t len = GetU16(data + at);
    at += 2;
    if (len > size - at) len = size - at;
    frames.emplace_back(data + at, data + at + len);
    at += len;
  }
  return frames;
}

// Frames laid out in one arena at `headroom` bytes each, poisoned gaps between them.
struct Arena {
  std::vector<uint32_t> off, len;
  uint8_t* mem = nullptr;
  size_t size = 0;

  Arena(const std::vector<std::vector<uint8_t>>& frames, size_t headroom) {
    for (auto& f : frames) size += headroom + f.size() + kGap;
    mem = static_cast<uint8_t*>(malloc(size + 1));
    size_t at = 0;
    for (auto& f : frames) {
      at += headroom;
      off.push_back(static_cast<uint32_t>(at));
      len.push_back(static_cast<uint32_t>(f.size()));
      if (!f.empty()) memcpy(mem + at, f.data(), f.size());
      at += f.size();
      ASAN_POISON_MEMORY_REGION(mem + at, kGap);
      at += kGap;
    }
  }
  ~Arena() {
    ASAN_UNPOISON_MEMORY_REGION(mem, size);
    free(mem);
  }
};

// How deep the inputs reach: the driver prints these, so that a run that only hits early exits shows.
uint64_t segmentsOut = 0, mergedRuns = 0;

void SegmentOne(const std::vector<uint8_t>& in) {
  // The input slot is exactly the frame: a read past it is out of bounds.
  std::unique_ptr<uint8_t[]> slot(new uint8_t[in.size() + 1]);
  if (!in.empty()) memcpy(slot.get(), in.data(), in.size());
  uint32_t inLen = static_cast<uint32_t>(in.size());
  Slots src = {slot.get(), in.size(), inLen + 1, 0, &inLen, 1};
  std::unique_ptr<uint8_t[]> out(new uint8_t[kOutSlots * kOutSlot]);
  uint32_t outLen[kOutSlots];
  Slots dst = {out.get(), kOutSlots * kOutSlot, kOutSlot, kOutHeadroom, outLen, kOutSlots};
  SegmentStats stats;
  uint32_t m = SegmentFrames(src, 1, dst, &stats);
  if (m > kOutSlots) abort();
  segmentsOut += m;
  for (uint32_t i = 0; i < m; i++) {
    if (outLen[i] > dst.room()) abort();
    PartialChecksum(dst.at(i), outLen[i]);  // what comes out is parsed again downstream
  }
}

int DevNull() {
  static int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  return fd;
}

void Coalesce(const std::vector<std::vector<uint8_t>>& frames, Scratch* scratch) {
  if (frames.empty()) return;
  Arena a(frames, kVnetHdrLen);
  FrameList list = {a.mem, a.size, a.off.data(), a.len.data(), static_cast<uint32_t>(frames.size())};
  Segment segs[kMaxMergedSegments];
  uint8_t header[kMaxMergedHeader];
  for (uint32_t i = 0; i < list.count;) {
    uint32_t n = PlanRun(list, i, segs);
    if (n == 0 || n > kMaxMergedSegments || i + n > list.count) abort();
    if (n > 1 && MergedHeader(segs, n, header) > kMaxMergedHeader) abort();
    if (n > 1) mergedRuns++;
    i += n;
  }
  for (uint32_t i = 0; i < list.count; i++) {
    uint16_t type;
    L3Offset(list.at(i), list.len[i], &type);
    PartialChecksum(list.at(i), list.len[i]);
  }
  // The whole write path, coalescing and partial-checksum refusal, to /dev/null.
  PartialChecksums partial;
  WriteFrames(DevNull(), list, kVnetHdrLen, true, &partial, scratch);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Scratch* scratch = new Scratch();
  if (size < 1) return 0;
  auto frames = Split(data + 1, size - 1);
  if (data[0] & 1) {
    for (auto& f : frames) SegmentOne(f);
  } else {
    Coalesce(frames, scratch);
  }
  return 0;
}

#ifdef VTEP_FUZZ_DRIVER
namespace {

uint64_t rng = 0x9e3779b97f4a7c15ULL;
uint32_t Rand() {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return static_cast<uint32_t>(rng);
}
uint32_t Below(uint32_t n) { return n == 0 ? 0 : Rand() % n; }

// A TCP segment over IPv4 or IPv6 (maybe behind a VLAN tag), every checksum valid.
std::vector<uint8_t> TcpFrame(bool v6, bool vlan, uint32_t seq, size_t payload, size_t options) {
  size_t l3 = vlan ? 18 : 14, ipLen = v6 ? 40 : 20, tcpLen = 20 + options;
  std::vector<uint8_t> f(l3 + ipLen + tcpLen + payload);
  for (size_t i = 0; i < 12; i++) f[i] = static_cast<uint8_t>(2 + i);
  if (vlan) {
    PutU16(&f[12], kEtherTypeVlan);
    PutU16(&f[14], 100);
  }
  PutU16(&f[l3 - 2], v6 ? kEtherTypeIpv6 : kEtherTypeIpv4);
  uint8_t* ip = &f[l3];
  uint8_t* tcp = ip + ipLen;
  if (v6) {
    ip[0] = 0x60;
    PutU16(ip + kIpv6PayloadLen, static_cast<uint16_t>(tcpLen + payload));
    ip[kIpv6NextHeader] = kIpProtoTcp;
    ip[kIpv6HopLimit] = 64;
    for (size_t i = 0; i < 32; i++) ip[kIpv6Src + i] = static_cast<uint8_t>(0xfd + i);
  } else {
    ip[0] = kIpv4VersionIhlPlain;
    PutU16(ip + kIpv4TotalLen, static_cast<uint16_t>(ipLen + tcpLen + payload));
    ip[8] = 64;
    ip[kIpv4Protocol] = kIpProtoTcp;
    PutU32(ip + kIpv4Src, 0xc0a86401);
    PutU32(ip + kIpv4Src + 4, 0xc0a86402);
    FillIpv4Checksum(ip, ipLen);
  }
  PutU16(tcp, 40000);
  PutU16(tcp + 2, 5001);
  PutU32(tcp + kTcpSeq, seq);
  PutU32(tcp + kTcpAck, 777);
  tcp[kTcpDataOffset] = static_cast<uint8_t>((tcpLen / 4) << 4);
  tcp[kTcpFlags] = kTcpAckFlag;
  PutU16(tcp + kTcpWindow, 512);
  for (size_t i = 0; i < options; i++) tcp[20 + i] = 1;  // NOPs
  for (size_t i = 0; i < payload; i++) tcp[tcpLen + i] = static_cast<uint8_t>(i * 7);
  PutU16(tcp + kTcpChecksum, Fold(Sum(tcp, tcpLen + payload, PseudoSum(ip, v6, kIpProtoTcp, tcpLen + payload))));
  return f;
}

// A frame as an offloading TAP hands it over: virtio_net_hdr, then a TSO (or plain) frame.
std::vector<uint8_t> TsoFrame(bool v6, bool vlan) {
  size_t payload = Below(9000);
  std::vector<uint8_t> f = TcpFrame(v6, vlan, Rand(), payload, 4 * Below(4));
  std::vector<uint8_t> out(kVnetHdrLen + f.size());
  VnetHdr h = {};
  bool gso = Below(4) != 0;
  size_t l3 = vlan ? 18 : 14;
  h.flags = Below(2) ? kVnetNeedsCsum : 0;
  h.gso_type = gso ? (v6 ? kVnetGsoTcpv6 : kVnetGsoTcpv4) : kVnetGsoNone;
  h.gso_size = static_cast<uint16_t>(gso ? 1 + Below(2000) : 0);
  h.csum_start = static_cast<uint16_t>(l3 + (v6 ? 40 : 20));
  h.csum_offset = kTcpChecksum;
  WriteVnetHdr(out.data(), h);
  memcpy(out.data() + kVnetHdrLen, f.data(), f.size());
  return out;
}

// Bends the frame: flipped bits, interesting values in any byte (lengths,
// header lengths, flags, protocol fields), truncation and growth.
void Mutate(std::vector<uint8_t>& f) {
  static const uint8_t kInteresting[] = {0, 1, 0x7f, 0x80, 0xff, 0x45, 0x4f, 0x60, 0x06, 0x11, 0x08, 0x86, 0xdd, 0x81};
  uint32_t n = Below(6);
  for (uint32_t k = 0; k < n; k++) {
    switch (Below(5)) {
      case 0:
        if (!f.empty()) f[Below(f.size())] ^= static_cast<uint8_t>(1u << Below(8));
        break;
      case 1:
        if (!f.empty()) f[Below(f.size())] = kInteresting[Below(sizeof(kInteresting))];
        break;
      case 2:
        if (!f.empty()) f.resize(Below(f.size() + 1));
        break;
      case 3:
        f.resize(f.size() + Below(64), static_cast<uint8_t>(Rand()));
        break;
      default:
        if (f.size() >= 2) PutU16(&f[Below(f.size() - 1)], static_cast<uint16_t>(Rand()));
        break;
    }
  }
}

void Append(std::vector<uint8_t>& input, const std::vector<uint8_t>& f) {
  size_t len = f.size() > 0xffff ? 0xffff : f.size();
  input.push_back(static_cast<uint8_t>(len >> 8));
  input.push_back(static_cast<uint8_t>(len));
  input.insert(input.end(), f.begin(), f.begin() + len);
}

std::vector<uint8_t> Generate() {
  std::vector<uint8_t> input;
  bool segment = Below(2);
  input.push_back(segment ? 1 : 0);
  uint32_t kind = Below(10);
  if (kind == 0) {  // random bytes
    uint32_t frames = 1 + Below(8);
    for (uint32_t k = 0; k < frames; k++) {
      std::vector<uint8_t> f(Below(200));
      for (auto& b : f) b = static_cast<uint8_t>(Rand());
      Append(input, f);
    }
    return input;
  }
  bool v6 = Below(2), vlan = Below(5) == 0;
  if (segment) {
    std::vector<uint8_t> f = TsoFrame(v6, vlan);
    if (Below(4)) Mutate(f);
    Append(input, f);
    return input;
  }
  // A run of mergeable segments, some of them bent.
  uint32_t count = 1 + Below(70);
  size_t mss = 1 + Below(1400);
  uint32_t seq = Rand();
  for (uint32_t k = 0; k < count; k++) {
    size_t payload = k + 1 == count ? 1 + Below(mss) : mss;
    std::vector<uint8_t> f = TcpFrame(v6, false, seq, payload, 0);
    seq += static_cast<uint32_t>(payload);
    if (Below(8) == 0) Mutate(f);
    Append(input, f);
  }
  return input;
}

}  // namespace

// fuzz_kernels [seconds] [seed]: runs generated inputs until the time is up; prints how many.
int main(int argc, char** argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 10;
  if (argc > 2) rng = strtoull(argv[2], nullptr, 10) | 1;
  timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  uint64_t runs = 0;
  for (;;) {
    for (int k = 0; k < 64; k++, runs++) {
      std::vector<uint8_t> input = Generate();
      LLVMFuzzerTestOneInput(input.data(), input.size());
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 >= seconds) break;
  }
  printf("fuzz_kernels: %llu inputs, %llu segments cut, %llu runs merged, no sanitizer report\n", static_cast<unsigned long long>(runs),
         static_cast<unsigned long long>(segmentsOut), static_cast<unsigned long long>(mergedRuns));
  return 0;
}
#endif
