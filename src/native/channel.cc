#include "channel.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace vtep {

namespace {

// Waits until `sock` is ready for `events`; false after `timeout_ms` (errno EAGAIN).
bool Wait(int sock, short events, int timeout_ms) {
  pollfd p = {sock, events, 0};
  for (;;) {
    int n = poll(&p, 1, timeout_ms);
    if (n > 0) return true;
    if (n == 0) {
      errno = EAGAIN;
      return false;
    }
    if (errno != EINTR) return false;
  }
}

}  // namespace

int OpenLock(const char* name, size_t len, Failure* fail) {
  sockaddr_un a = {};
  a.sun_family = AF_UNIX;
  if (len + 1 > sizeof(a.sun_path)) {
    errno = ENAMETOOLONG;
    return Fail(fail, "bind");
  }
  memcpy(a.sun_path + 1, name, len);  // sun_path[0] == 0: the abstract namespace
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail(fail, "socket");
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + len)) < 0) return Fail(fail, "bind", fd);
  return fd;
}

int OpenUnixListener(const char* path, Failure* fail) {
  sockaddr_un a = {};
  a.sun_family = AF_UNIX;
  size_t len = strlen(path);
  if (len + 1 > sizeof(a.sun_path)) {
    errno = ENAMETOOLONG;
    return Fail(fail, "bind");
  }
  memcpy(a.sun_path, path, len + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail(fail, "socket");
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) return Fail(fail, "bind", fd);
  if (listen(fd, 128) < 0) return Fail(fail, "listen", fd);
  return fd;
}

bool OpenChannel(int fds[2], Failure* fail) {
  return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) == 0 || Failed(fail, "socketpair");
}

int SendMessage(int sock, const uint8_t* data, size_t len, const int* fds, size_t nfds, int timeout_ms) {
  if (len == 0 || nfds > kMaxFdsPerMessage) return -EINVAL;
  iovec iov = {const_cast<uint8_t*>(data), len};
  msghdr m = {};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  std::vector<uint8_t> control(nfds > 0 ? CMSG_SPACE(nfds * sizeof(int)) : 0);
  if (nfds > 0) {
    m.msg_control = control.data();
    m.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
  }
  for (;;) {
    if (sendmsg(sock, &m, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) return 0;
    if (errno == EINTR) continue;
    if (errno != EAGAIN || !Wait(sock, POLLOUT, timeout_ms)) return -errno;
  }
}

int RecvMessage(int sock, uint8_t* data, size_t cap, std::vector<int>* fds, int timeout_ms) {
  iovec iov = {data, cap};
  alignas(cmsghdr) uint8_t control[CMSG_SPACE(kMaxFdsPerMessage * sizeof(int))];
  msghdr m = {};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof(control);
  ssize_t n;
  for (;;) {
    n = recvmsg(sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    if (errno != EAGAIN || timeout_ms == 0 || !Wait(sock, POLLIN, timeout_ms)) return -errno;
  }
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const uint8_t* p = CMSG_DATA(c);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, p + i * sizeof(int), sizeof(int));
      fds->push_back(fd);
    }
  }
  if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return -EMSGSIZE;
  return static_cast<int>(n);
}

}  // namespace vtep
