#include "inject.h"

#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace vtep {

int OpenPacketSender(const std::string& ifname, int sndbuf, Failure* fail) {
  unsigned index = if_nametoindex(ifname.c_str());
  if (index == 0) return Fail(fail, "if_nametoindex");
  // Protocol 0: it sends, and receives nothing.
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail(fail, "socket(packet)");
  sockaddr_ll a = {};
  a.sll_family = AF_PACKET;
  a.sll_ifindex = static_cast<int>(index);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) return Fail(fail, "bind(packet)", fd);
  SetBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, sndbuf);
  return fd;
}

int OpenHeaderSender(int protocol, int sndbuf, Failure* fail) {
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return Fail(fail, "socket(raw)");
  int one = 1;
  if (setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one)) < 0) return Fail(fail, "IP_HDRINCL", fd);
  if (!RefuseAll(fd)) return Fail(fail, "SO_ATTACH_FILTER", fd);
  SetBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, sndbuf);
  return fd;
}

}  // namespace vtep
