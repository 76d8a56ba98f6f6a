// What running as a service asks of the system and Node cannot do: keep two
// capabilities across a change of user, tell systemd how the service is
// (sd_notify), and learn who is on the other end of a Unix socket. Same
// Failure convention as sockets.h.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "sockets.h"

namespace vtep {

// Becomes uid/gid with `groups` as supplementary groups, keeping only
// CAP_NET_ADMIN and CAP_NET_RAW (permitted, effective, inheritable and
// ambient, so that programs vtepd runs keep them too), every other
// capability dropped from the bounding set, and no_new_privs set.
bool DropPrivileges(uid_t uid, gid_t gid, const std::vector<gid_t>& groups, Failure* fail);

// Sends `state` ("READY=1\nSTATUS=...") to the sd_notify socket at `path`
// (a file path, or "@name" for an abstract one).
bool Notify(const std::string& path, const std::string& state, Failure* fail);

// The credentials of the process at the other end of a connected Unix socket.
bool PeerCredentials(int fd, pid_t* pid, uid_t* uid, gid_t* gid, Failure* fail);

}  // namespace vtep
