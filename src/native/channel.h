// Descriptors that outlive one process: a name only one daemon may hold, and
// the channel over which a running daemon hands its descriptors (SCM_RIGHTS)
// and state to the one that replaces it. Same Failure convention as sockets.h.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <vector>

#include "sockets.h"

namespace vtep {

// Binds an abstract Unix socket named `name` (no file; gone with the process,
// never stale). A second bind of the same name in the network namespace fails
// with EADDRINUSE: the name is a lock.
int OpenLock(const char* name, size_t len, Failure* fail);

// A Unix stream socket listening at `path` (non-blocking). Created here rather
// than by Node so that closing it never unlinks the path: a successor that took
// the descriptor over keeps listening there.
int OpenUnixListener(const char* path, Failure* fail);

// A connected pair of SOCK_SEQPACKET sockets: messages keep their bounds.
bool OpenChannel(int fds[2], Failure* fail);

// Most descriptors one message carries (the kernel's SCM_MAX_FD is 253).
constexpr size_t kMaxFdsPerMessage = 250;

// Sends one message of `len` bytes (at least 1) with up to kMaxFdsPerMessage
// descriptors, waiting at most `timeout_ms` for room. Returns 0 or -errno.
int SendMessage(int sock, const uint8_t* data, size_t len, const int* fds, size_t nfds, int timeout_ms);

// Receives one message into data[0..cap), waiting at most `timeout_ms` (0:
// not at all). Returns its length (0 at end of stream), or -errno (-EAGAIN
// when nothing came, -EMSGSIZE if it did not fit). Descriptors it carried are
// appended to `fds`, close-on-exec.
int RecvMessage(int sock, uint8_t* data, size_t cap, std::vector<int>* fds, int timeout_ms);

}  // namespace vtep
