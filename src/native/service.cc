#include "service.h"

#include <errno.h>
#include <grp.h>
#include <stddef.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

namespace vtep {

namespace {

constexpr int kKept[] = {CAP_NET_ADMIN, CAP_NET_RAW};

bool SetCaps(uint32_t mask, Failure* fail) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  // Both capabilities are below 32: the first word holds them.
  data[0].permitted = data[0].effective = data[0].inheritable = mask;
  if (syscall(SYS_capset, &header, data) != 0) return Failed(fail, "capset");
  return true;
}

}  // namespace

bool DropPrivileges(uid_t uid, gid_t gid, const std::vector<gid_t>& groups, Failure* fail) {
  uint32_t mask = 0;
  for (int cap : kKept) mask |= 1u << cap;
  // Everything else leaves the bounding set first: no later execve can get it back.
  for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
    if (cap < 32 && (mask & (1u << cap))) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) return Failed(fail, "prctl(PR_CAPBSET_DROP)");
  }
  // Keep the permitted set across setuid, then become the user.
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return Failed(fail, "prctl(PR_SET_KEEPCAPS)");
  if (setgroups(groups.size(), groups.data()) != 0) return Failed(fail, "setgroups");
  if (setresgid(gid, gid, gid) != 0) return Failed(fail, "setresgid");
  if (setresuid(uid, uid, uid) != 0) return Failed(fail, "setresuid");
  // setuid cleared the effective set; the two come back, and go on to what vtepd runs (ambient needs inheritable).
  if (!SetCaps(mask, fail)) return false;
  for (int cap : kKept) {
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) return Failed(fail, "prctl(PR_CAP_AMBIENT_RAISE)");
  }
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return Failed(fail, "prctl(PR_SET_KEEPCAPS)");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Failed(fail, "prctl(PR_SET_NO_NEW_PRIVS)");
  return true;
}

bool Notify(const std::string& path, const std::string& state, Failure* fail) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    fail->call = "NOTIFY_SOCKET";
    fail->err = EINVAL;
    return false;
  }
  memcpy(addr.sun_path, path.data(), path.size());
  socklen_t len = offsetof(sockaddr_un, sun_path) + path.size();
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  else len++;                                    // and the NUL
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Failed(fail, "socket");
  ssize_t n = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), len);
  if (n < 0) return Failed(fail, "sendto(NOTIFY_SOCKET)", fd);
  close(fd);
  return true;
}

bool PeerCredentials(int fd, pid_t* pid, uid_t* uid, gid_t* gid, Failure* fail) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return Failed(fail, "getsockopt(SO_PEERCRED)");
  *pid = cred.pid;
  *uid = cred.uid;
  *gid = cred.gid;
  return true;
}

}  // namespace vtep
